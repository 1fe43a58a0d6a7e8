//! The policy file: any bytes.
//!
//! - Parsing never panics, and a rejected file is a config error with a message.
//! - A policy that parses prints as TOML that parses back to the same policy.
//! - Under that policy, the lint and every rule run without panicking on a gate input with
//!   every part.
#![no_main]

use fleet_policy::{Policy, gate};
use libfuzzer_sys::fuzz_target;

/// A gate input with every part, so that every rule runs under the fuzzed policy.
const EVERYTHING: &[u8] = include_bytes!("../seeds/gate_input/mixed.json");

fuzz_target!(|data: &[u8]| {
    let policy = match Policy::from_toml_bytes(data) {
        Ok(p) => p,
        Err(e) => {
            assert!(e.is_config(), "{e:?}");
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let text = policy.to_toml_string();
    assert_eq!(
        Policy::from_toml_str(&text).expect("a printed policy parses"),
        policy,
        "round trip through\n{text}"
    );
    let _ = fleet_policy::lint(&policy);
    let input = gate::parse_input(EVERYTHING).expect("the seed parses");
    let now = input.now.expect("the seed pins now");
    let report = gate::evaluate(&policy, &input, now);
    assert!(report.exit_code <= 1);
});
