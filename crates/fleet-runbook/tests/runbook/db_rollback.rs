//! The database rollback end to end: FakeCluster (the host key, the restarts, the
//! validation), AzureReplay (Microsoft's flexible-server examples: backups, restore window,
//! the point-in-time restore and its polls), and the world's TempPostgres standing in for the
//! restored server's host when the procedure connects to it.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use fleet_azure::{ArmClient, ArmClientOptions, PollSettings, RetrySettings};
use fleet_backup::{PitrOptions, PostgresCheck};
use fleet_guard::{
    AuditPhase, Executor, Guards, ManualClock, MemoryAuditSink, MemoryRecordStore, Mode,
    ProgressEvent, RecordStore, RecordingProgress, RunContext, StepOutcome, TokenConfirm,
};
use fleet_runbook::{
    AzureDatabase, DbRollback, DbRollbackOptions, HostKey, Report, RunStatus, ValidateOptions,
};
use fleet_testkit::azure::{
    AzureReplay, OperationOutcome, OperationPlan, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID,
};
use fleet_testkit::k8s::FLEET_NAMESPACE;

use crate::world::World;

/// "Now" for the restore: the day after the examples' backups.
const NOW: &str = "2025-06-02T00:00:00Z";
const POINT: &str = "2025-06-01T20:00:00Z";
pub(crate) const TARGET: &str = "exampleserver-restored";
const FQDN: &str = "exampleserver-restored.postgres.database.azure.com";

fn azure(replay: &AzureReplay) -> AzureDatabase {
    let mut options = ArmClientOptions {
        polling: PollSettings {
            default_interval: Duration::from_millis(1),
            min_interval: Duration::ZERO,
            max_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(20),
        },
        ..ArmClientOptions::default()
    };
    options.client_options.transport = Some(replay.transport());
    options.client_options.retry = RetrySettings::fast_for_tests(3).into();
    let client = ArmClient::new(replay.base_url(), replay.credential(), Some(options))
        .and_then(|arm| arm.flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER))
        .expect("client");
    AzureDatabase::from_client(client)
}

pub(crate) fn executor(
    mode: Mode,
    confirm: Option<&str>,
) -> (Executor, MemoryAuditSink, Arc<RecordingProgress>) {
    let audit = MemoryAuditSink::new();
    let progress = Arc::new(RecordingProgress::default());
    let mut guards = Guards::new(Arc::new(audit.clone()))
        .with_progress(progress.clone())
        .with_clock(Arc::new(ManualClock::new(NOW.parse().expect("now"))));
    if let Some(word) = confirm {
        guards = guards.with_confirm(Arc::new(TokenConfirm::new(word)));
    }
    let context =
        RunContext::new("database-rollback", "dba@example.com", "INC-42", mode).expect("context");
    (Executor::new(context, guards), audit, progress)
}

pub(crate) fn procedure(
    w: &World,
    replay: &AzureReplay,
    records: Arc<dyn RecordStore>,
    host: HostKey,
) -> DbRollback {
    let pg = &w._pg;
    let check = PostgresCheck::new(pg.user(), Some(pg.password().to_owned()), "postgres")
        .with_connect_to("127.0.0.1", pg.port())
        .with_tls(fleet_db::TlsMode::Disable);
    let validate = ValidateOptions::new("fleet-api", w.smoke());
    let options = DbRollbackOptions::new(TARGET, POINT.parse().expect("point"), host, validate)
        .with_pitr(PitrOptions::default().with_poll_interval(Duration::from_millis(5)))
        .with_rollout_timeout(Duration::from_secs(30));
    DbRollback::new(
        w.kube.clone(),
        azure(replay),
        Arc::new(check),
        records,
        w.signals(),
        w.policy.clone(),
        options,
    )
}

fn step(report: &Report, id: &str) -> StepOutcome {
    report
        .steps
        .iter()
        .rev()
        .find(|s| s.step.id == id)
        .unwrap_or_else(|| panic!("no step {id} in {}", report.to_text()))
        .outcome
}

fn puts(replay: &AzureReplay) -> usize {
    replay
        .requests()
        .iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
        .count()
}

fn config_value(w: &World, key: &str) -> Option<String> {
    let cm = w
        .cluster
        .store()
        .get("configmaps", FLEET_NAMESPACE, "fleet-config")
        .expect("fleet-config");
    cm["data"][key].as_str().map(str::to_owned)
}

fn restarted_at(w: &World) -> Option<String> {
    let d = w
        .cluster
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("fleet-api");
    d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_rollback_restores_repoints_restarts_and_validates() {
    let w = World::start().await;
    let replay = AzureReplay::start().await.expect("replay");
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 2,
        outcome: OperationOutcome::Succeeded,
        retry_after_secs: None,
        ..OperationPlan::default()
    });
    let records = Arc::new(MemoryRecordStore::new());
    let rollback = procedure(
        &w,
        &replay,
        records.clone(),
        HostKey::config_map("fleet-config", "database_host"),
    );
    let (run, audit, progress) = executor(Mode::Execute, Some(TARGET));
    let report = rollback.run(&run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());

    // The plan lists the backups and the window, and asks for the server's name twice.
    let confirmed: Vec<&str> = report
        .plan
        .steps
        .iter()
        .filter_map(|s| s.confirm.as_ref().map(|w| w.as_str()))
        .collect();
    assert_eq!(confirmed, [TARGET, TARGET]);
    assert!(
        report.plan.notes.iter().any(|n| n.starts_with("backup ")),
        "{:?}",
        report.plan.notes
    );
    assert!(
        report
            .plan
            .notes
            .iter()
            .any(|n| n.starts_with("restore window"))
    );

    // One restore into the new server, polled with progress.
    assert_eq!(puts(&replay), 1, "{:?}", replay.requests());
    assert!(
        progress
            .events()
            .iter()
            .any(|e| matches!(e, ProgressEvent::Advanced { step, .. } if step == "restore")),
        "restore progress reported"
    );
    // The application points at it and was restarted.
    assert_eq!(config_value(&w, "database_host").as_deref(), Some(FQDN));
    assert!(restarted_at(&w).is_some(), "fleet-api restarted");
    assert_eq!(step(&report, "wait-rollouts"), StepOutcome::Succeeded);
    assert_eq!(step(&report, "smoke-tests"), StepOutcome::Succeeded);
    for rule in [
        "backup.restore-target",
        "recovery.rto",
        "rollback.smoke-tests",
    ] {
        assert!(
            report
                .findings
                .findings
                .iter()
                .any(|f| f.rule == rule && f.outcome == fleet_policy::Outcome::Pass),
            "{rule} passes: {}",
            report.to_text()
        );
    }
    // Every change audited, intent then outcome.
    let intents: Vec<String> = audit
        .records()
        .iter()
        .filter(|r| r.phase == AuditPhase::Intent)
        .map(|r| r.step.clone())
        .collect();
    assert_eq!(
        intents,
        ["begin-restore", "point-at-database", "restart-pods"]
    );
    assert_eq!(audit.records().len(), 6);
    // The restore is on record (a second run would resume, not restore again).
    assert_eq!(
        records.keys().await.expect("keys"),
        vec![format!("pitr-{TARGET}")]
    );
    // #incidents was told.
    assert!(
        w.slack
            .recorded()
            .iter()
            .any(|r| r.json().to_string().contains("database rolled back"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_rollback_dry_run_and_a_refused_confirmation_change_nothing() {
    let w = World::start().await;
    let replay = AzureReplay::start().await.expect("replay");
    let records = Arc::new(MemoryRecordStore::new());
    let secret = HostKey::secret("fleet-db-credentials", "host");
    let rollback = procedure(&w, &replay, records.clone(), secret);

    // Dry run: reads, the server-side validation of the Secret's update, no change.
    w.cluster.clear_requests();
    let (run, audit, _) = executor(Mode::DryRun, None);
    let dry = rollback.run(&run).await;
    assert_eq!(dry.status, RunStatus::Ok, "{}", dry.to_text());
    assert_eq!(step(&dry, "begin-restore"), StepOutcome::Planned);
    assert_eq!(step(&dry, "validate-host"), StepOutcome::Succeeded);
    assert_eq!(step(&dry, "point-at-database"), StepOutcome::Skipped);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    assert!(
        w.cluster
            .requests()
            .iter()
            .any(|r| r.query.contains("dryRun=All")),
        "the Secret's update was validated by the server"
    );
    assert_eq!(puts(&replay), 0, "no restore requested");
    assert!(audit.records().is_empty());
    assert!(records.keys().await.expect("keys").is_empty());
    assert!(w.slack.recorded().is_empty());

    // The wrong word: refused, nothing restored or changed, the refusal on record.
    let before = restarted_at(&w);
    let (run, audit, _) = executor(Mode::Execute, Some("fleet-postgres-server"));
    let refused = rollback.run(&run).await;
    assert_eq!(refused.status, RunStatus::Refused, "{}", refused.to_text());
    assert_eq!(refused.exit_code, 2);
    assert_eq!(step(&refused, "begin-restore"), StepOutcome::Refused);
    assert_eq!(step(&refused, "point-at-database"), StepOutcome::Skipped);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    assert_eq!(puts(&replay), 0);
    assert_eq!(restarted_at(&w), before);
    assert_eq!(audit.records().len(), 1, "the refusal is on record");
    assert!(records.keys().await.expect("keys").is_empty());

    // The right word: the Secret gets the new host, which no audit record shows.
    let (run, audit, _) = executor(Mode::Execute, Some(TARGET));
    let done = rollback.run(&run).await;
    assert_eq!(done.status, RunStatus::Ok, "{}", done.to_text());
    let secret = w
        .cluster
        .store()
        .get("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
        .expect("secret");
    let host = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["host"].as_str().expect("host key"))
        .expect("base64");
    assert_eq!(host, FQDN.as_bytes());
    let audited = serde_json::to_string(&audit.records()).expect("audit json");
    assert!(
        !audited.contains(FQDN),
        "the Secret's value is not audited: {audited}"
    );
}
