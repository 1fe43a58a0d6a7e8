//! fleet-k8s's text parsers: label and field selectors, CPU and memory quantities.
//!
//! - Nothing panics on any input; rejections are typed errors with a message.
//! - A selector that parses prints as text that parses to the same selector.
//! - A quantity that reads as CPU millicores reads the same again from its own millicore form.
#![no_main]

use fleet_k8s::{FieldSelector, LabelSelector, cpu_millicores, memory_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match LabelSelector::parse(text) {
        Ok(selector) => {
            let printed = selector.to_string();
            let again = LabelSelector::parse(&printed).expect("a printed selector parses");
            assert_eq!(again.to_string(), printed, "{text:?}");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    match FieldSelector::parse(text) {
        Ok(selector) => {
            let printed = selector.to_string();
            let again = FieldSelector::parse(&printed).expect("a printed selector parses");
            assert_eq!(again.to_string(), printed, "{text:?}");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    if let Ok(m) = cpu_millicores(text) {
        assert_eq!(
            cpu_millicores(&format!("{m}m")).expect("millicores parse"),
            m
        );
    }
    if let Ok(b) = memory_bytes(text) {
        assert_eq!(memory_bytes(&b.to_string()).expect("bytes parse"), b);
    }
});
