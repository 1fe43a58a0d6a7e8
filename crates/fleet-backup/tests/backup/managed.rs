//! Azure-managed backups over fleet-azure against AzureReplay (Microsoft's REST examples over
//! local HTTPS): the inventory judged by the policy, the on-demand backup named by it, and the
//! point-in-time restore: checked, confirmed, interrupted and resumed from its record without a
//! second request, validated by connecting with fleet-db (to a TempPostgres standing in for
//! the restored server's host).

use std::sync::Arc;
use std::time::Duration;

use fleet_azure::{ArmClient, ArmClientOptions, PollSettings, RetrySettings};
use fleet_backup::{
    AzureFlexibleServer, ManagedServer, PitrOptions, PitrRequest, PostgresCheck,
    managed_backup_now, managed_inventory, point_in_time_restore,
};
use fleet_guard::{AuditPhase, ManualClock, MemoryRecordStore, Mode, RecordStore};
use fleet_policy::{Outcome, Policy};
use fleet_testkit::azure::{
    AzureReplay, OperationOutcome, OperationPlan, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID,
};
use fleet_testkit::postgres::TempPostgres;
use jiff::Timestamp;

use crate::common::{Run, run_with_clock};

/// "Now" for these tests: the day after the examples' backups.
const NOW: &str = "2025-06-02T00:00:00Z";
const TARGET: &str = "exampleserver-restored";

async fn server(replay: &AzureReplay) -> AzureFlexibleServer {
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
    AzureFlexibleServer::new(client)
}

fn at_now(mode: Mode, token: Option<&str>) -> Run {
    let clock = Arc::new(ManualClock::new(NOW.parse().expect("ts")));
    run_with_clock(mode, token, Some(clock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_is_judged_by_the_policy_and_on_demand_backups_take_its_name() {
    let replay = AzureReplay::start().await.expect("replay");
    let server = server(&replay).await;
    let policy = Policy::default();

    let inv = managed_inventory(&at_now(Mode::Execute, None).executor, &server, &policy)
        .await
        .expect("inventory");
    let rules: Vec<&str> = inv.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        vec!["backup.rpo", "backup.schedule", "backup.retention"]
    );
    assert!(
        !inv.inventory.backups.is_empty(),
        "the examples' backups are listed"
    );
    let newest = inv
        .inventory
        .backups
        .iter()
        .filter_map(|b| b.completed_at)
        .max()
        .expect("a backup");
    let age = NOW.parse::<Timestamp>().expect("ts").duration_since(newest);
    let rpo = inv
        .findings
        .iter()
        .find(|f| f.rule == "backup.rpo")
        .expect("rpo");
    assert_eq!(
        rpo.outcome == Outcome::Pass,
        age <= policy.backup.rpo,
        "{rpo:?}"
    );

    // A dry run names the backup and sends nothing.
    let dry = managed_backup_now(&at_now(Mode::DryRun, None).executor, &server, &policy)
        .await
        .expect("dry run");
    assert_eq!(dry.name, "manual-backup-20250602");
    assert!(dry.backup.is_none());
    assert!(!replay.requests().iter().any(|r| r.method == "PUT"));

    let run = at_now(Mode::Execute, None);
    let done = managed_backup_now(&run.executor, &server, &policy)
        .await
        .expect("backup");
    assert_eq!(done.name, "manual-backup-20250602");
    assert!(
        replay
            .backup_names(SERVER)
            .contains(&"manual-backup-20250602".to_owned())
    );
    let again = managed_backup_now(&at_now(Mode::Execute, None).executor, &server, &policy)
        .await
        .expect("second backup of the day");
    assert_eq!(again.name, "manual-backup-20250602-2");
    let audited = run.audit.records();
    assert!(
        audited
            .iter()
            .any(|r| r.step == "create-managed-backup" && r.phase == AuditPhase::Intent)
    );
    let backups = server.backups().await.expect("list");
    assert!(backups.iter().any(|b| b.name == "manual-backup-20250602-2"));
}

#[test]
fn point_in_time_restore_is_checked_confirmed_resumed_and_validated() {
    let pg = TempPostgres::start().expect("server standing in for the restored host");
    let check = PostgresCheck::new("postgres", Some(pg.password().to_owned()), "postgres")
        .with_connect_to("127.0.0.1", pg.port())
        .with_tls(fleet_db::TlsMode::Disable);
    crate::common::block_on(async {
        let replay = AzureReplay::start().await.expect("replay");
        let server = server(&replay).await;
        let policy = Policy::default();
        let records = MemoryRecordStore::new();
        let request = PitrRequest {
            target_server: TARGET.into(),
            point_in_time: "2025-06-01T20:00:00Z".parse().expect("ts"),
        };
        let puts = || {
            replay
                .requests()
                .iter()
                .filter(|r| r.method == "PUT")
                .count()
        };
        let fast = PitrOptions::default().with_poll_interval(Duration::from_millis(5));

        // Checks refuse before anything is sent.
        let future = PitrRequest {
            point_in_time: "2025-06-03T00:00:00Z".parse().expect("ts"),
            ..request.clone()
        };
        let e = point_in_time_restore(
            &at_now(Mode::Execute, Some(TARGET)).executor,
            &server,
            &policy,
            &records,
            &future,
            &check,
            &fast,
        )
        .await
        .expect_err("future");
        assert!(
            e.is_invalid_input() && e.to_string().contains("future"),
            "{e}"
        );
        let over = PitrRequest {
            target_server: SERVER.into(),
            ..request.clone()
        };
        let e = point_in_time_restore(
            &at_now(Mode::Execute, Some(SERVER)).executor,
            &server,
            &policy,
            &records,
            &over,
            &check,
            &fast,
        )
        .await
        .expect_err("over the source");
        assert!(e.is_invalid_input(), "{e}");
        let existing = PitrRequest {
            target_server: "examplesourceserver".into(),
            ..request.clone()
        };
        let e = point_in_time_restore(
            &at_now(Mode::Execute, Some("examplesourceserver")).executor,
            &server,
            &policy,
            &records,
            &existing,
            &check,
            &fast,
        )
        .await
        .expect_err("exists");
        assert!(e.is_conflict(), "{e}");

        // A dry run checks and plans.
        let dry = point_in_time_restore(
            &at_now(Mode::DryRun, None).executor,
            &server,
            &policy,
            &records,
            &request,
            &check,
            &fast,
        )
        .await
        .expect("dry run");
        assert!(!dry.applied && dry.target_finding.outcome == Outcome::Pass);
        // The wrong word: refused, nothing sent.
        let e = point_in_time_restore(
            &at_now(Mode::Execute, Some("yes")).executor,
            &server,
            &policy,
            &records,
            &request,
            &check,
            &fast,
        )
        .await
        .expect_err("refused");
        assert!(e.is_refused());
        assert_eq!(puts(), 0);
        assert!(records.keys().await.expect("keys").is_empty());

        // The operation runs for a while; the first run is interrupted while waiting.
        replay.set_operation_plan(OperationPlan {
            in_progress_polls: 4,
            outcome: OperationOutcome::Succeeded,
            retry_after_secs: None,
            ..OperationPlan::default()
        });
        let slow = PitrOptions::default().with_poll_interval(Duration::from_secs(30));
        let first = at_now(Mode::Execute, Some(TARGET));
        let interrupted = tokio::time::timeout(
            Duration::from_secs(3),
            point_in_time_restore(
                &first.executor,
                &server,
                &policy,
                &records,
                &request,
                &check,
                &slow,
            ),
        )
        .await;
        assert!(interrupted.is_err(), "the first run was cut short");
        assert_eq!(puts(), 1, "the restore was requested once");
        assert_eq!(
            records.keys().await.expect("keys"),
            vec![format!("pitr-{TARGET}")]
        );
        assert!(
            first
                .audit
                .records()
                .iter()
                .any(|r| r.step == "begin-restore" && r.phase == AuditPhase::Outcome)
        );

        // A second engineer (or the restarted tool) resumes from the record: no new request.
        let second = at_now(Mode::Execute, None);
        let report = point_in_time_restore(
            &second.executor,
            &server,
            &policy,
            &records,
            &request,
            &check,
            &fast,
        )
        .await
        .expect("resumed restore");
        assert!(report.applied && report.resumed);
        assert_eq!(puts(), 1, "no second restore request");
        assert_eq!(
            report.fqdn.as_deref(),
            Some("exampleserver-restored.postgres.database.azure.com")
        );
        let validation = report.validation.expect("validated");
        assert!(
            validation.contains("not in recovery") && validation.contains("PostgreSQL"),
            "{validation}"
        );
        let rto = report.rto.expect("rto");
        assert_eq!(rto.rule, "recovery.rto");
        assert_eq!(rto.outcome, Outcome::Pass);
        assert!(
            second
                .audit
                .records()
                .iter()
                .all(|r| r.step != "begin-restore"),
            "nothing restarted"
        );

        // Once validated, another run reports it again without polling.
        replay.clear_requests();
        let third = point_in_time_restore(
            &at_now(Mode::Execute, None).executor,
            &server,
            &policy,
            &records,
            &request,
            &check,
            &fast,
        )
        .await
        .expect("already done");
        assert!(third.resumed && third.validation.is_some());
        assert!(
            !replay
                .requests()
                .iter()
                .any(|r| r.path.contains("azureAsyncOperation") || r.method == "PUT")
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_restore_is_recorded_and_not_resumed() {
    let replay = AzureReplay::start().await.expect("replay");
    let server = server(&replay).await;
    let policy = Policy::default();
    let records = MemoryRecordStore::new();
    let check = PostgresCheck::new("postgres", None, "postgres")
        .with_connect_to("127.0.0.1", 1)
        .with_tls(fleet_db::TlsMode::Disable);
    let request = PitrRequest {
        target_server: TARGET.into(),
        point_in_time: "2025-06-01T20:00:00Z".parse().expect("ts"),
    };
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 1,
        outcome: OperationOutcome::Failed {
            code: "AggregateException".into(),
            message: "restore failed in the service".into(),
        },
        retry_after_secs: Some(0),
        ..OperationPlan::default()
    });
    let fast = PitrOptions::default().with_poll_interval(Duration::from_millis(5));
    let e = point_in_time_restore(
        &at_now(Mode::Execute, Some(TARGET)).executor,
        &server,
        &policy,
        &records,
        &request,
        &check,
        &fast,
    )
    .await
    .expect_err("failed");
    assert!(
        e.to_string().contains("restore failed in the service"),
        "{e}"
    );
    let e = point_in_time_restore(
        &at_now(Mode::Execute, Some(TARGET)).executor,
        &server,
        &policy,
        &records,
        &request,
        &check,
        &fast,
    )
    .await
    .expect_err("not resumed");
    assert!(e.is_refused() && e.to_string().contains("clean up"), "{e}");
}

/// Attempts of one request under `RetrySettings::fast_for_tests(3)`: the first and 3 retries.
const ATTEMPTS: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_reached_azure_is_sent_again_after_confirmation() {
    use fleet_testkit::azure::{FaultKind, FaultTarget};
    let replay = AzureReplay::start().await.expect("replay");
    let server = server(&replay).await;
    let policy = Policy::default();
    let records = MemoryRecordStore::new();
    // Nothing listens there: the check fails locally, no name is looked up.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let pg_less = PostgresCheck::new("postgres", None, "postgres")
        .with_connect_to("127.0.0.1", closed)
        .with_tls(fleet_db::TlsMode::Disable);
    let request = PitrRequest {
        target_server: TARGET.into(),
        point_in_time: "2025-06-01T20:00:00Z".parse().expect("ts"),
    };
    let fast = PitrOptions::default().with_poll_interval(Duration::from_millis(5));
    // Every attempt of the PUT fails: recorded as starting, nothing exists in Azure.
    replay.inject(
        FaultTarget::method_path("PUT", TARGET),
        FaultKind::Status {
            status: 503,
            code: "ServiceUnavailable".into(),
        },
        ATTEMPTS,
    );
    let e = point_in_time_restore(
        &at_now(Mode::Execute, Some(TARGET)).executor,
        &server,
        &policy,
        &records,
        &request,
        &pg_less,
        &fast,
    )
    .await
    .expect_err("the request failed");
    assert!(e.is_transient(), "{e}");
    let attempts = replay
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(
        attempts, ATTEMPTS as usize,
        "every attempt used one fault; none are left"
    );
    assert!(replay.server(TARGET).is_none());
    assert_eq!(
        records.keys().await.expect("keys").len(),
        1,
        "the attempt is on record"
    );

    // The next run sees the record, finds no server, and asks again before sending again.
    let refused = point_in_time_restore(
        &at_now(Mode::Execute, None).executor,
        &server,
        &policy,
        &records,
        &request,
        &pg_less,
        &fast,
    )
    .await
    .expect_err("needs the word again");
    assert!(refused.is_refused(), "{refused}");
    replay.clear_requests();
    let e = point_in_time_restore(
        &at_now(Mode::Execute, Some(TARGET)).executor,
        &server,
        &policy,
        &records,
        &request,
        &pg_less,
        &fast,
    )
    .await
    .expect_err("the fake host cannot be connected to");
    // The restore itself went through this time; only the connection check fails.
    assert!(replay.requests().iter().any(|r| r.method == "PUT"));
    assert!(replay.server(TARGET).is_some(), "restored: {e}");
    assert!(e.is_tool(), "{e}");
}
