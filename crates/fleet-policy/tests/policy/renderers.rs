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

/// The SARIF document of `mixed.json` under `policy`, rendered with `opts`.
fn sarif_of(policy: &Policy, opts: &RenderOptions) -> (Report, Value) {
    let input = gate::parse_input(MIXED).expect("mixed.json parses");
    let r = gate::evaluate(policy, &input, input.now.expect("mixed.json pins now"));
    let doc = serde_json::from_str(&render(&r, Format::Sarif, opts)).expect("SARIF is JSON");
    (r, doc)
}

#[test]
fn sarif_kind_and_level_follow_section_3_27_10_and_the_gate() {
    // Three gate settings, so that every outcome is seen both blocking and not blocking.
    let strict = Policy::from_toml_str(
        "[gate]\nwarn_blocks = true\n[[waiver]]\nrule = \"deploy.window\"\nsubject = \"fleet-api v1.2.3\"\nreason = \"r\"\nowner = \"o\"\nexpires_at = \"2026-07-30T00:00:00Z\"\n",
    )
    .expect("strict policy");
    let lenient =
        Policy::from_toml_str("[gate]\ninconclusive_blocks = false\nerror_blocks = false\n")
            .expect("lenient policy");
    let mut seen = std::collections::BTreeSet::new();
    for p in [policy(), strict, lenient] {
        let (r, doc) = sarif_of(&p, &opts());
        let results = doc["runs"][0]["results"].as_array().expect("results");
        let shown: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.outcome != Outcome::Pass)
            .collect();
        assert_eq!(results.len(), shown.len(), "passing findings are omitted");
        for (res, f) in results.iter().zip(shown) {
            let kind = res["kind"].as_str().unwrap_or("fail");
            let level = res.get("level").and_then(Value::as_str);
            // SARIF 2.1.0 §3.27.10: any kind other than `fail` has level `none` or none at all.
            if kind != "fail" {
                assert!(
                    matches!(level, None | Some("none")),
                    "{kind} with level {level:?}"
                );
            } else {
                assert!(matches!(level, Some("error" | "warning" | "note")), "{res}");
            }
            // The documented mapping (docs/ci-gates.md): the level says whether the outcome
            // blocks this gate (waived findings as if unwaived, with a suppression).
            let blocks = r.blocking_outcomes.contains(&f.outcome);
            let want = match (f.outcome, blocks) {
                (Outcome::Inconclusive, false) => ("open", None),
                (_, true) => ("fail", Some("error")),
                (_, false) => ("fail", Some("warning")),
            };
            assert_eq!((kind, level), want, "{} {}: {res}", f.rule, f.outcome);
            assert_eq!(res["properties"]["outcome"], f.outcome.as_str());
            assert_eq!(res.get("suppressions").is_some(), f.waiver.is_some());
            seen.insert((f.outcome, blocks));
        }
    }
    for o in [Outcome::Warn, Outcome::Inconclusive] {
        assert!(
            seen.contains(&(o, true)) && seen.contains(&(o, false)),
            "{o} seen both ways: {seen:?}"
        );
    }
    assert!(seen.contains(&(Outcome::Fail, true)));
}

#[test]
fn sarif_rules_tool_and_locations_are_what_github_code_scanning_reads() {
    let (_, doc) = sarif_of(&policy(), &opts());
    let run = &doc["runs"][0];
    let driver = &run["tool"]["driver"];
    let info = driver["informationUri"].as_str().expect("informationUri");
    assert!(info.starts_with("https://"), "{info}");
    for rule in driver["rules"].as_array().expect("rules") {
        for key in ["shortDescription", "fullDescription", "help"] {
            assert!(
                rule[key]["text"].as_str().is_some_and(|t| !t.is_empty()),
                "{key} of {rule}"
            );
        }
        let id = rule["id"].as_str().expect("id");
        let summary = fleet_policy::rules::rule(id).expect("catalogued").summary;
        assert!(
            rule["fullDescription"]["text"]
                .as_str()
                .is_some_and(|t| t.contains(summary))
        );
        assert!(
            rule["help"]["markdown"]
                .as_str()
                .is_some_and(|t| t.contains(id))
        );
    }
    for res in run["results"].as_array().expect("results") {
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "ci/gate-input.json");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(
            loc["region"]["startLine"], 1,
            "whole-artifact region: {loc}"
        );
    }
    assert!(run["originalUriBaseIds"]["%SRCROOT%"].is_object());

    // Told how long the evidence file is, the region covers all of it.
    let (_, doc) = sarif_of(
        &policy(),
        &RenderOptions {
            artifact_lines: Some(42),
            ..opts()
        },
    );
    let region = &doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["endLine"].as_u64()),
        (Some(1), Some(42))
    );
}

#[test]
fn sarif_artifact_uris_resolve() {
    let uri_of = |artifact: &str| {
        let (_, doc) = sarif_of(
            &policy(),
            &RenderOptions {
                artifact: artifact.into(),
                ..opts()
            },
        );
        doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"].clone()
    };
    // An absolute path is an absolute `file:` URI, never "/..." against a base.
    let abs = uri_of("/home/ci/work dir/gate#1.json");
    assert_eq!(abs["uri"], "file:///home/ci/work%20dir/gate%231.json");
    assert!(abs.get("uriBaseId").is_none(), "{abs}");
    let win = uri_of(r"C:\agent\_work\1\s\gate.json");
    assert_eq!(win["uri"], "file:///C:/agent/_work/1/s/gate.json");
    assert!(win.get("uriBaseId").is_none(), "{win}");
    // Relative paths stay relative to the repository root, tidied and escaped.
    let rel = uri_of("./ci/gate input.json");
    assert_eq!(rel["uri"], "ci/gate%20input.json");
    assert_eq!(rel["uriBaseId"], "%SRCROOT%");
    // A first segment with a colon would read as a scheme.
    assert_eq!(uri_of("a:b.json")["uri"], "./a:b.json");
    assert_eq!(uri_of(r"ci\gate.json")["uri"], "ci/gate.json");
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
    // The Jenkins/Ant schema has no `skipped` on the root; GitLab and Azure DevOps read the
    // suites' and cases' own counts and elements.
    assert_eq!(root.attribute("skipped"), None);
    assert_eq!(tests, r.findings.len());
    assert_eq!(failures, r.summary.fail);
    assert_eq!(errors, r.summary.error + r.summary.inconclusive);
    assert_eq!(skipped, r.summary.waived);
}

/// Runs `xmllint --schema` on `xml` (from standard input) against the vendored Jenkins/Ant
/// JUnit schema; `Err` carries xmllint's complaint.
fn xmllint_junit(xml: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let xsd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/policy/data/junit-10.xsd"
    );
    let mut child = Command::new("xmllint")
        .args(["--noout", "--schema", xsd, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint runs (Debian's libxml2-utils; scripts/test installs it when missing)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(xml.as_bytes())
        .expect("xml written to xmllint");
    let out = child.wait_with_output().expect("xmllint finishes");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn junit_validates_against_the_jenkins_ant_schema() {
    let strict = Policy::from_toml_str("[gate]\nwarn_blocks = true\n").expect("policy");
    let input = gate::parse_input(MIXED).expect("mixed.json parses");
    let now = input.now.expect("now");
    for p in [policy(), strict, Policy::default()] {
        let xml = render(&gate::evaluate(&p, &input, now), Format::Junit, &opts());
        if let Err(e) = xmllint_junit(&xml) {
            panic!("JUnit output rejected by junit-10.xsd:\n{e}\n{xml}");
        }
    }
    // The check can fail: the root attribute the schema rejects is caught.
    let xml = render(&report(), Format::Junit, &opts());
    let bad = xml.replacen("<testsuites ", "<testsuites skipped=\"1\" ", 1);
    let e = xmllint_junit(&bad).expect_err("skipped on testsuites is invalid");
    assert!(e.contains("skipped"), "{e}");
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
