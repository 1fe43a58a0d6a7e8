//! Whole-document tests of every renderer over one report with every kind of outcome: golden
//! snapshots, and structural checks of what CI systems read (SARIF against the 2.1.0 schema,
//! JUnit as GitLab and Azure DevOps parse it, GitLab Code Quality fields, annotation caps).

use fleet_policy::gate::{self, Report};
use fleet_policy::render::{Format, RenderOptions, github_summary, render};
use fleet_policy::{Outcome, Policy};
use serde_json::Value;

const MIXED: &[u8] = include_bytes!("data/mixed.json");
const SARIF_SCHEMA: &str = include_str!("data/sarif-2.1.0-rtm.5.json");

fn policy() -> Policy {
    Policy::from_toml_str(
        r#"
        [[waiver]]
        rule = "deploy.window"
        subject = "fleet-api v1.2.3"
        reason = "approved out-of-window release; CAB-1234"
        owner = "release-managers"
        expires_at = "2026-07-30T00:00:00Z"
        "#,
    )
    .expect("test policy parses")
}

fn report() -> Report {
    let input = gate::parse_input(MIXED).expect("mixed.json parses");
    gate::evaluate(&policy(), &input, input.now.expect("mixed.json pins now"))
}

fn opts() -> RenderOptions {
    RenderOptions {
        artifact: "ci/gate-input.json".into(),
        tool_version: "0.0.0-test".into(),
        ..RenderOptions::default()
    }
}

#[test]
fn the_mixed_report_has_every_kind_of_finding() {
    let r = report();
    let s = r.summary;
    assert!(
        s.pass > 0 && s.warn > 0 && s.inconclusive > 0 && s.fail > 0 && s.waived == 1,
        "{s:?}"
    );
    assert!(r.blocked);
    assert_eq!(r.exit_code, 1);
    let waived = r
        .findings
        .iter()
        .find(|f| f.waiver.is_some())
        .expect("a waived finding");
    assert_eq!(
        (waived.rule.as_str(), waived.outcome),
        ("deploy.window", Outcome::Fail)
    );
}

#[test]
fn snapshots_of_every_format() {
    let r = report();
    for f in Format::ALL {
        insta::assert_snapshot!(f.name(), render(&r, f, &opts()));
    }
    insta::assert_snapshot!("github-summary", github_summary(&r));
}

#[test]
fn sarif_validates_against_the_2_1_0_schema_and_keeps_waivers() {
    // The rtm.5 schema's `language` patterns have an unbalanced `]` that strict regex format
    // checks reject when the schema itself is validated; swap in the well-formed equivalent
    // (our output never sets `language`).
    let fixed = SARIF_SCHEMA.replace(
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
        r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#,
    );
    let schema: Value = serde_json::from_str(&fixed).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let doc: Value =
        serde_json::from_str(&render(&report(), Format::Sarif, &opts())).expect("SARIF is JSON");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");

    // What GitHub code scanning additionally needs of every result.
    let results = doc["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for res in results {
        assert!(res["ruleId"].is_string());
        assert!(
            res["message"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert_eq!(
            res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "ci/gate-input.json"
        );
        let idx = res["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(
            doc["runs"][0]["tool"]["driver"]["rules"][idx]["id"],
            res["ruleId"]
        );
    }
    let suppressed: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["ruleId"], "deploy.window");
    assert_eq!(suppressed[0]["suppressions"][0]["status"], "accepted");
    assert_eq!(doc["runs"][0]["invocations"][0]["exitCode"], 1);

    // A document that breaks the schema is caught, so the check above can fail.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn junit_has_the_structure_gitlab_and_azure_devops_read() {
    let r = report();
    let xml = render(&r, Format::Junit, &opts());
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr = |n: roxmltree::Node<'_, '_>, a: &str| -> usize {
        n.attribute(a)
            .unwrap_or_else(|| panic!("missing {a}"))
            .parse()
            .expect("a count")
    };
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert!(suites.iter().all(|s| s.tag_name().name() == "testsuite"));
    let mut pairs = std::collections::HashSet::new();
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    for s in &suites {
        let cases: Vec<_> = s
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(attr(*s, "tests"), cases.len());
        let count = |tag: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|k| k.has_tag_name(tag)))
                .count()
        };
        assert_eq!(attr(*s, "failures"), count("failure"));
        assert_eq!(attr(*s, "errors"), count("error"));
        assert_eq!(attr(*s, "skipped"), count("skipped"));
        for c in &cases {
            let classname = c.attribute("classname").expect("classname");
            let name = c.attribute("name").expect("name");
            assert!(
                pairs.insert((classname.to_owned(), name.to_owned())),
                "duplicate {classname} / {name}"
            );
            if let Some(f) = c.children().find(|k| k.has_tag_name("failure")) {
                assert!(f.attribute("message").is_some_and(|m| !m.is_empty()));
                assert!(
                    f.attribute("type").is_some_and(|t| t.contains('.')),
                    "type is the rule id"
                );
            }
        }
        tests += cases.len();
        failures += count("failure");
        errors += count("error");
        skipped += count("skipped");
    }
    assert_eq!(attr(root, "tests"), tests);
    assert_eq!(attr(root, "failures"), failures);
    assert_eq!(attr(root, "errors"), errors);
    assert_eq!(attr(root, "skipped"), skipped);
    assert_eq!(tests, r.findings.len());
    assert_eq!(failures, r.summary.fail);
    assert_eq!(errors, r.summary.error + r.summary.inconclusive);
    assert_eq!(skipped, r.summary.waived);
}

#[test]
fn gitlab_code_quality_fields() {
    let r = report();
    let doc: Value = serde_json::from_str(&render(&r, Format::Gitlab, &opts())).expect("JSON");
    let issues = doc.as_array().expect("an array");
    assert_eq!(
        issues.len(),
        r.findings
            .iter()
            .filter(|f| f.outcome != Outcome::Pass)
            .count()
    );
    let mut prints = std::collections::HashSet::new();
    for i in issues {
        for key in ["description", "check_name", "fingerprint", "severity"] {
            assert!(
                i[key].as_str().is_some_and(|v| !v.is_empty()),
                "{key} in {i}"
            );
        }
        assert!(
            ["info", "minor", "major", "critical", "blocker"]
                .contains(&i["severity"].as_str().unwrap_or(""))
        );
        assert_eq!(i["location"]["path"], "ci/gate-input.json");
        assert_eq!(i["location"]["lines"]["begin"], 1);
        // Duplicate rule+subject pairs share a fingerprint by design (same finding identity).
        prints.insert(i["fingerprint"].as_str().unwrap_or("").to_owned());
    }
    assert!(prints.len() >= issues.len() - 1);
    assert!(
        issues.iter().any(|i| i["severity"] == "blocker"),
        "rollback triggers are blockers"
    );
    assert!(
        issues.iter().any(|i| i["severity"] == "info"),
        "waived findings are info"
    );
}

#[test]
fn github_annotations_are_capped_and_the_rest_summarised() {
    let many: Vec<String> = (0..25)
        .map(|i| format!(r#"{{"kind": "high_error_rate", "subject": "svc-{i}"}}"#))
        .collect();
    let input = gate::parse_input(
        format!(
            r#"{{"now": "2026-01-01T00:00:00Z", "alerts": [{}]}}"#,
            many.join(",")
        )
        .as_bytes(),
    )
    .expect("alerts input");
    let strict = Policy::from_toml_str("[gate]\nwarn_blocks = true\n").expect("policy");
    let r = gate::evaluate(&strict, &input, input.now.expect("now"));
    let out = render(&r, Format::Github, &opts());
    assert_eq!(
        out.lines().filter(|l| l.starts_with("::error ")).count(),
        10
    );
    assert!(
        out.contains("::notice title=fleet-policy::15 more finding(s)"),
        "{out}"
    );
    let summary = github_summary(&r);
    assert_eq!(
        summary
            .lines()
            .filter(|l| l.contains("alert.high-error-rate"))
            .count(),
        25
    );
}

#[test]
fn workflow_commands_escape_their_payloads() {
    let input = gate::parse_input(br#"{"now": "2026-01-01T00:00:00Z", "alerts": [{"kind": "high_error_rate", "subject": "a,b:c;d%e]\nf"}]}"#)
        .expect("input");
    let r = gate::evaluate(&Policy::default(), &input, input.now.expect("now"));
    let o = RenderOptions {
        artifact: "dir;x/in,put.json".into(),
        ..opts()
    };
    let gh = render(&r, Format::Github, &o);
    let line = gh
        .lines()
        .find(|l| l.starts_with("::warning"))
        .expect("a warning");
    assert!(line.contains("file=dir;x/in%2Cput.json"), "{line}");
    assert!(line.contains("::a,b:c;d%25e]%0Af"), "{line}");
    let az = render(&r, Format::Azure, &o);
    let line = az
        .lines()
        .find(|l| l.starts_with("##vso[task.logissue"))
        .expect("an issue");
    assert!(line.contains("sourcepath=dir%3Bx/in,put.json;"), "{line}");
    assert!(line.contains("a,b:c;d%AZP25e]%0Af"), "{line}");
    assert!(
        az.lines()
            .last()
            .is_some_and(|l| l.starts_with("##vso[task.complete result=SucceededWithIssues;]"))
    );
}
