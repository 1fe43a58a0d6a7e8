//! Stores: Azure Blob Storage for real against Azurite (multipart uploads included), the local
//! directory, and what "atomic from a reader's view" means: a backup without its manifest is
//! incomplete, listed as such, never restored, and pruned once abandoned; a failed backup
//! leaves nothing; a name is reserved once.

use std::sync::Arc;
use std::time::Duration;

use fleet_backup::{
    AzureCredential, AzureStoreOptions, BackupRequest, BackupStatus, BackupStore,
    ConfigRestoreOptions, KubernetesSource, TransferOptions, VerifyOptions, backup_now,
    list_backups, prune_backups, restore_config, verify_backup,
};
use fleet_guard::{ManualClock, Mode};
use fleet_policy::Policy;
use fleet_testkit::azurite::Azurite;
use fleet_testkit::k8s::{FLEET_NAMESPACE, Op};

use crate::common::{fleet, keys, kube, local_store, run, run_with_clock};

/// Text that zstd cannot shrink (so that artifacts span several parts).
fn noise(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 64) as usize] as char
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_blob_storage_round_trip_on_azurite() {
    let azurite = tokio::task::spawn_blocking(Azurite::start)
        .await
        .expect("joined")
        .expect("azurite starts");
    azurite
        .create_container("fleet-backups")
        .expect("container");
    let store = BackupStore::azure(
        AzureStoreOptions::new(
            azurite.account(),
            "fleet-backups",
            AzureCredential::AccessKey(azurite.access_key().into()),
        )
        .with_endpoint(azurite.blob_endpoint())
        .with_allow_http(true)
        .with_prefix("prod/fleet"),
    )
    .expect("azure store");
    assert!(!format!("{store:?}").contains(azurite.access_key()));

    let fc = fleet().await;
    // Some megabytes of poorly compressible configuration: several 1 MiB parts.
    for i in 0..3u64 {
        fc.store()
            .insert(serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("blob-{i}"), "namespace": FLEET_NAMESPACE},
                "data": {"blob": noise(i + 1, 900_000)}
            }))
            .expect("configmap");
    }
    let cluster = Arc::new(kube(&fc, FLEET_NAMESPACE));
    let (ids, recipients) = keys();
    let report = backup_now(
        &run(Mode::Execute, None).executor,
        &store,
        BackupRequest::new("azure-1", recipients)
            .with_kubernetes(KubernetesSource::new(cluster))
            .with_transfer(TransferOptions::default().with_part_size(1 << 20)),
    )
    .await
    .expect("backup to Azurite");
    let manifest = report.manifest.expect("committed");
    assert!(
        manifest.stored_bytes() > 1 << 20,
        "{}",
        manifest.stored_bytes()
    );

    let listed = list_backups(&store, &Policy::default(), jiff::Timestamp::now())
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, BackupStatus::Complete);
    let verified = verify_backup(
        &run(Mode::Execute, None).executor,
        &store,
        "azure-1",
        &ids,
        &VerifyOptions::default(),
    )
    .await
    .expect("verify");
    assert!(verified.ok(), "{verified:?}");

    // Restore from Azure into another namespace.
    let target = kube(&fc, "from-azure");
    let restored = restore_config(
        &run(Mode::Execute, Some("from-azure")).executor,
        &store,
        "azure-1",
        &ids,
        &target,
        &ConfigRestoreOptions::default().with_rollout_timeout(None),
    )
    .await
    .expect("restore");
    assert_eq!(restored.failures().count(), 0);
    let blob = fc
        .store()
        .get("configmaps", "from-azure", "blob-2")
        .expect("restored configmap");
    assert_eq!(blob["data"]["blob"].as_str().map(str::len), Some(900_000));
    assert_eq!(
        blob["data"]["blob"].as_str(),
        Some(noise(3, 900_000).as_str())
    );
    // Everything stored is under the prefix, in Azurite's blob directory.
    assert!(azurite.data_dir().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_without_its_manifest_is_incomplete_never_restored_and_pruned_when_abandoned() {
    let fc = fleet().await;
    let cluster = Arc::new(kube(&fc, FLEET_NAMESPACE));
    let (dir, store) = local_store();
    let (ids, recipients) = keys();
    for name in ["keep-1", "cut-1"] {
        backup_now(
            &run(Mode::Execute, None).executor,
            &store,
            BackupRequest::new(name, recipients.clone())
                .with_kubernetes(KubernetesSource::new(cluster.clone())),
        )
        .await
        .expect("backup");
    }
    // A crash between the artifacts and the manifest looks like this.
    std::fs::remove_file(dir.path().join("store/backups/cut-1/manifest.json")).expect("removed");

    let policy = Policy::default();
    let now = jiff::Timestamp::now();
    let listed = list_backups(&store, &policy, now).await.expect("list");
    let status = |name: &str| listed.iter().find(|e| e.name == name).map(|e| e.status);
    assert_eq!(status("cut-1"), Some(BackupStatus::Incomplete));
    assert_eq!(status("keep-1"), Some(BackupStatus::Complete));

    let e = restore_config(
        &run(Mode::Execute, Some(FLEET_NAMESPACE)).executor,
        &store,
        "cut-1",
        &ids,
        cluster.as_ref(),
        &ConfigRestoreOptions::default(),
    )
    .await
    .expect_err("never restored");
    assert!(e.is_incomplete(), "{e}");
    let e = verify_backup(
        &run(Mode::Execute, None).executor,
        &store,
        "cut-1",
        &ids,
        &VerifyOptions::default(),
    )
    .await
    .expect_err("not verifiable");
    assert!(e.is_incomplete());

    // It may still be running: a prune now keeps it.
    let report = prune_backups(&run(Mode::Execute, Some("PRUNE")).executor, &store, &policy)
        .await
        .expect("prune");
    assert!(report.deleted.is_empty(), "{report:?}");

    // A day and a bit later (past the 24 h RPO) it is abandoned: a dry run says so, a confirmed
    // run deletes it and nothing else.
    let later = Arc::new(ManualClock::new(now));
    later.advance(Duration::from_secs(25 * 3600));
    let dry = prune_backups(
        &run_with_clock(Mode::DryRun, None, Some(later.clone())).executor,
        &store,
        &policy,
    )
    .await
    .expect("dry run");
    assert!(!dry.applied && dry.deleted.is_empty());
    assert!(dry.decisions.iter().any(|d| d.name == "cut-1" && d.delete));
    assert!(dir.path().join("store/backups/cut-1").exists());
    let refused = prune_backups(
        &run_with_clock(Mode::Execute, None, Some(later.clone())).executor,
        &store,
        &policy,
    )
    .await
    .expect_err("not confirmed");
    assert!(refused.is_refused());
    let done = prune_backups(
        &run_with_clock(Mode::Execute, Some("PRUNE"), Some(later)).executor,
        &store,
        &policy,
    )
    .await
    .expect("prune");
    assert_eq!(done.deleted, vec!["cut-1".to_owned()]);
    assert!(!dir.path().join("store/backups/cut-1").exists());
    let listed = list_backups(&store, &policy, now).await.expect("list");
    assert_eq!(
        listed.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["keep-1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backup_leaves_nothing_and_names_are_reserved_once() {
    let fc = fleet().await;
    let cluster = Arc::new(kube(&fc, FLEET_NAMESPACE));
    let (dir, store) = local_store();
    let (_ids, recipients) = keys();

    // The export breaks halfway: listing Secrets fails on every attempt the retry policy makes.
    fc.fail_next_on(Op::List, Some("secrets"), 500, 4);
    let e = backup_now(
        &run(Mode::Execute, None).executor,
        &store,
        BackupRequest::new("broken-1", recipients.clone())
            .with_kubernetes(KubernetesSource::new(cluster.clone())),
    )
    .await
    .expect_err("export fails");
    assert!(e.to_string().contains("export namespace"), "{e}");
    assert!(
        !dir.path().join("store/backups/broken-1").exists(),
        "partial backup removed"
    );
    assert!(
        fc.requests()
            .iter()
            .any(|r| r.op == Op::List && r.status == 500),
        "the fault was hit"
    );

    let r = run(Mode::Execute, None);
    backup_now(
        &r.executor,
        &store,
        BackupRequest::new("once", recipients.clone())
            .with_kubernetes(KubernetesSource::new(cluster.clone())),
    )
    .await
    .expect("first");
    let again = backup_now(
        &run(Mode::Execute, None).executor,
        &store,
        BackupRequest::new("once", recipients).with_kubernetes(KubernetesSource::new(cluster)),
    )
    .await
    .expect_err("taken");
    assert!(again.is_conflict(), "{again}");
    // The first backup is intact.
    let listed = list_backups(&store, &Policy::default(), jiff::Timestamp::now())
        .await
        .expect("list");
    assert_eq!(listed[0].status, BackupStatus::Complete);
}
