//! Disaster recovery on stand-ins (feature `drill`): a drill within the policy, a dry run that
//! writes nothing, and a backup older than the RPO failing the RPO rule.

use std::sync::Arc;

use fleet_guard::{AuditPhase, MemoryAuditSink, Mode, StepOutcome};
use fleet_policy::Outcome;
use fleet_runbook::{
    DRILL_BACKUP, DRILL_RECORD, DRILL_RECOVERY_NAME, DRILL_RESTORED_DATABASE, DrOutcome,
    DrillOptions, DrillWorld, RunStatus, Signals, run_drill,
};
use fleet_testkit::azure::{DNS_RESOURCE_GROUP, DNS_SUBSCRIPTION_ID, DNS_ZONE};
use fleet_testkit::k8s::FLEET_NAMESPACE;
use jiff::SignedDuration;

fn finding(outcome: &DrOutcome, rule: &str) -> Outcome {
    outcome
        .report
        .findings
        .findings
        .iter()
        .find(|f| f.rule == rule)
        .map(|f| f.outcome)
        .unwrap_or_else(|| panic!("no {rule} finding"))
}

fn record(world: &DrillWorld) -> serde_json::Value {
    world
        .azure
        .dns_record_set(
            DNS_SUBSCRIPTION_ID,
            DNS_RESOURCE_GROUP,
            DNS_ZONE,
            "A",
            DRILL_RECORD,
        )
        .expect("record set")
}

async fn count(world: &DrillWorld, database: &str, table: &str) -> Option<i64> {
    let pg = &world.postgres;
    let (client, conn) = tokio_postgres::connect(
        &pg.url_for(pg.user(), pg.password(), database),
        tokio_postgres::NoTls,
    )
    .await
    .ok()?;
    tokio::spawn(conn);
    let row = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .ok()?;
    Some(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dr_drill_recovers_within_the_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = MemoryAuditSink::new();
    let (outcome, world) = run_drill(
        DrillOptions::new(dir.path()),
        Arc::new(audit.clone()),
        Signals::default(),
    )
    .await
    .expect("drill runs");
    let report = &outcome.report;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(finding(&outcome, "recovery.rto"), Outcome::Pass);
    assert_eq!(finding(&outcome, "backup.rpo"), Outcome::Pass);

    // Measured: RTO is the drill's real duration, RPO the backup's age at the disaster.
    let m = &outcome.measurements;
    let rto = m.rto.expect("validated");
    assert!(
        rto > SignedDuration::ZERO && rto < SignedDuration::from_mins(10),
        "{rto}"
    );
    let rpo = m.rpo.expect("backup found");
    assert!(
        rpo >= SignedDuration::from_hours(6)
            && rpo < SignedDuration::from_hours(6) + SignedDuration::from_mins(10),
        "{rpo}"
    );
    assert_eq!(m.database_backup.as_deref(), Some(DRILL_BACKUP));

    // Every step ran and was timed.
    for id in [
        "find-backups",
        "read-dns",
        "restore-database",
        "restore-config",
        "point-at-database",
        "restart-deployments",
        "wait-rollouts",
        "switch-dns",
        "validate-services",
    ] {
        let s = report
            .steps
            .iter()
            .find(|s| s.step.id == id)
            .unwrap_or_else(|| panic!("step {id} missing"));
        assert_eq!(s.outcome, StepOutcome::Succeeded, "{id}: {:?}", s.detail);
    }
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.step.id == "restore-database" && s.confirmed_by.is_some())
    );

    // The database was restored and validated by row counts.
    assert_eq!(m.rows_validated, Some((2, 620)));
    assert_eq!(
        count(&world, DRILL_RESTORED_DATABASE, "vehicles").await,
        Some(500)
    );
    assert_eq!(
        count(&world, DRILL_RESTORED_DATABASE, "work_orders").await,
        Some(120)
    );

    // The application runs in the recovery cluster, pointed at the restored database.
    assert!(
        m.deployments.contains(&"fleet-api".to_owned()),
        "{:?}",
        m.deployments
    );
    for d in &m.deployments {
        let dep = world
            .recovery
            .store()
            .get("deployments", FLEET_NAMESPACE, d)
            .expect("restored deployment");
        assert_eq!(
            dep["status"]["availableReplicas"], dep["spec"]["replicas"],
            "{d} available"
        );
    }
    let cm = world
        .recovery
        .store()
        .get("configmaps", FLEET_NAMESPACE, "fleet-config")
        .expect("configmap");
    assert!(
        cm["data"]["database_host"]
            .as_str()
            .is_some_and(|h| h.ends_with(DRILL_RESTORED_DATABASE)),
        "{cm}"
    );

    // DNS points at the backup region, written with the etag read while planning.
    let set = record(&world);
    assert_eq!(
        set["properties"]["ARecords"][0]["ipv4Address"], "10.20.0.10",
        "{set}"
    );
    let put = world
        .azure
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("DNS PUT");
    assert_eq!(
        put.header("if-match"),
        Some("00000000-0000-0000-0000-000000000000")
    );

    // Audited: intent then outcome of each change, the DR's and fleet-backup's own.
    let records = audit.records();
    for id in [
        "restore-database",
        "restore-config",
        "point-at-database",
        "switch-dns",
    ] {
        assert!(
            records
                .iter()
                .any(|r| r.step == id && r.phase == AuditPhase::Intent),
            "{id}"
        );
        assert!(
            records
                .iter()
                .any(|r| r.step == id && r.phase == AuditPhase::Outcome),
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dr_dry_run_writes_nothing_and_a_stale_backup_fails_the_rpo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let world = DrillWorld::start(
        DrillOptions::new(dir.path()).with_backup_age(SignedDuration::from_hours(25)),
    )
    .await
    .expect("stand-ins");
    let dns_before = record(&world);
    world.recovery.clear_requests();
    world.azure.clear_requests();
    let audit = MemoryAuditSink::new();
    let outcome = world
        .recover(
            Mode::DryRun,
            None,
            Arc::new(audit.clone()),
            Signals::default(),
        )
        .await
        .expect("dry run");

    // Nothing written: no mutating request to the recovery cluster or Azure, no database.
    let k8s_writes: Vec<_> = world
        .recovery
        .requests()
        .into_iter()
        .filter(|r| {
            !matches!(
                r.op,
                fleet_testkit::k8s::Op::Get
                    | fleet_testkit::k8s::Op::List
                    | fleet_testkit::k8s::Op::Watch
            )
        })
        .collect();
    assert!(k8s_writes.is_empty(), "{k8s_writes:?}");
    let azure = world.azure.requests();
    assert!(!azure.is_empty(), "the DNS record set was read");
    assert!(azure.iter().all(|r| r.method == "GET"), "{azure:?}");
    assert_eq!(record(&world), dns_before);
    assert_eq!(
        count(&world, DRILL_RESTORED_DATABASE, "vehicles").await,
        None
    );
    assert!(audit.records().is_empty(), "a dry run audits no change");
    assert!(
        world
            .recovery
            .store()
            .get("configmaps", FLEET_NAMESPACE, "fleet-config")
            .is_none()
    );
    let planned = outcome
        .report
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Planned)
        .count();
    assert!(planned >= 3, "{}", outcome.report.to_text());
    assert!(
        outcome
            .report
            .plan
            .step("switch-dns")
            .is_some_and(|s| s.is_destructive())
    );
    assert_eq!(
        outcome
            .report
            .plan
            .step("restore-database")
            .and_then(|s| s.confirm.as_ref())
            .map(|w| w.as_str()),
        Some(DRILL_RECOVERY_NAME)
    );

    // The backup is 25 h old at the disaster: the RPO rule fails and blocks.
    assert_eq!(finding(&outcome, "backup.rpo"), Outcome::Fail);
    assert_eq!(outcome.report.status, RunStatus::Blocked);
    assert!(
        outcome
            .measurements
            .rpo
            .is_some_and(|r| r > SignedDuration::from_hours(24))
    );
}
