//! Runs the `drill` example (the README's first command) as a process: every step of the story
//! ends as the runbook expects, the rollback was decided by fleet-policy and confirmed with
//! the typed word, the disaster recovery met the policy's RTO and RPO, and the audit log and
//! the JSON reports are where the drill says. Runs `dr_drill`: the five recovery steps with the
//! measured RTO and RPO against the policy (step 5 telling a local webhook), Azure's
//! point-in-time restore as the source with a disaster past the RPO (exit 1), and a dry run that
//! audits no change.

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

async fn dr_drill(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(support::exe("dr_drill"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("dr_drill runs")
}

fn audit_records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dr_drill_measures_rto_and_rpo_against_the_policy() {
    let dir = tempfile::tempdir().expect("temp dir");

    // From the logical backup, 6 h old at the disaster: within the policy, step 5 told.
    let (hook, received) = support::recording_receiver().await;
    let logical = dir.path().join("logical");
    let out = dr_drill(&logical, &["--webhook", &hook]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "restore-database",
        "restore-config",
        "point-at-database",
        "switch-dns",
        "validate-services",
        "communicate",
    ] {
        assert!(
            stdout.contains(&format!("succeeded {step}")),
            "{step}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("RTO: measured 0.0") && stdout.contains("against the policy's 4 h: pass"),
        "{stdout}"
    );
    assert!(
        stdout.contains("RPO: measured 6.00 h (21600.0 s) against the policy's 24 h: pass"),
        "{stdout}"
    );
    let posts = received.lock().expect("lock").clone();
    assert!(
        posts
            .iter()
            .any(|p| p.contains("Disaster recovery: services restored")),
        "{posts:?}"
    );
    let records = audit_records(&logical.join("audit.jsonl"));
    assert!(
        records
            .iter()
            .any(|r| r["step"] == "switch-dns" && r["phase"] == "outcome"),
        "{records:?}"
    );

    // Azure's point-in-time restore, the disaster 30 h after the restore point: RPO breached.
    let pitr = dir.path().join("pitr");
    let out = dr_drill(
        &pitr,
        &[
            "--source",
            "point-in-time",
            "--backup-age-hours",
            "30",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(json["measurements"]["restored_host"].is_string(), "{json}");
    let rpo = json["report"]["findings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "backup.rpo")
        .expect("backup.rpo")
        .clone();
    assert_eq!(rpo["outcome"], "fail", "{rpo}");

    // A dry run: planned, read, and not one change audited.
    let dry = dir.path().join("dry");
    let out = dr_drill(&dry, &["--dry-run"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("planned   restore-database"), "{stdout}");
    assert!(stdout.contains("RTO: not measured"), "{stdout}");
    assert!(audit_records(&dry.join("audit.jsonl")).is_empty());
}
