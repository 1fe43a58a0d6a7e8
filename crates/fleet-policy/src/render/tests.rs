//! Unit tests of the renderers' building blocks; whole-document tests are in `tests/policy/renderers.rs`.

use super::*;
use crate::finding::{AppliedWaiver, Section};

fn finding(rule: &str, subject: &str, outcome: Outcome) -> Finding {
    Finding::new(rule, subject, outcome, Section::RollbackProcedures, "m")
}

#[test]
fn fingerprints_depend_on_rule_and_subject_only() {
    let a = finding("rollback.error-rate", "fleet-api v1", Outcome::Fail);
    let mut b = a.clone();
    b.message = "other".into();
    b.outcome = Outcome::Pass;
    assert_eq!(fingerprint(&a), fingerprint(&b));
    assert_ne!(
        fingerprint(&a),
        fingerprint(&finding(
            "rollback.error-rate",
            "fleet-api v2",
            Outcome::Fail
        ))
    );
    // "ab" + "c" and "a" + "bc" must differ: the separator matters.
    assert_ne!(
        fingerprint(&finding("ab", "c", Outcome::Fail)),
        fingerprint(&finding("a", "bc", Outcome::Fail))
    );
    assert_eq!(fingerprint(&a).len(), 16);
}

#[test]
fn formats_parse_by_name() {
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>(), Ok(f));
    }
    assert!("yaml".parse::<Format>().is_err());
}

#[test]
fn labels_show_waivers() {
    let mut f = finding("a.b", "s", Outcome::Fail);
    assert_eq!(label(&f), "FAIL");
    f.waiver = Some(AppliedWaiver {
        reason: "r".into(),
        owner: "o".into(),
        expires_at: jiff::Timestamp::UNIX_EPOCH,
    });
    assert_eq!(label(&f), "WAIVED");
    assert!(long_message(&f).contains("waived until 1970-01-01T00:00:00Z by o: r"));
}

#[test]
fn xml_escape_handles_markup_and_control_characters() {
    assert_eq!(
        junit::xml_escape("a<b & \"c\"\u{1}\n"),
        "a&lt;b &amp; &quot;c&quot;&#10;"
    );
}
