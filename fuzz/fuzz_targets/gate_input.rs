//! The CI gate's input document: any bytes.
//!
//! - Parsing never panics, and a rejected document is an input error with a message.
//! - A document that parses survives a round trip through JSON unchanged.
//! - It evaluates, and renders in every format; the machine formats are well formed (JSON
//!   for json, sarif and gitlab; XML for junit), and the exit code is 0 or 1.
#![no_main]

use fleet_policy::render::{Format, RenderOptions, render};
use fleet_policy::{Policy, gate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = match gate::parse_input(data) {
        Ok(input) => input,
        Err(e) => {
            assert!(e.is_input(), "{e:?}");
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let again = serde_json::to_vec(&input).expect("a parsed input serializes");
    assert_eq!(
        gate::parse_input(&again).expect("a serialized input parses"),
        input,
        "round trip through {}",
        String::from_utf8_lossy(&again)
    );
    let now = input
        .now
        .unwrap_or_else(|| "2026-07-16T18:00:00Z".parse().expect("fixed instant"));
    let report = gate::evaluate(&Policy::default(), &input, now);
    assert!(report.exit_code <= 1);
    let opts = RenderOptions::for_artifact("ci/gate input.json", data);
    for format in Format::ALL {
        let out = render(&report, format, &opts);
        match format {
            Format::Json | Format::Sarif | Format::Gitlab => {
                serde_json::from_str::<serde_json::Value>(&out).expect("well-formed JSON");
            }
            Format::Junit => {
                roxmltree::Document::parse(&out).expect("well-formed XML");
            }
            _ => assert!(!out.is_empty()),
        }
    }
});
