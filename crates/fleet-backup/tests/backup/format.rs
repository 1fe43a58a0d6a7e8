//! Format compatibility: the kept backup of format version 1 (`tests/fixtures/format-v1`, see
//! the README there) is read, verified and restored by the current code.

use std::path::PathBuf;

use fleet_backup::{
    BackupStatus, ConfigRestoreOptions, DatabaseRestoreOptions, Identities, Manifest, PgTarget,
    VerifyOptions, list_backups, restore_config, restore_database, verify_backup,
};
use fleet_guard::Mode;
use fleet_policy::Policy;
use fleet_testkit::postgres::TempPostgres;

use crate::common::{block_on, fleet, kube, local_store, run, tools};

const NAME: &str = "manual-backup-20260514";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

#[test]
fn the_first_format_version_is_read_verified_and_restored() {
    let pg = TempPostgres::start().expect("server");
    let tools = tools();
    let ids = Identities::parse(&std::fs::read_to_string(fixture().join("key.txt")).expect("key"))
        .expect("identity");
    block_on(async {
        let (dir, store) = local_store();
        let target = dir.path().join("store/backups").join(NAME);
        std::fs::create_dir_all(&target).expect("dir");
        for f in [
            "manifest.json",
            "started.json",
            "database.dump.zst.age",
            "kubernetes-config.jsonl.zst.age",
            "kubernetes-secrets.jsonl.zst.age",
        ] {
            std::fs::copy(fixture().join(f), target.join(f)).expect("copied");
        }

        let m: Manifest = store
            .manifest(NAME)
            .await
            .expect("version 1 manifest reads");
        assert_eq!(m.format_version, 1);
        assert_eq!(
            m.scope(),
            "postgres:fleet-postgres-server/fleetdb+k8s:fleet-management"
        );
        let db = m.database.as_ref().expect("database part");
        assert_eq!(db.tables.iter().map(|t| t.rows).sum::<u64>(), 7321);
        assert_eq!(m.encryption.recipients, ids.public().to_strings());

        let listed = list_backups(
            &store,
            &Policy::default(),
            "2026-05-15T00:00:00Z".parse().expect("ts"),
        )
        .await
        .expect("list");
        assert_eq!(listed[0].status, BackupStatus::Complete);

        let verified = verify_backup(
            &run(Mode::Execute, None).executor,
            &store,
            NAME,
            &ids,
            &VerifyOptions::default().with_tools(tools.clone()),
        )
        .await
        .expect("verify");
        assert!(verified.ok(), "{verified:?}");

        let restored = restore_database(
            &run(Mode::Execute, Some("fleetdb_v1")).executor,
            &store,
            NAME,
            &ids,
            &PgTarget::new(pg.url()),
            &DatabaseRestoreOptions::new("fleetdb_v1").with_tools(tools.clone()),
        )
        .await
        .expect("restore, validated against the version 1 row counts");
        assert_eq!(restored.tables_checked, 5);
        assert_eq!(restored.rows_checked, 7321);

        let fc = fleet().await;
        let report = restore_config(
            &run(Mode::Execute, Some("from-v1")).executor,
            &store,
            NAME,
            &ids,
            &kube(&fc, "from-v1"),
            &ConfigRestoreOptions::default(),
        )
        .await
        .expect("configuration restore");
        assert_eq!(report.failures().count(), 0);
        assert_eq!(report.rollouts.len(), 2);
        assert!(
            fc.store()
                .get("secrets", "from-v1", "fleet-db-credentials")
                .is_some()
        );
    });
}
