//! fleet-db's text handling: connection-string redaction and query-literal masking.
//!
//! - Neither panics on any input.
//! - A password written in any of the forms PostgreSQL accepts (URL user info, URL query
//!   parameter, key/value with or without spaces and quotes) never appears in the redacted text.
#![no_main]

use fleet_db::{mask_literals, redact_connection_string};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = redact_connection_string(&text);
    let _ = mask_literals(&text);

    // A password made of the input's letters and digits, long enough not to occur by chance
    // in the fixed parts around it.
    let password: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect();
    if password.len() < 8 {
        return;
    }
    for conn in [
        format!("postgres://fleetadmin:{password}@db.example.internal:5432/fleetdb"),
        format!(
            "postgresql://fleetadmin@db.example.internal/fleetdb?sslmode=require&password={password}"
        ),
        format!("host=db.example.internal user=fleetadmin password={password} dbname=fleetdb"),
        format!("host=db.example.internal password = '{password}' dbname=fleetdb"),
    ] {
        let shown = redact_connection_string(&conn);
        assert!(!shown.contains(&password), "{conn} -> {shown}");
    }
});
