//! Interoperability with the stock tools: Debian's `age` decrypts our artifacts and we decrypt
//! what it encrypts, the `zstd` CLI decompresses ours, and `pg_restore` restores our dumps
//! after those two have unpacked them: a backup stays usable without this crate.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::sync::Arc;

use fleet_backup::{
    ArtifactKind, BackupRequest, ConfigRestoreOptions, DatabaseSource, KubernetesSource, PgTarget,
    VerifyOptions, backup_now, restore_config, verify_backup,
};
use fleet_guard::Mode;
use fleet_testkit::k8s::FLEET_NAMESPACE;
use fleet_testkit::postgres::{PgClientTools, TempPostgres};
use sha2::Digest as _;

use crate::common::{block_on, fleet, keys, kube, local_store, pg_client, run, tools};
use crate::database::SCHEMA;

/// Runs a shell pipeline, returning stdout (panics with stderr on failure).
fn sh(script: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .args(["-c", script])
        .stderr(Stdio::piped())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `pg_restore` through the shell. A pg_restore of 17 or later sends
/// `SET transaction_timeout = 0` to any server, and a server older than 17 refuses it; that one
/// refusal is expected (and is all that may go wrong).
fn sh_pg_restore(script: &str, server_major: u32) {
    let out = Command::new("sh")
        .args(["-c", script])
        .stderr(Stdio::piped())
        .output()
        .expect("sh runs");
    if out.status.success() {
        return;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let errors = err.matches("pg_restore: error:").count();
    let expected = err
        .matches("Command was: SET transaction_timeout = 0;")
        .count();
    assert!(
        server_major < 17 && errors == 1 && expected == 1,
        "{script}: {err}"
    );
}

fn quote(p: &std::path::Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn stock_age_zstd_and_pg_restore_read_our_backups_and_we_read_theirs() {
    for tool in ["age", "zstd"] {
        let ok = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "{tool} is needed (scripts/test installs it)");
    }
    let pg = TempPostgres::start().expect("server");
    let client_tools = PgClientTools::newest().expect("pg_restore");
    let tools = tools();
    block_on(async {
        let admin = pg_client(&pg, "postgres").await;
        for db in ["fleetdb", "by_cli"] {
            admin
                .batch_execute(&format!("CREATE DATABASE {db}"))
                .await
                .expect("db");
        }
        pg_client(&pg, "fleetdb")
            .await
            .batch_execute(SCHEMA)
            .await
            .expect("schema");
        let fc = fleet().await;
        let cluster = Arc::new(kube(&fc, FLEET_NAMESPACE));
        let (dir, store) = local_store();
        let (ids, recipients) = keys();
        let key_file = dir.path().join("key.txt");
        std::fs::write(&key_file, ids.to_secret_text()).expect("key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let recipient = recipients.to_strings()[0].clone();

        let report = backup_now(
            &run(Mode::Execute, None).executor,
            &store,
            BackupRequest::new("interop", recipients)
                .with_database(DatabaseSource::new(
                    PgTarget::new(pg.url_for(pg.user(), pg.password(), "fleetdb")),
                    tools.clone(),
                ))
                .with_kubernetes(KubernetesSource::new(cluster.clone())),
        )
        .await
        .expect("backup");
        let manifest = report.manifest.expect("committed");
        let backup_dir = dir.path().join("store/backups/interop");
        let art = |k: ArtifactKind| backup_dir.join(k.file_name());

        // sha256sum of the stored object is the manifest's.
        for a in &manifest.artifacts {
            let bytes = std::fs::read(backup_dir.join(&a.name)).expect("artifact");
            assert_eq!(hex(&sha2::Sha256::digest(&bytes)), a.sha256, "{}", a.name);
        }

        // age -d | zstd -d gives the configuration as JSON lines.
        let config = sh(&format!(
            "age -d -i {} {} | zstd -d -q -c",
            quote(&key_file),
            quote(&art(ArtifactKind::KubernetesConfig))
        ));
        let lines: Vec<serde_json::Value> = String::from_utf8(config)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON record"))
            .collect();
        assert!(lines.iter().any(|l| l["object"]["kind"] == "Deployment"
            && l["object"]["metadata"]["name"] == "fleet-api"));
        let secrets = sh(&format!(
            "age -d -i {} {} | zstd -d -q -c",
            quote(&key_file),
            quote(&art(ArtifactKind::KubernetesSecrets))
        ));
        assert!(String::from_utf8_lossy(&secrets).contains("fleet-db-credentials"));
        // zstd's own integrity check (the frames carry a checksum).
        sh(&format!(
            "age -d -i {} {} | zstd -t -q",
            quote(&key_file),
            quote(&art(ArtifactKind::DatabaseDump))
        ));

        // age -d | zstd -d | pg_restore restores the dump; the row counts are the manifest's.
        let restore = client_tools.pg_restore();
        let lib = client_tools
            .libdir()
            .map(|l| format!("LD_LIBRARY_PATH={} ", quote(l)))
            .unwrap_or_default();
        sh_pg_restore(
            &format!(
                "age -d -i {} {} | zstd -d -q -c | PGPASSWORD='{}' {lib}{} -h 127.0.0.1 -p {} -U postgres -d by_cli --no-password",
                quote(&key_file),
                quote(&art(ArtifactKind::DatabaseDump)),
                pg.password(),
                quote(&restore),
                pg.port()
            ),
            pg.major(),
        );
        let check = pg_client(&pg, "by_cli").await;
        for t in &manifest.database.as_ref().expect("db part").tables {
            let n: i64 = check
                .query_one(
                    &format!("SELECT count(*) FROM ONLY \"{}\".\"{}\"", t.schema, t.table),
                    &[],
                )
                .await
                .expect("count")
                .get(0);
            assert_eq!(
                u64::try_from(n).ok(),
                Some(t.rows),
                "{}.{}",
                t.schema,
                t.table
            );
        }

        // The other way: the configuration re-packed by the stock tools (zstd, then age to our
        // recipient) is read by this crate like its own.
        let repacked = sh(&format!(
            "age -d -i {key} {src} | zstd -d -q -c | zstd -q -19 -c | age -r {recipient}",
            key = quote(&key_file),
            src = quote(&art(ArtifactKind::KubernetesConfig)),
        ));
        assert!(repacked.starts_with(b"age-encryption.org/v1\n"));
        std::fs::write(art(ArtifactKind::KubernetesConfig), &repacked).expect("written");
        let path = backup_dir.join("manifest.json");
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("manifest")).expect("json");
        for a in m["artifacts"].as_array_mut().expect("artifacts") {
            if a["kind"] == "kubernetes_config" {
                a["size"] = repacked.len().into();
                a["sha256"] = hex(&sha2::Sha256::digest(&repacked)).into();
            }
        }
        let mut f = std::fs::File::create(&path).expect("manifest");
        f.write_all(&serde_json::to_vec_pretty(&m).expect("json"))
            .expect("written");
        drop(f);
        let verified = verify_backup(
            &run(Mode::Execute, None).executor,
            &store,
            "interop",
            &ids,
            &VerifyOptions::default().with_tools(tools.clone()),
        )
        .await
        .expect("verify");
        assert!(verified.ok(), "{verified:?}");
        let restored = restore_config(
            &run(Mode::Execute, Some("from-cli")).executor,
            &store,
            "interop",
            &ids,
            &kube(&fc, "from-cli"),
            &ConfigRestoreOptions::default().with_rollout_timeout(None),
        )
        .await
        .expect("restore of CLI-packed configuration");
        assert!(restored.applied && restored.failures().count() == 0);
        assert!(
            fc.store()
                .get("deployments", "from-cli", "fleet-api")
                .is_some()
        );
    });
}
