//! Unit tests of the guard rails: dry run, confirmation, audit ordering and failures, records.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

fn run(mode: Mode, audit: &MemoryAuditSink, confirm: Arc<dyn Confirm>) -> Executor {
    let context = RunContext::new("rollback", "alice", "INC-7", mode).expect("context");
    Executor::new(
        context,
        Guards::new(Arc::new(audit.clone())).with_confirm(confirm),
    )
}

fn undo() -> Step {
    Step::change(
        "rollout-undo",
        "deployment/fleet-management/fleet-api",
        "roll back to revision 4",
    )
    .with_before(5)
    .with_after(4)
    .with_confirm(ConfirmWord::rollback())
}

#[tokio::test]
async fn dry_run_plans_and_never_acts_or_audits() {
    let audit = MemoryAuditSink::new();
    let exec = run(
        Mode::DryRun,
        &audit,
        Arc::new(TokenConfirm::new("ROLLBACK")),
    );
    let calls = AtomicUsize::new(0);
    let out = exec
        .change(undo(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        })
        .await
        .expect("dry run");
    assert_eq!(out, Applied::DryRun);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(audit.records().is_empty());
    assert_eq!(exec.steps()[0].outcome, StepOutcome::Planned);
    let delivered = exec
        .notify(Step::notify("slack", "#incidents", "tell"), || async {
            Ok::<_, std::io::Error>(())
        })
        .await;
    assert!(!delivered, "dry runs send nothing");
}

#[tokio::test]
async fn executed_change_writes_intent_then_outcome() {
    let audit = MemoryAuditSink::new();
    let exec = run(
        Mode::Execute,
        &audit,
        Arc::new(TokenConfirm::new("ROLLBACK")),
    );
    let out = exec
        .change(undo(), || async { Ok::<_, std::io::Error>(4) })
        .await
        .expect("runs");
    assert_eq!(out, Applied::Done(4));
    let records = audit.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].phase, AuditPhase::Intent);
    assert_eq!(records[1].phase, AuditPhase::Outcome);
    assert_eq!(records[1].outcome, Some(AuditOutcome::Succeeded));
    assert_eq!(records[0].actor, "alice");
    assert_eq!(records[0].reason, "INC-7");
    assert_eq!(records[0].before, Some(serde_json::json!(5)));
    assert_eq!(records[0].after, Some(serde_json::json!(4)));
    assert_eq!(records[0].run_id, records[1].run_id);
    let report = &exec.steps()[0];
    assert_eq!(report.outcome, StepOutcome::Succeeded);
    assert_eq!(report.confirmed_by.as_deref(), Some("token"));
    // The JSON line has the fields in order.
    let line = serde_json::to_string(&records[0]).expect("json");
    let order = [
        "time",
        "actor",
        "reason",
        "procedure",
        "step",
        "target",
        "before",
        "after",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| line.find(&format!("\"{k}\"")).expect(k))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
}

#[tokio::test]
async fn refused_confirmation_changes_nothing() {
    for confirm in [
        Arc::new(RefuseConfirm) as Arc<dyn Confirm>,
        Arc::new(TokenConfirm::new("rollback")),
        Arc::new(TokenConfirm::new("ROLLBACK ")),
    ] {
        let audit = MemoryAuditSink::new();
        let exec = run(Mode::Execute, &audit, confirm);
        let calls = AtomicUsize::new(0);
        let err = exec
            .change(undo(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            })
            .await
            .expect_err("refused");
        assert!(err.is_refused(), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let records = audit.records();
        assert_eq!(records.len(), 1, "only the refusal is recorded");
        assert!(matches!(
            records[0].outcome,
            Some(AuditOutcome::Refused { .. })
        ));
        assert_eq!(exec.steps()[0].outcome, StepOutcome::Refused);
    }
}

#[tokio::test]
async fn failed_intent_write_stops_the_change() {
    let audit = MemoryAuditSink::failing_after(0);
    let exec = run(
        Mode::Execute,
        &audit,
        Arc::new(TokenConfirm::new("ROLLBACK")),
    );
    let calls = AtomicUsize::new(0);
    let err = exec
        .change(undo(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        })
        .await
        .expect_err("audit failure");
    assert!(
        matches!(err, StepError::Audit { acted: false, .. }),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn failed_outcome_write_is_reported_as_acted() {
    let audit = MemoryAuditSink::failing_after(1);
    let exec = run(
        Mode::Execute,
        &audit,
        Arc::new(TokenConfirm::new("ROLLBACK")),
    );
    let err = exec
        .change(undo(), || async { Ok::<_, std::io::Error>(()) })
        .await
        .expect_err("outcome not audited");
    assert!(matches!(err, StepError::Audit { acted: true, .. }), "{err}");
    assert!(err.to_string().contains("ran but"), "{err}");
}

#[tokio::test]
async fn failed_action_is_audited_as_failed() {
    let audit = MemoryAuditSink::new();
    let exec = run(
        Mode::Execute,
        &audit,
        Arc::new(TokenConfirm::new("ROLLBACK")),
    );
    let err = exec
        .change(undo(), || async {
            Err::<(), _>(std::io::Error::other("409 conflict"))
        })
        .await
        .expect_err("fails");
    assert!(matches!(err, StepError::Failed { .. }));
    let records = audit.records();
    assert_eq!(
        records[1].outcome,
        Some(AuditOutcome::Failed {
            error: "409 conflict".into()
        })
    );
}

#[tokio::test]
async fn failed_notification_never_fails_the_run() {
    let audit = MemoryAuditSink::new();
    let exec = run(Mode::Execute, &audit, Arc::new(RefuseConfirm));
    let delivered = exec
        .notify(
            Step::notify("slack", "#deployments", "deployed"),
            || async { Err::<(), _>(std::io::Error::other("connection refused")) },
        )
        .await;
    assert!(!delivered);
    let report = &exec.steps()[0];
    assert_eq!(report.outcome, StepOutcome::Failed);
    assert!(audit.records().is_empty(), "notifications are not changes");
}

#[tokio::test]
async fn reads_run_in_dry_runs_and_waits_do_not() {
    let audit = MemoryAuditSink::new();
    let exec = run(Mode::DryRun, &audit, Arc::new(RefuseConfirm));
    let n = exec
        .read(Step::read("pods", "namespace/x", "list pods"), async {
            Ok::<_, std::io::Error>(3)
        })
        .await
        .expect("read");
    assert_eq!(n, 3);
    let waited = exec
        .wait(Step::wait("rollout", "deployment/x", "wait"), || async {
            Ok::<_, std::io::Error>(())
        })
        .await
        .expect("wait");
    assert_eq!(waited, Applied::DryRun);
}

#[test]
fn context_and_words_are_validated() {
    assert!(RunContext::new("deploy", " ", "why", Mode::Execute).is_err());
    assert!(RunContext::new("deploy", "me", "", Mode::Execute).is_err());
    assert!(ConfirmWord::new("").is_err());
    assert!(ConfirmWord::new("two words").is_err());
    assert_eq!(
        ConfirmWord::new("fleet-postgres-server-restored")
            .expect("word")
            .as_str(),
        "fleet-postgres-server-restored"
    );
}

#[tokio::test]
async fn file_audit_sink_appends_durably_and_repairs_a_torn_line() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, b"{\"torn\":").expect("seed a torn line");
    let sink = FileAuditSink::open(&path).expect("open");
    let audit: Arc<dyn AuditSink> = Arc::new(sink);
    let exec = Executor::new(
        RunContext::new("scale", "bob", "load", Mode::Execute).expect("context"),
        Guards::new(audit),
    );
    exec.change(Step::change("scale", "deployment/x", "3 -> 5"), || async {
        Ok::<_, std::io::Error>(())
    })
    .await
    .expect("change");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with("{\"torn\":\n"), "old bytes kept: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    // read_all skips nothing complete and reports the torn line as corrupt.
    assert!(FileAuditSink::read_all(&path).is_err());
    // A new file: every line is a record.
    let clean = dir.path().join("clean.jsonl");
    let sink = FileAuditSink::open(&clean).expect("open");
    let exec = Executor::new(
        RunContext::new("scale", "bob", "load", Mode::Execute).expect("context"),
        Guards::new(Arc::new(sink)),
    );
    exec.change(Step::change("scale", "deployment/x", "3 -> 5"), || async {
        Ok::<_, std::io::Error>(())
    })
    .await
    .expect("change");
    // A log it creates is readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&clean)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "not readable by others: {mode:o}");
    }
    let records = FileAuditSink::read_all(&clean).expect("records");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].actor, "bob");
}

#[tokio::test]
async fn record_stores_refuse_lost_updates() {
    let dir = tempfile::tempdir().expect("dir");
    let file = FileRecordStore::open(dir.path().join("records")).expect("store");
    let memory = MemoryRecordStore::new();
    for store in [&file as &dyn RecordStore, &memory] {
        let v1 = save_as(store, "INC-7", &serde_json::json!({"sev": "P0"}), None)
            .await
            .expect("create");
        assert_eq!(v1, 1);
        let again = save_as(store, "INC-7", &serde_json::json!({}), None).await;
        assert!(again.expect_err("exists").is_conflict());
        let v2 = save_as(store, "INC-7", &serde_json::json!({"sev": "P1"}), Some(1))
            .await
            .expect("update");
        assert_eq!(v2, 2);
        let stale = save_as(store, "INC-7", &serde_json::json!({}), Some(1)).await;
        assert!(stale.expect_err("stale").is_conflict());
        let (version, value): (u64, serde_json::Value) = load_as(store, "INC-7")
            .await
            .expect("load")
            .expect("present");
        assert_eq!((version, value["sev"].as_str()), (2, Some("P1")));
        assert_eq!(store.keys().await.expect("keys"), vec!["INC-7".to_owned()]);
        for bad in ["../etc/passwd", "", ".hidden", "a/b"] {
            assert!(store.load(bad).await.expect_err(bad).is_invalid_input());
        }
    }
}

#[tokio::test]
async fn file_record_store_serialises_racing_writers() {
    let dir = tempfile::tempdir().expect("dir");
    let store = FileRecordStore::open(dir.path()).expect("store");
    save_as(&store, "dr", &0, None).await.expect("create");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { save_as(&store, "dr", &i, Some(1)).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        if t.await.expect("join").is_ok() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one writer wins from version 1");
}

#[tokio::test]
async fn memory_lock_refuses_a_second_holder_until_release_or_expiry() {
    let clock = Arc::new(ManualClock::new(
        "2026-11-26T22:00:00Z".parse().expect("ts"),
    ));
    let lock = MemoryLock::new(clock.clone());
    let request = |holder: &str| LockRequest {
        target: "deployment/fleet-management/fleet-api".into(),
        holder: holder.into(),
        reason: format!("{holder} deploys"),
        ttl: std::time::Duration::from_secs(60),
    };
    let first = lock.acquire(&request("alice")).await.expect("free");
    let refused = lock.acquire(&request("cron")).await.expect_err("held");
    assert!(refused.is_locked());
    let holder = refused.lock_holder().expect("holder");
    assert_eq!(holder.holder, "alice");
    assert!(refused.to_string().contains("alice deploys"), "{refused}");
    first.release().await.expect("release");
    let second = lock.acquire(&request("cron")).await.expect("released");
    // A crashed holder: never released; taken over once its ttl has passed.
    clock.advance(std::time::Duration::from_secs(61));
    assert!(!second.is_held());
    assert_eq!(
        lock.current("deployment/fleet-management/fleet-api")
            .await
            .expect("current"),
        None
    );
    let third = lock.acquire(&request("bob")).await.expect("expired");
    assert!(third.is_held());
    // The old holder's late release does not free the new holder's lock.
    second.release().await.expect("late release");
    assert!(
        lock.acquire(&request("eve"))
            .await
            .expect_err("bob holds")
            .is_locked()
    );
}
