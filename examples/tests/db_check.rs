//! Runs the `db_check` example as a process against a real PostgreSQL server (fleet-testkit's
//! TempPostgres): the snapshot in both formats, the critical connection band, the leaked
//! transaction fix as dry run, refused without confirmation, and confirmed with its audit log,
//! and the usage errors.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use fleet_testkit::postgres::TempPostgres;
use tokio_postgres::{Client, NoTls};

fn run(url: &str, args: &[&str]) -> Output {
    Command::new(support::exe("db_check"))
        .arg("--url")
        .arg(url)
        .args(args)
        .env_remove("FLEET_DB_URL")
        .env("USER", "oncall")
        .env("RUST_LOG", "warn")
        .output()
        .expect("db_check runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn connect(url: &str, app: &str) -> Client {
    let mut cfg: tokio_postgres::Config = url.parse().expect("url");
    cfg.application_name(app);
    let (client, conn) = cfg.connect(NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

async fn sessions_of(admin: &Client, app: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .expect("count")
        .get(0)
}

#[test]
fn db_check_end_to_end() {
    let pg = TempPostgres::builder()
        .max_connections(100)
        .start()
        .expect("server starts");
    let url = format!("{}?sslmode=disable", pg.url());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let admin = rt.block_on(connect(&url, "test-admin"));
    rt.block_on(admin.batch_execute("CREATE ROLE app LOGIN PASSWORD 'app-pw'"))
        .expect("role");
    // Two leaked transactions of billing, one of api, as an ordinary role (superuser
    // sessions are left alone unless forced).
    let app_url = format!(
        "{}?sslmode=disable",
        pg.url_for("app", "app-pw", "postgres")
    );
    let leaks: Vec<Client> = rt.block_on(async {
        let mut out = Vec::new();
        for app in ["billing", "billing", "api"] {
            let c = connect(&app_url, app).await;
            c.batch_execute("BEGIN; SELECT 1").await.expect("begin");
            out.push(c);
        }
        out
    });
    std::thread::sleep(Duration::from_millis(1200));

    let help = Command::new(support::exe("db_check"))
        .arg("--help")
        .output()
        .expect("help");
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("Check database connections"));

    let out = run(&url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("connections: "), "{report}");
    assert!(report.contains("idle in transaction 3"), "{report}");
    assert!(report.contains("application billing: 2"), "{report}");
    assert!(!report.contains(pg.password()));

    let out = run(&url, &["--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(json["connections"]["total"].as_u64().expect("total") >= 4);

    // The fix: the plan changes nothing.
    let fix = [
        "terminate-idle",
        "--application",
        "billing",
        "--older-than",
        "1",
        "--reason",
        "INC-42 pool exhausted",
    ];
    let out = run(&url, &[&fix[..], &["--dry-run"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("dry run, nothing changed"));
    assert_eq!(rt.block_on(sessions_of(&admin, "billing")), 2);

    // Not confirmed (no token, no terminal): refused, exit 2, nothing changed.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.jsonl");
    let log_arg = log.to_str().expect("utf-8 path");
    let out = run(&url, &[&fix[..], &["--audit-log", log_arg]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not confirmed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(rt.block_on(sessions_of(&admin, "billing")), 2);

    // Confirmed with the word: both billing sessions end, api's stays, two audit lines.
    let out = run(
        &url,
        &[
            &fix[..],
            &["--audit-log", log_arg, "--confirm", "TERMINATE"],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("executed"),
        "{}",
        text(&out.stdout)
    );
    for _ in 0..100 {
        if rt.block_on(sessions_of(&admin, "billing")) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rt.block_on(sessions_of(&admin, "billing")), 0);
    assert_eq!(rt.block_on(sessions_of(&admin, "api")), 1);
    let lines = std::fs::read_to_string(&log).expect("audit log");
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(lines.contains("\"phase\":\"intent\"") && lines.contains("\"actor\":\"oncall\""));

    // Usage errors exit 2: executing without an audit log, a flag where a value belongs
    // (the old hand-written parser took `--execute` as the application name).
    let out = run(&url, &fix);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(&url, &["terminate-idle", "--application", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run("postgresql://a:s3cret@h:notaport/d", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out.stderr).contains("s3cret"),
        "{}",
        text(&out.stderr)
    );

    // The runbook's critical band (> 80 connections) exits 1.
    let crowd: Vec<Client> = rt.block_on(async {
        let mut out = Vec::new();
        for _ in 0..85 {
            out.push(connect(&url, "crowd").await);
        }
        out
    });
    let out = run(&url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    drop((crowd, leaks));
}
