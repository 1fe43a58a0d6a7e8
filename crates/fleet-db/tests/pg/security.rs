//! The security runbook's database steps on every PostgreSQL major of the matrix: rotate a
//! password without the plaintext reaching the server's views, log or our own output; disable
//! a compromised role and end its sessions; assess roles, connection sources and large reads;
//! check logins. Plus the audit guarantees of executing.

use std::sync::Arc;

use fleet_db::{
    Diagnostics, ErrorKind, LargeReadsOptions, LargeReadsReport, PgClient, ReadOrder, Remediation,
    Request, Secret, Security, StatementsUnavailable,
};
use fleet_guard::{AuditPhase, FileAuditSink, MemoryAuditSink};
use fleet_testkit::postgres::{PgBinaries, TempPostgres, version_matrix};

use crate::common::{
    APP_PASSWORD, Captured, admin, block_on, collecting_diag, connect, count, create_roles,
    eventually, options,
};

#[test]
fn security_suite_on_every_version() {
    for binaries in version_matrix().expect("the version matrix is available") {
        security_steps(binaries);
    }
}

fn security_steps(binaries: PgBinaries) {
    let major = binaries.major();
    let pg = TempPostgres::builder()
        .binaries(binaries)
        .max_connections(40)
        .setting("log_statement", "all")
        .start()
        .expect("server starts");
    let (captured, _guard) = Captured::install();
    let new_password = Secret::new(format!("N3w-pl4intext-{major}-\u{e9}t\u{e9}"));
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        admin
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .expect("extension");
        let (diag, audit) = collecting_diag(&pg);
        let ping = diag.ping().await.expect("ping");
        assert_eq!(ping.version_num / 10000, major);

        // A session of the role whose password leaked, reading a lot.
        let app = connect(&pg, "app", APP_PASSWORD, "exfil").await;
        for _ in 0..3 {
            app.batch_execute("SELECT * FROM t, generate_series(1, 200) g")
                .await
                .expect("bulk read");
        }

        // Assess: roles, sources, large reads.
        let roles = diag.roles(None).await.expect("roles");
        assert!(roles.complete);
        assert!(roles.statements_unavailable.is_none(), "{roles:?}");
        let app_role = roles
            .roles
            .iter()
            .find(|r| r.name == "app")
            .expect("app listed");
        assert!(app_role.can_login && !app_role.superuser);
        assert_eq!(app_role.password_set, Some(true));
        assert_eq!(app_role.sessions, 1);
        assert_eq!(app_role.client_addrs, vec!["127.0.0.1".to_owned()]);
        assert!(app_role.first_connected.is_some() && app_role.last_active.is_some());
        assert!(
            app_role.statements.is_some_and(|s| s.rows >= 6000),
            "{app_role:?}"
        );
        let monitor = roles
            .roles
            .iter()
            .find(|r| r.name == "monitor")
            .expect("monitor listed");
        assert!(monitor.member_of.contains(&"pg_monitor".to_owned()));
        assert!(roles.roles.iter().all(|r| !r.name.starts_with("pg_")));

        let sources = diag.connections_by_source().await.expect("sources");
        let from_app = sources
            .iter()
            .find(|s| s.user == "app")
            .expect("app's source");
        assert_eq!(
            (from_app.client_addr.as_str(), from_app.sessions),
            ("127.0.0.1", 1)
        );
        assert_eq!(from_app.applications, vec!["exfil".to_owned()]);

        let mut by_rows = LargeReadsOptions::default();
        by_rows.order_by = ReadOrder::Rows;
        match diag.large_reads(Some(by_rows)).await.expect("reads") {
            LargeReadsReport::Available { top, complete } => {
                assert!(complete);
                let first = &top[0];
                assert_eq!(first.user.as_deref(), Some("app"), "{top:?}");
                assert_eq!((first.calls, first.rows), (3, 6000));
                assert!(
                    first.query.contains("generate_series($1, $2)"),
                    "{}",
                    first.query
                );
            }
            other => panic!("expected reads: {other:?}"),
        }

        // Rotate: the plan, then for real. Old credential rejected, new one works.
        let plan = diag
            .change_password(
                "app",
                &new_password,
                &Request::dry_run("secops", "INC-7 leaked credential").expect("request"),
            )
            .await
            .expect("plan");
        assert!(plan.dry_run && plan.audit.is_empty());
        assert!(plan.statements[0].contains("<SCRAM-SHA-256 verifier"));
        diag.check_login("app", &Secret::new(APP_PASSWORD))
            .await
            .expect("a dry run changes nothing");
        let done = diag
            .change_password(
                "app",
                &new_password,
                &Request::execute("secops", "INC-7 leaked credential").expect("request"),
            )
            .await
            .expect("rotated");
        assert_eq!(done.audit.len(), 2);
        let login = diag
            .check_login("app", &new_password)
            .await
            .expect("the new password logs in");
        assert_eq!(login.user, "app");
        let err = diag
            .check_login("app", &Secret::new(APP_PASSWORD))
            .await
            .expect_err("the old password is rejected");
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err:?}");
        assert_eq!(err.sqlstate(), Some("28P01"));
        let stored: String = admin
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'",
                &[],
            )
            .await
            .expect("verifier")
            .get(0);
        assert!(stored.starts_with("SCRAM-SHA-256$"), "{stored}");

        // Contain: disable the role and end its session; then re-enable.
        let disabled = diag
            .disable_role(
                "app",
                &Request::execute("secops", "INC-7 contain").expect("request"),
            )
            .await
            .expect("disabled");
        assert!(disabled.after.as_ref().is_some_and(|r| !r.can_login));
        eventually("the app session is gone", || {
            let admin = &admin;
            async move { count(admin, "usename = 'app'").await == 0 }
        })
        .await;
        let err = diag
            .check_login("app", &new_password)
            .await
            .expect_err("NOLOGIN");
        assert!(err.is_auth(), "{err:?}");
        diag.enable_role(
            "app",
            &Request::execute("secops", "INC-7 recovered").expect("request"),
        )
        .await
        .expect("enabled");
        diag.check_login("app", &new_password)
            .await
            .expect("logs in again");

        // The plaintext is nowhere: not in any session's query text, not in
        // pg_stat_statements, not in our output, audit or spans; the server log shows the
        // statement with the verifier only.
        let plain = new_password.expose().to_owned();
        // The log first: the checks below bind the plaintext as a parameter, which
        // log_statement = all would log.
        let log = std::fs::read_to_string(pg.log_path()).expect("server log");
        assert!(
            log.contains("PASSWORD 'SCRAM-SHA-256$"),
            "statements are logged"
        );
        assert!(!log.contains(&plain), "plaintext in the server log");
        let seen: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%'",
                &[&plain],
            )
            .await
            .expect("activity")
            .get(0);
        assert_eq!(seen, 0);
        let in_pgss: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%' || $1 || '%'",
                &[&plain],
            )
            .await
            .expect("pgss")
            .get(0);
        assert_eq!(in_pgss, 0);
        let shown = format!(
            "{plan:?}{done:?}{}{}{:?}",
            serde_json::to_string(&done).expect("json"),
            done,
            audit.records()
        );
        assert!(!shown.contains(&plain));
        let traced = captured.text();
        assert!(traced.contains("change_password"), "spans were captured");
        assert!(traced.contains(&format!("server=127.0.0.1:{}/postgres", pg.port())));
        assert!(!traced.contains(&plain), "plaintext in tracing output");
        assert!(
            !traced.contains(pg.password()),
            "connection password in tracing output"
        );
    });
}

#[test]
fn large_reads_say_exactly_why_they_are_unavailable() {
    let pg = TempPostgres::builder()
        .pg_stat_statements(false)
        .start()
        .expect("server starts");
    block_on(async {
        let (diag, _) = collecting_diag(&pg);
        match diag.large_reads(None).await.expect("report") {
            LargeReadsReport::Unavailable {
                reason: StatementsUnavailable::NotPreloaded,
            } => {}
            other => panic!("{other:?}"),
        }
        let roles = diag.roles(None).await.expect("roles");
        assert_eq!(
            roles.statements_unavailable,
            Some(StatementsUnavailable::NotPreloaded)
        );
    });
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let (diag, _) = collecting_diag(&pg);
        match diag.large_reads(None).await.expect("report") {
            LargeReadsReport::Unavailable {
                reason: StatementsUnavailable::NotInstalled { available: true },
            } => {}
            other => panic!("{other:?}"),
        }
        // A role that may not read shared_preload_libraries: the extension's files are looked
        // up among the server's available extensions instead.
        create_roles(&admin(&pg).await).await;
        let nomon = PgClient::new(options(&pg, "nomon", APP_PASSWORD)).expect("options");
        match nomon.large_reads(None).await.expect("report") {
            LargeReadsReport::Unavailable {
                reason: StatementsUnavailable::NotInstalled { available: true },
            } => {}
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn executing_needs_an_audit_sink_and_a_failed_intent_stops_the_action() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        let victim = connect(&pg, "app", APP_PASSWORD, "api").await;
        let pid: i32 = victim
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);

        // No sink: a dry run works, executing is refused before anything is done.
        let bare = PgClient::new(options(&pg, pg.user(), pg.password())).expect("options");
        let plan = bare
            .terminate_backend(pid, &Request::dry_run("oncall", "stuck").expect("request"))
            .await
            .expect("a dry run needs no sink");
        assert!(plan.dry_run);
        let err = bare
            .terminate_backend(pid, &Request::execute("oncall", "stuck").expect("request"))
            .await
            .expect_err("no sink");
        assert_eq!(err.kind(), ErrorKind::Audit);
        assert!(matches!(err, fleet_db::Error::AuditNotConfigured { .. }));
        assert_eq!(count(&admin, &format!("pid = {pid}")).await, 1);

        // A sink that fails: the intent is not written, so nothing is done.
        let failing = PgClient::new(
            options(&pg, pg.user(), pg.password())
                .with_audit(Arc::new(MemoryAuditSink::failing_after(0))),
        )
        .expect("options");
        let err = failing
            .terminate_backend(pid, &Request::execute("oncall", "stuck").expect("request"))
            .await
            .expect_err("intent not written");
        match &err {
            fleet_db::Error::Audit { acted, .. } => assert!(!acted),
            other => panic!("{other:?}"),
        }
        assert_eq!(count(&admin, &format!("pid = {pid}")).await, 1, "untouched");

        // A durable file: intent and outcome lines, then the session ends.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let file = PgClient::new(
            options(&pg, pg.user(), pg.password())
                .with_audit(Arc::new(FileAuditSink::open(&path).expect("open"))),
        )
        .expect("options");
        file.terminate_backend(pid, &Request::execute("oncall", "stuck").expect("request"))
            .await
            .expect("terminated");
        let lines = FileAuditSink::read_all(&path).expect("read");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].phase, AuditPhase::Intent);
        assert_eq!(lines[1].phase, AuditPhase::Outcome);
        assert_eq!(lines[0].step, "terminate-backend");
        eventually("the session is gone", || {
            let admin = &admin;
            async move { count(admin, &format!("pid = {pid}")).await == 0 }
        })
        .await;
    });
}
