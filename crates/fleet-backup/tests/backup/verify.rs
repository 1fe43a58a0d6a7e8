//! Verification and listing of damaged backups: a flipped byte, a truncated object, a missing
//! artifact, a garbled manifest, the wrong key; each named, none restored.

use std::sync::Arc;

use fleet_backup::{
    ArtifactKind, BackupRequest, BackupStatus, DatabaseRestoreOptions, DatabaseSource, ErrorKind,
    Identities, KubernetesSource, PgTarget, VerifyOptions, backup_now, list_backups,
    restore_database, verify_backup,
};
use fleet_guard::Mode;
use fleet_policy::Policy;
use fleet_testkit::k8s::FLEET_NAMESPACE;
use fleet_testkit::postgres::TempPostgres;

use crate::common::{block_on, fleet, keys, kube, local_store, pg_client, run, tools};
use crate::database::SCHEMA;

fn artifact_path(dir: &std::path::Path, backup: &str, kind: ArtifactKind) -> std::path::PathBuf {
    dir.join("store/backups")
        .join(backup)
        .join(kind.file_name())
}

#[test]
fn damaged_backups_are_reported_corrupt_naming_the_artifact() {
    let pg = TempPostgres::start().expect("server");
    let tools = tools();
    block_on(async {
        pg_client(&pg, "postgres")
            .await
            .batch_execute("CREATE DATABASE fleetdb")
            .await
            .expect("db");
        pg_client(&pg, "fleetdb")
            .await
            .batch_execute(SCHEMA)
            .await
            .expect("schema");
        let fc = fleet().await;
        let cluster = Arc::new(kube(&fc, FLEET_NAMESPACE));
        let (dir, store) = local_store();
        let (ids, recipients) = keys();
        let source = PgTarget::new(pg.url_for(pg.user(), pg.password(), "fleetdb"));
        for name in ["good", "flipped", "truncated", "missing", "garbled"] {
            backup_now(
                &run(Mode::Execute, None).executor,
                &store,
                BackupRequest::new(name, recipients.clone())
                    .with_database(DatabaseSource::new(source.clone(), tools.clone()))
                    .with_kubernetes(KubernetesSource::new(cluster.clone())),
            )
            .await
            .expect("backup");
        }
        let options = VerifyOptions::default().with_tools(tools.clone());
        let verify = |name: &'static str, ids: Identities| {
            let store = store.clone();
            let options = options.clone();
            async move {
                verify_backup(
                    &run(Mode::Execute, None).executor,
                    &store,
                    name,
                    &ids,
                    &options,
                )
                .await
            }
        };

        let good = verify("good", ids.clone()).await.expect("verifies");
        assert!(good.ok(), "{good:?}");
        assert_eq!(good.checks.len(), 3);
        let dump = good
            .checks
            .iter()
            .find(|c| c.kind == ArtifactKind::DatabaseDump)
            .expect("dump checked");
        assert!(dump.detail.contains("pg_restore --list"), "{}", dump.detail);

        // One byte flipped in the middle of the dump.
        let p = artifact_path(dir.path(), "flipped", ArtifactKind::DatabaseDump);
        let mut bytes = std::fs::read(&p).expect("artifact");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&p, &bytes).expect("written");
        let report = verify("flipped", ids.clone()).await.expect("report");
        assert!(!report.ok() && report.is_corrupt());
        let bad: Vec<_> = report.checks.iter().filter(|c| !c.ok).collect();
        assert_eq!(bad.len(), 1, "{report:?}");
        assert_eq!(bad[0].name, "database.dump.zst.age");
        assert_eq!(bad[0].error, Some(ErrorKind::Corrupt));
        assert!(
            bad[0].detail.contains("database.dump.zst.age") && bad[0].detail.contains("SHA-256"),
            "{}",
            bad[0].detail
        );
        // Restoring it fails as corrupt and leaves no half-restored database behind.
        let e = restore_database(
            &run(Mode::Execute, Some("from_flipped")).executor,
            &store,
            "flipped",
            &ids,
            &PgTarget::new(pg.url()),
            &DatabaseRestoreOptions::new("from_flipped").with_tools(tools.clone()),
        )
        .await
        .expect_err("corrupt");
        assert!(e.is_corrupt(), "{e}");
        let exists: bool = pg_client(&pg, "postgres")
            .await
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'from_flipped')",
                &[],
            )
            .await
            .expect("query")
            .get(0);
        assert!(!exists, "the failed restore's database was dropped");

        // The configuration artifact cut short.
        let p = artifact_path(dir.path(), "truncated", ArtifactKind::KubernetesConfig);
        let bytes = std::fs::read(&p).expect("artifact");
        std::fs::write(&p, &bytes[..bytes.len() - 100]).expect("written");
        let report = verify("truncated", ids.clone()).await.expect("report");
        let bad: Vec<_> = report.checks.iter().filter(|c| !c.ok).collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].name, "kubernetes-config.jsonl.zst.age");
        assert!(bad[0].detail.contains("truncated"), "{}", bad[0].detail);

        // An artifact gone, a manifest garbled: the listing says corrupt without reading artifacts.
        std::fs::remove_file(artifact_path(
            dir.path(),
            "missing",
            ArtifactKind::KubernetesSecrets,
        ))
        .expect("removed");
        std::fs::write(
            dir.path().join("store/backups/garbled/manifest.json"),
            b"{\"format\": \"fleet-backup\", \"format_vers",
        )
        .expect("written");
        let listed = list_backups(&store, &Policy::default(), jiff::Timestamp::now())
            .await
            .expect("list");
        let entry = |n: &str| listed.iter().find(|e| e.name == n).expect("listed").clone();
        assert_eq!(entry("good").status, BackupStatus::Complete);
        assert_eq!(entry("missing").status, BackupStatus::Corrupt);
        assert!(
            entry("missing")
                .problem
                .unwrap_or_default()
                .contains("kubernetes-secrets.jsonl.zst.age")
        );
        assert_eq!(entry("garbled").status, BackupStatus::Corrupt);
        assert!(
            entry("garbled")
                .problem
                .unwrap_or_default()
                .contains("manifest.json")
        );
        // The listing reads sizes only: a flipped byte needs verify to be found.
        assert_eq!(entry("flipped").status, BackupStatus::Complete);
        let e = verify("garbled", ids.clone())
            .await
            .expect_err("unreadable manifest");
        assert!(
            e.is_corrupt() && e.to_string().contains("manifest.json"),
            "{e}"
        );

        // The wrong key: not corrupt, not decryptable.
        let report = verify("good", Identities::generate())
            .await
            .expect("report");
        assert!(
            report
                .checks
                .iter()
                .all(|c| c.error == Some(ErrorKind::Auth)),
            "{report:?}"
        );
        assert!(!report.is_corrupt());
    });
}
