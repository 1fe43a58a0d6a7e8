//! A real PostgreSQL behind the seeded database pod: the runbook's `kubectl exec ... psql`
//! runs the real psql against a TempPostgres, with stdin, exit codes and the role the command
//! names.

use std::io::Write;
use std::process::Stdio;

use fleet_testkit::k8s::{FLEET_NAMESPACE, PostgresTarget};
use fleet_testkit::postgres::TempPostgres;

use crate::common::{fleet, kubectl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_psql_reaches_the_attached_server() {
    let pg = tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .unwrap()
        .expect("postgres");
    let c = fleet().await;
    let target = PostgresTarget::from(&pg);
    assert!(!format!("{target:?}").contains(pg.password()));
    c.attach_fleet_database(target).expect("attach");

    // The runbook's command, as written there.
    let out = kubectl(
        &c,
        &[
            "exec",
            "fleet-postgres-0",
            "-n",
            FLEET_NAMESPACE,
            "--",
            "psql",
            "-U",
            "fleetadmin",
            "-d",
            "fleetdb",
            "-c",
            "SELECT COUNT(*) FROM pg_stat_activity;",
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("count") && out.stdout.contains("(1 row)"),
        "{}",
        out.stdout
    );
    let who = kubectl(
        &c,
        &[
            "exec",
            "fleet-postgres-0",
            "--",
            "psql",
            "-U",
            "fleetadmin",
            "-d",
            "fleetdb",
            "-Atc",
            "select current_user || '@' || current_database()",
        ],
    )
    .await;
    assert_eq!(who.stdout.trim(), "fleetadmin@fleetdb", "{}", who.stderr);

    // SQL on stdin, as `kubectl exec -i ... < script.sql` sends it.
    let mut cmd = c.kubectl();
    cmd.args([
        "exec",
        "-i",
        "fleet-postgres-0",
        "--",
        "psql",
        "-U",
        "fleetadmin",
        "-d",
        "fleetdb",
        "-At",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"create table t(x int); insert into t values (41); select x + 1 from t;\n")
            .expect("write");
        child.wait_with_output().expect("wait")
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "CREATE TABLE\nINSERT 0 1\n42",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Errors keep psql's exit code; other commands are not run.
    let bad = kubectl(
        &c,
        &[
            "exec",
            "fleet-postgres-0",
            "--",
            "psql",
            "-U",
            "fleetadmin",
            "-d",
            "fleetdb",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "select nope",
        ],
    )
    .await;
    assert!(
        !bad.ok && bad.stderr.contains("column \"nope\" does not exist"),
        "{}",
        bad.stderr
    );
    let other = kubectl(&c, &["exec", "fleet-postgres-0", "--", "ls", "/"]).await;
    assert!(
        !other.ok
            && other
                .stderr
                .contains("runs only the PostgreSQL client programs"),
        "{}",
        other.stderr
    );
    // Attaching again finds the role and database in place.
    c.attach_fleet_database(PostgresTarget::from(&pg))
        .expect("attach again");
}
