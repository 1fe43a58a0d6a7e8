//! Runs the `drill` example (the README's first command) as a process: every step of the story
//! ends as the runbook expects, the rollback was decided by fleet-policy and confirmed with
//! the typed word, the disaster recovery met the policy's RTO and RPO, and the audit log and
//! the JSON reports are where the drill says.

mod support;

use std::process::Command;

#[test]
fn the_drill_runs_the_runbook_end_to_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(support::exe("drill"))
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("drill runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for step in [
        "1. Pre-flight checklist",
        "2. Deploy fleet-api 1.4.3",
        "3. Deploy fleet-api 1.5.0: rollback decision",
        "4. Rollback procedure",
        "5. Validate production deployment",
        "6. Disaster recovery",
    ] {
        assert!(stdout.contains(step), "{step} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("confirmation given by the drill: ROLLBACK"),
        "{stdout}"
    );
    assert!(stdout.contains("rollback.crash-loop"), "{stdout}");
    assert!(
        stdout.contains("recovery.rto") && stdout.contains("backup.rpo"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every step ended as the runbook expects"),
        "{stdout}"
    );

    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit log");
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["procedure"] == "rollback-production"),
        "{audit}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["procedure"] == "deploy-to-production"),
        "{audit}"
    );
    let reports: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .expect("reports")
        .collect();
    assert_eq!(reports.len(), 6);
}
