//! fleet-azure's parsers and validators: Log Analytics query answers and Azure resource names.
//!
//! - Nothing panics on any input; rejections are typed errors with a message.
//! - A backup name or secret version that passes validation can never step out of its URL
//!   path segment (no `/`, `\`, `?`, `#`, `%`, and not made only of dots).
#![no_main]

use fleet_azure::{
    QueryResult, parse_dependencies, validate_backup_name, validate_dns_zone_name,
    validate_firewall_rule_name, validate_record_set_name, validate_resource_group,
    validate_secret_name, validate_secret_version, validate_server_name,
};
use libfuzzer_sys::fuzz_target;

fn stays_in_its_segment(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().all(|c| c == '.')
        && !name.contains(['/', '\\', '?', '#', '%'])
}

fuzz_target!(|data: &[u8]| {
    if let Ok(result) = QueryResult::from_slice(data) {
        let _ = parse_dependencies(&result);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if validate_backup_name(text).is_ok() {
        assert!(stays_in_its_segment(text), "backup name {text:?}");
    }
    if validate_secret_version(text).is_ok() {
        assert!(stays_in_its_segment(text), "secret version {text:?}");
    }
    for check in [
        validate_server_name,
        validate_resource_group,
        validate_firewall_rule_name,
        validate_dns_zone_name,
        validate_record_set_name,
        validate_secret_name,
    ] {
        if let Err(e) = check(text) {
            assert!(!e.to_string().is_empty());
        }
    }
});
