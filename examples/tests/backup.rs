//! The backup examples run as processes, end to end, against a FakeCluster (through a
//! kubeconfig, as a user would), a TempPostgres server and a store in a temporary directory:
//! backup_now, backup_list, backup_verify, restore (dry run, refused, confirmed) and prune.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use fleet_testkit::postgres::{PgClientTools, TempPostgres};

struct World {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    pg_bin: PathBuf,
}

impl World {
    fn store(&self) -> String {
        self.dir.path().join("store").display().to_string()
    }
    fn key(&self) -> String {
        self.dir.path().join("key.txt").display().to_string()
    }
    async fn run(&self, example: &str, args: &[&str]) -> Output {
        tokio::process::Command::new(support::exe(example))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("FLEET_BACKUP_STORE", self.store())
            .env("FLEET_AUDIT_LOG", self.dir.path().join("audit.jsonl"))
            .env("FLEET_ACTOR", "oncall@example.com")
            .env("FLEET_PG_BIN", &self.pg_bin)
            .env_remove("FLEET_POLICY")
            .output()
            .await
            .expect("example runs")
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn show(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr))
}

fn exists(pg: &TempPostgres, db: &str) -> bool {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            pg.host(),
            "-p",
            &pg.port().to_string(),
            "-U",
            "postgres",
            "-tA",
            "-c",
        ])
        .arg(format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{db}'"
        ))
        .env("PGPASSWORD", pg.password())
        .output()
        .expect("psql runs");
    text(&out.stdout).trim() == "1"
}

fn flip_a_byte(path: &Path) {
    let mut b = std::fs::read(path).expect("artifact");
    let i = b.len() / 2;
    b[i] ^= 0xff;
    std::fs::write(path, b).expect("written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_list_verify_restore_and_prune_end_to_end() {
    let pg = tokio::task::spawn_blocking(|| TempPostgres::start().expect("server"))
        .await
        .expect("joined");
    let tools = PgClientTools::newest().expect("pg_dump");
    let fc = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(std::time::Duration::from_millis(100))
        .start()
        .await
        .expect("fake cluster");
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = fleet_backup::Identities::generate();
    std::fs::write(dir.path().join("key.txt"), ids.to_secret_text()).expect("key");
    let recipient = ids.public().to_strings()[0].clone();
    let w = World {
        kubeconfig: fc.kubeconfig_path().to_path_buf(),
        pg_bin: tools.bindir().to_path_buf(),
        dir,
    };
    let url = pg.url();
    let server = pg.url();

    // Usage errors exit 2.
    let o = w.run("backup_now", &["--database", &url]).await;
    assert_eq!(code(&o), Some(2), "{}", show(&o));

    let o = w
        .run(
            "backup_now",
            &[
                "--recipient",
                &recipient,
                "--dry-run",
                "--database",
                &url,
                "--namespace",
                FLEET_NAMESPACE,
            ],
        )
        .await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(text(&o.stdout).contains("dry run"), "{}", show(&o));

    let o = w
        .run(
            "backup_now",
            &[
                "--recipient",
                &recipient,
                "--database",
                &url,
                "--server-name",
                "fleet-postgres-server",
                "--namespace",
                FLEET_NAMESPACE,
            ],
        )
        .await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let today = jiff::Timestamp::now().strftime("%Y%m%d").to_string();
    let name = format!("manual-backup-{today}");
    assert!(
        text(&o.stdout).contains(&format!("backup {name} committed")),
        "{}",
        show(&o)
    );
    // Not a terminal: plain progress lines.
    assert!(
        text(&o.stderr).contains("dump-database: succeeded"),
        "{}",
        show(&o)
    );
    assert!(
        text(&o.stderr).contains("export-kubernetes: exported"),
        "{}",
        show(&o)
    );

    let o = w.run("backup_list", &["--output", "json"]).await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(listed[0]["name"], name.as_str());
    assert_eq!(listed[0]["status"], "complete");
    assert_eq!(
        listed[0]["scope"],
        "postgres:fleet-postgres-server/postgres+k8s:fleet-management"
    );

    let o = w.run("backup_verify", &["--identity", &w.key()]).await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(
        text(&o.stdout).contains(&format!("backup {name}: verified")),
        "{}",
        show(&o)
    );

    // Restore the configuration: a dry run first, then confirmed.
    let o = w
        .run(
            "restore",
            &[
                "--identity",
                &w.key(),
                &name,
                "config",
                "--namespace",
                "restored",
            ],
        )
        .await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("dry run: nothing restored"),
        "{}",
        show(&o)
    );
    assert!(fc.store().get("namespaces", "", "restored").is_none());
    let o = w
        .run(
            "restore",
            &[
                "--identity",
                &w.key(),
                &name,
                "config",
                "--namespace",
                "restored",
                "--confirm",
                "restored",
            ],
        )
        .await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(
        fc.store()
            .get("deployments", "restored", "fleet-api")
            .is_some()
    );
    // The restore held the target's Lease (kept in fleet-management) and gave it back.
    let leases = fc.store().list("leases", Some("fleet-management"));
    assert!(
        leases
            .iter()
            .any(|l| l["metadata"]["annotations"].to_string().contains("restore"))
            && leases.iter().all(|l| l["spec"]["holderIdentity"]
                .as_str()
                .is_none_or(str::is_empty)),
        "taken and released: {leases:?}"
    );
    assert!(
        text(&o.stdout).contains("rollout of fleet-api"),
        "{}",
        show(&o)
    );

    // Restore the database: refused with the wrong word, then confirmed and validated.
    let db_args = |confirm: Option<&'static str>| {
        let mut a = vec![
            "--identity".to_owned(),
            w.key(),
            name.clone(),
            "database".into(),
            "--server".into(),
            server.clone(),
            "--target-db".into(),
            "restored_db".into(),
        ];
        if let Some(c) = confirm {
            a.extend(["--confirm".into(), c.into()]);
        }
        a
    };
    let args: Vec<String> = db_args(Some("yes"));
    let o = w
        .run(
            "restore",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(code(&o), Some(2), "{}", show(&o));
    assert!(!exists(&pg, "restored_db"));
    let args: Vec<String> = db_args(Some("restored_db"));
    let o = w
        .run(
            "restore",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(text(&o.stdout).contains("validated"), "{}", show(&o));
    assert!(exists(&pg, "restored_db"));

    // Prune: nothing is old enough; the dry run says so and the confirmed run deletes nothing.
    let o = w.run("prune", &[]).await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(
        text(&o.stdout).contains(&format!("keep          {name}")),
        "{}",
        show(&o)
    );
    let o = w.run("prune", &["--confirm", "PRUNE"]).await;
    assert_eq!(code(&o), Some(0), "{}", show(&o));

    // A flipped byte: verify fails and names the artifact.
    flip_a_byte(
        &w.dir
            .path()
            .join("store/backups")
            .join(&name)
            .join("database.dump.zst.age"),
    );
    let o = w
        .run("backup_verify", &["--identity", &w.key(), &name])
        .await;
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("FAIL database.dump.zst.age"),
        "{}",
        show(&o)
    );

    // Every change is in the audit log, without the key.
    let audit = std::fs::read_to_string(w.dir.path().join("audit.jsonl")).expect("audit log");
    assert!(
        audit.contains("\"step\":\"restore-database\"") && audit.contains("oncall@example.com")
    );
    assert!(!audit.contains("AGE-SECRET-KEY"));
}
