//! Bad input never panics: arbitrary bytes as a policy file or gate input give a typed error,
//! and malformed documents name the field path, line and column.

use fleet_policy::gate::parse_input;
use fleet_policy::{Error, Policy};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_as_gate_input(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = parse_input(&bytes) {
            prop_assert!(e.is_input());
        }
    }

    #[test]
    fn arbitrary_bytes_as_policy(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = Policy::from_toml_bytes(&bytes) {
            prop_assert!(e.is_config());
        }
    }

    #[test]
    fn json_shaped_noise_as_gate_input(s in r#"\{("(now|deploy|metrics|rollback|backups|incident|scaling|alerts|review)": ?(null|1|"x"|\[\]|\{\}|\{"[a-z_]{1,12}": ?(1|"2026-01-01T00:00:00Z"|true|\[\])\}),? ?){0,4}\}"#) {
        if let Err(e) = parse_input(s.as_bytes()) {
            prop_assert!(e.is_input());
        }
    }

    #[test]
    fn toml_shaped_noise_as_policy(s in r#"(\[(metrics|rollback|deploy|scaling|backup|gate|incident|review)\]\n([a-z_]{1,20} = ("[a-zA-Z0-9/:.-]{0,12}"|-?[0-9]{1,4}(\.[0-9])?|true|\{ min = [0-9], max = [0-9] \})\n){0,3}){0,3}"#) {
        if let Err(e) = Policy::from_toml_str(&s) {
            prop_assert!(e.is_config());
        }
    }
}

fn input_error(doc: &str) -> (String, String, usize, usize) {
    match parse_input(doc.as_bytes()) {
        Err(Error::Input {
            path,
            message,
            line,
            column,
        }) => (path, message, line, column),
        other => panic!("expected an input error for {doc}, got {other:?}"),
    }
}

#[test]
fn malformed_documents_name_the_field_and_position() {
    let (path, msg, line, _) = input_error(
        "{\n  \"deploy\": {\n    \"service\": \"fleet-api\", \"version\": \"v1\", \"kind\": \"standard\",\n    \"preflight\": \"maybe\"\n  }\n}",
    );
    assert_eq!(path, "deploy.preflight");
    assert!(msg.contains("unknown variant `maybe`"), "{msg}");
    assert_eq!(line, 4);

    let (path, msg, ..) = input_error(
        r#"{"backups": {"server": "s", "backups": [{"name": "a", "kind": "automatic", "status": "succeeded"}, {"name": "b", "kind": "weekly", "status": "succeeded"}]}}"#,
    );
    assert_eq!(path, "backups.backups[1].kind");
    assert!(msg.contains("weekly"), "{msg}");

    let (path, msg, ..) = input_error(r#"{"metrics": {"cpu": 50}}"#);
    assert_eq!(path, "metrics.cpu");
    assert!(msg.contains("unknown field `cpu`"), "{msg}");

    let (path, _, line, column) = input_error("{\"now\": \"yesterday\"}");
    assert_eq!((path.as_str(), line), ("now", 1));
    assert!(column > 1);

    let (path, msg, ..) = input_error("{}");
    assert_eq!(path, "(document)");
    assert!(msg.contains("nothing to evaluate"), "{msg}");

    let (_, msg, line, column) =
        input_error("{\"review\": {\"last_review\": \"2025-11-24\"}} trailing");
    assert!(msg.contains("trailing"), "{msg}");
    assert_eq!((line, column), (1, 43), "where the trailing text starts");
}

#[test]
fn non_finite_numbers_name_the_field_and_ask_for_a_finite_number() {
    let cases = [
        (
            r#"{"metrics": {"subject": "a", "cpu_percent": NaN}}"#,
            "metrics.cpu_percent",
            "`NaN`",
        ),
        (
            r#"{"metrics": {"subject": "a", "cpu_percent": 1e999}}"#,
            "metrics.cpu_percent",
            "`1e999`",
        ),
        (
            r#"{"rollback": {"subject": "s", "degradation": [{"metric": "p95", "unit": "ms", "direction": "higher_is_worse", "current": -1.5E+400}]}}"#,
            "rollback.degradation[0].current",
            "`-1.5E+400`",
        ),
        (
            "{\"scaling\": {\"deployment\": \"d\", \"current_replicas\": 3,\n \"cpu_percent\": [{\"at\": \"2026-01-01T00:00:00Z\", \"value\": -Infinity}]}}",
            "scaling.cpu_percent[0].value",
            "`-Infinity`",
        ),
        (
            r#"{"metrics": {"subject": "a", "error_rate_percent": "NaN"}}"#,
            "metrics.error_rate_percent",
            "string",
        ),
    ];
    for (doc, want_path, want_token) in cases {
        let (path, msg, line, column) = input_error(doc);
        assert_eq!(path, want_path, "{doc}");
        assert!(msg.contains("must be a finite number"), "{doc}: {msg}");
        assert!(msg.contains(want_token), "{doc}: {msg}");
        assert!(line >= 1 && column > 1, "{doc}");
    }
    // Whole documents render the field and the rule in one line.
    let e = parse_input(br#"{"metrics": {"subject": "a", "disk_percent": 1e999}}"#)
        .expect_err("out of range");
    assert_eq!(
        e.to_string(),
        "input at metrics.disk_percent (line 1, column 50): must be a finite number, got `1e999` (beyond the range of a 64-bit float)"
    );
}
