//! Listing and retention over time: expired backups, pins, the newest good backup, pruning
//! audited with the names it deleted.

use std::sync::Arc;
use std::time::Duration;

use fleet_backup::{
    BackupRequest, BackupStatus, KubernetesSource, backup_now, list_backups, next_backup_name,
    pin_backup, prune_backups, unpin_backup,
};
use fleet_guard::{AuditPhase, ManualClock, Mode};
use fleet_policy::Policy;
use fleet_testkit::k8s::FLEET_NAMESPACE;

use crate::common::{fleet, keys, kube, local_store, run, run_with_clock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_backups_are_listed_and_pruned_but_never_pinned_or_the_newest() {
    let fc = fleet().await;
    let cluster = Arc::new(kube(&fc, FLEET_NAMESPACE));
    let (_dir, store) = local_store();
    let (_ids, recipients) = keys();
    let policy = Policy::default();
    let now: jiff::Timestamp = "2026-05-14T09:00:00Z".parse().expect("ts");
    let days_ago = |d: u64| {
        let c = Arc::new(ManualClock::new(now));
        c.set(
            now.checked_sub(jiff::SignedDuration::from_hours(24 * d as i64))
                .expect("ts"),
        );
        c
    };
    for (name, age) in [
        ("pinned-old", 12),
        ("old-1", 10),
        ("old-2", 9),
        ("new-1", 1),
    ] {
        let r = run_with_clock(Mode::Execute, None, Some(days_ago(age)));
        backup_now(
            &r.executor,
            &store,
            BackupRequest::new(name, recipients.clone())
                .with_kubernetes(KubernetesSource::new(cluster.clone())),
        )
        .await
        .expect("backup");
    }
    pin_backup(
        &run(Mode::Execute, None).executor,
        &store,
        "pinned-old",
        "kept for the audit",
    )
    .await
    .expect("pinned");

    let listed = list_backups(&store, &policy, now).await.expect("list");
    let names: Vec<&str> = listed.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["new-1", "old-2", "old-1", "pinned-old"],
        "newest first"
    );
    let status = |n: &str| listed.iter().find(|e| e.name == n).map(|e| e.status);
    assert_eq!(status("new-1"), Some(BackupStatus::Complete));
    assert_eq!(status("old-1"), Some(BackupStatus::Expired));
    assert_eq!(status("old-2"), Some(BackupStatus::Expired));
    assert_eq!(status("pinned-old"), Some(BackupStatus::Complete));
    assert!(
        listed
            .iter()
            .all(|e| e.scope.as_deref() == Some("k8s:fleet-management"))
    );
    assert_eq!(
        listed
            .iter()
            .find(|e| e.name == "pinned-old")
            .and_then(|e| e.pinned.as_ref())
            .map(|p| p.reason.as_str()),
        Some("kept for the audit")
    );

    let clock = Arc::new(ManualClock::new(now));
    let r = run_with_clock(Mode::Execute, Some("PRUNE"), Some(clock.clone()));
    let report = prune_backups(&r.executor, &store, &policy)
        .await
        .expect("prune");
    assert_eq!(report.deleted, vec!["old-1".to_owned(), "old-2".to_owned()]);
    let records = r.audit.records();
    let intent = records
        .iter()
        .find(|a| a.step == "delete-backups" && a.phase == AuditPhase::Intent)
        .expect("intent audited");
    assert_eq!(intent.before, Some(serde_json::json!(["old-1", "old-2"])));

    // Everything left is kept; once unpinned, the old one expires (the newest stays).
    unpin_backup(&run(Mode::Execute, None).executor, &store, "pinned-old")
        .await
        .expect("unpinned");
    let listed = list_backups(&store, &policy, now).await.expect("list");
    let status = |n: &str| listed.iter().find(|e| e.name == n).map(|e| e.status);
    assert_eq!(status("pinned-old"), Some(BackupStatus::Expired));
    assert_eq!(status("new-1"), Some(BackupStatus::Complete));
    // Three weeks on, new-1 is old too but still the newest good backup: never expired.
    clock.advance(Duration::from_secs(21 * 24 * 3600));
    let listed = list_backups(&store, &policy, fleet_guard::Clock::now(clock.as_ref()))
        .await
        .expect("list");
    let status = |n: &str| listed.iter().find(|e| e.name == n).map(|e| e.status);
    assert_eq!(status("new-1"), Some(BackupStatus::Complete));

    // The next on-demand name comes from the policy, avoiding taken names.
    let name = next_backup_name(&store, &policy, now).await.expect("name");
    assert_eq!(name, "manual-backup-20260514");
}
