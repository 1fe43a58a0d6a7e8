//! Runs the `ci_gate` example as a process: exit codes, formats, error messages.
//!
//! Cargo builds a package's examples before running its tests, next to the test binary's
//! directory (`target/<profile>/examples`).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(support::exe("ci_gate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("ci_gate runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn embedded_default_passes() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("fleet-policy gate at 2026-01-16T03:40:00Z: OK"));
}

/// The rules that block each failing sample, by sample name: a sample fails for what its
/// name says, not for something else that happens to block.
const FAILS_FOR: &[(&str, &[&str])] = &[
    (
        "backups-fail.json",
        &["backup.rpo", "backup.restore-target", "recovery.rto"],
    ),
    ("deploy-fail.json", &["deploy.preflight", "deploy.window"]),
    (
        "hotfix-fail.json",
        &[
            "deploy.preflight",
            "deploy.hotfix-approval",
            "deploy.hotfix-branch",
        ],
    ),
    (
        "incident-fail.json",
        &[
            "incident.assess",
            "incident.mitigate",
            "incident.status-update",
        ],
    ),
    (
        "metrics-fail.json",
        &[
            "metrics.response-time",
            "metrics.cpu-usage",
            "metrics.db-connections",
            "metrics.disk-usage",
        ],
    ),
    // A supplied series with too few samples blocks; series not supplied do not.
    ("scaling-fail.json", &["scaling.memory", "scaling.replicas"]),
    (
        "rollback-fail.json",
        &[
            "rollback.error-rate",
            "alert.error-rate",
            "rollback.degradation",
            "rollback.smoke-tests",
        ],
    ),
];

/// The family a sample's name is about (`hotfix` is a kind of deploy, `backups` covers
/// recovery too).
fn families_of(name: &str) -> &'static [&'static str] {
    match name.split('-').next().unwrap_or_default() {
        "backups" => &["backup", "recovery"],
        "deploy" | "hotfix" => &["deploy"],
        "incident" => &["incident"],
        "metrics" => &["metrics"],
        "rollback" => &["rollback", "alert"],
        "scaling" => &["scaling"],
        other => panic!("no family known for sample {other}: add it here"),
    }
}

/// The rule ids of the findings that block `report` (a `--format json` report).
fn blocking_rules(report: &serde_json::Value) -> Vec<String> {
    let blocking = report["blocking_outcomes"]
        .as_array()
        .expect("blocking_outcomes");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f.get("waiver").is_none() && blocking.contains(&f["outcome"]))
        .map(|f| f["rule"].as_str().expect("rule id").to_owned())
        .collect()
}

#[test]
fn every_sample_gates_as_its_name_says() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/data") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let want = if name.ends_with("-pass.json") {
            0
        } else if name.ends_with("-fail.json") {
            1
        } else {
            continue;
        };
        let out = run(&[
            "--policy",
            "data/policy.toml",
            "--format",
            "json",
            path.to_str().expect("utf-8 path"),
        ]);
        assert_eq!(
            out.status.code(),
            Some(want),
            "{name}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        let rules = blocking_rules(&report);
        if want == 0 {
            assert!(rules.is_empty(), "{name} passes, but {rules:?} block");
        } else {
            let expected = FAILS_FOR
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name}: list the rules it must fail for in FAILS_FOR"))
                .1;
            assert_eq!(rules, expected, "{name} fails for other rules than its own");
            let families = families_of(&name);
            for r in &rules {
                let family = r.split('.').next().unwrap_or_default();
                assert!(
                    families.contains(&family),
                    "{name} blocked by {r}, outside {families:?}"
                );
            }
        }
        seen += 1;
    }
    assert!(seen >= 14, "only {seen} samples");
}

#[test]
fn help_reads_like_the_preflight_gate() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for want in [
        "Pre-flight gate",
        "production-preflight-check.sh",
        "Thursday 22:00 New York",
        "Exit codes: 0",
        "--policy <FILE>",
        "possible values: text, json, junit, sarif, github, azure, gitlab",
    ] {
        assert!(help.contains(want), "{want} missing from:\n{help}");
    }
}

#[test]
fn every_format_renders_and_json_is_the_report() {
    for f in [
        "text", "json", "junit", "sarif", "github", "azure", "gitlab",
    ] {
        let out = run(&["--format", f, "data/rollback-fail.json"]);
        assert_eq!(out.status.code(), Some(1), "{f}: {}", text(&out.stderr));
        assert!(!out.stdout.is_empty(), "{f}");
    }
    let out = run(&["--format", "json", "data/rollback-fail.json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["schema"], "fleet-policy/report");
    assert_eq!(v["exit_code"], 1);
    // SARIF locations: the input path against the repository root, the whole file as region.
    let out = run(&["--format", "sarif", "data/rollback-fail.json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF");
    let loc = &v["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "data/rollback-fail.json");
    let lines = std::fs::read_to_string("data/rollback-fail.json")
        .map(|t| t.lines().count())
        .expect("sample readable");
    assert_eq!(
        loc["region"]["endLine"].as_u64(),
        Some(lines as u64),
        "{loc}"
    );
}

#[test]
fn malformed_input_exits_2_with_path_and_position() {
    let dir = std::env::temp_dir().join(format!("ci-gate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\n \"deploy\": {\"service\": \"a\", \"version\": \"b\", \"kind\": \"standard\",\n \"preflight\": 7}\n}")
        .expect("write");
    let out = run(&[bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("deploy.preflight") && err.contains("line 3"),
        "{err}"
    );

    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[gate]\nwarn_block = true\n").expect("write");
    let out = run(&["--policy", policy.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 2, column 1") && err.contains("warn_block"),
        "{err}"
    );

    assert_eq!(run(&["--format", "yaml"]).status.code(), Some(2));
    assert_eq!(run(&["--no-such-flag"]).status.code(), Some(2));
    assert_eq!(run(&["does-not-exist.json"]).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn output_file_and_step_summary() {
    let dir = std::env::temp_dir().join(format!("ci-gate-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sarif = dir.join("out.sarif");
    let summary = dir.join("summary.md");
    let out = Command::new(support::exe("ci_gate"))
        .args(["--format", "github", "data/deploy-fail.json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("::error file=data/deploy-fail.json,title=deploy.preflight")
    );
    assert!(
        std::fs::read_to_string(&summary)
            .expect("summary written")
            .contains("| FAIL | `deploy.window`")
    );
    let out = run(&[
        "--format",
        "sarif",
        "--output",
        sarif.to_str().expect("utf-8"),
        "data/deploy-pass.json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sarif).expect("written")).expect("JSON");
    assert_eq!(doc["version"], "2.1.0");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn print_policy_round_trips_through_the_policy_flag() {
    let out = run(&["--print-policy"]);
    assert_eq!(out.status.code(), Some(0));
    let printed = text(&out.stdout);
    assert!(printed.contains("zone = \"America/New_York\""), "{printed}");
    let path = std::env::temp_dir().join(format!("ci-gate-policy-{}.toml", std::process::id()));
    std::fs::write(&path, &printed).expect("write");
    let again = run(&["--policy", path.to_str().expect("utf-8"), "--print-policy"]);
    assert_eq!(text(&again.stdout), printed);
    let _ = std::fs::remove_file(&path);
}
