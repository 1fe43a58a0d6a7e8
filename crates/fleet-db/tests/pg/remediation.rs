//! Each remediation for its effect, its dry run, its refusals and its audit record.

use std::time::Duration;

use fleet_db::{Diagnostics, ErrorKind, PgClient, Remediation, Request, RoleTimeout};
use fleet_guard::{AuditOutcome, AuditPhase, AuditRecord};
use fleet_testkit::postgres::TempPostgres;
use tokio_postgres::Client;

use crate::common::{
    APP_PASSWORD, admin, block_on, collecting_diag, connect, count, create_roles, eventually,
    options, try_connect,
};

async fn pid_of(c: &Client) -> i32 {
    c.query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0)
}

async fn alive(admin: &Client, pid: i32) -> bool {
    count(admin, &format!("pid = {pid}")).await == 1
}

/// Each record as `intent`, `succeeded`, `failed` or `refused`.
fn kinds(records: &[AuditRecord]) -> Vec<&'static str> {
    records
        .iter()
        .map(|r| match (&r.phase, &r.outcome) {
            (AuditPhase::Intent, _) => "intent",
            (_, Some(AuditOutcome::Succeeded)) => "succeeded",
            (_, Some(AuditOutcome::Refused { .. })) => "refused",
            (_, Some(AuditOutcome::Failed { .. })) => "failed",
            _ => "unknown",
        })
        .collect()
}

fn dry(reason: &str) -> Request {
    Request::dry_run("oncall", reason).expect("request")
}

fn exec(reason: &str) -> Request {
    Request::execute("oncall", reason).expect("request")
}

#[test]
fn cancel_and_terminate_backends() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        let (diag, audit) = collecting_diag(&pg);

        // Cancel a running query: dry run leaves it running, execute cancels it.
        let sleeper = connect(&pg, "app", APP_PASSWORD, "worker").await;
        let pid = pid_of(&sleeper).await;
        let running = tokio::spawn(async move {
            let r = sleeper.batch_execute("SELECT pg_sleep(30)").await;
            (sleeper, r)
        });
        eventually("pg_sleep runs", || {
            let admin = &admin;
            async move { count(admin, &format!("pid = {pid} AND state = 'active'")).await == 1 }
        })
        .await;
        let plan = diag
            .cancel_backend(pid, &dry("runaway query"))
            .await
            .expect("plan");
        assert!(plan.dry_run);
        assert_eq!(plan.backends[0].pid, pid);
        assert_eq!(plan.backends[0].signalled, None);
        // Checked and signalled in one statement, by pid and start time.
        assert!(
            plan.statements[0].starts_with("SELECT pg_cancel_backend(a.pid) FROM pg_stat_activity")
                && plan.statements[0].contains("backend_start"),
            "{:?}",
            plan.statements
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!running.is_finished(), "a dry run changes nothing");
        let done = diag
            .cancel_backend(pid, &exec("runaway query"))
            .await
            .expect("cancel");
        assert_eq!(done.backends[0].signalled, Some(true));
        let (_sleeper, result) = running.await.expect("join");
        let err = result.expect_err("cancelled");
        assert_eq!(err.code().map(|c| c.code()), Some("57014"));
        assert!(alive(&admin, pid).await, "cancel keeps the session");

        // Terminate: dry run, then for real.
        let victim = connect(&pg, "app", APP_PASSWORD, "api").await;
        let vpid = pid_of(&victim).await;
        diag.terminate_backend(vpid, &dry("stuck"))
            .await
            .expect("plan");
        assert!(alive(&admin, vpid).await);
        let done = diag
            .terminate_backend(vpid, &exec("stuck"))
            .await
            .expect("terminate");
        assert_eq!(done.backends[0].user.as_deref(), Some("app"));
        eventually("the session is gone", || {
            let admin = &admin;
            async move { !alive(admin, vpid).await }
        })
        .await;

        // Refusals: our own backend, a superuser session, a background process, no such pid.
        let own = diag.snapshot().await.expect("snapshot").identity.own_pid;
        let err = diag
            .terminate_backend(own, &exec("oops"))
            .await
            .expect_err("own");
        assert_eq!(err.kind(), ErrorKind::Refused);
        assert!(err.to_string().contains("own connection"), "{err}");
        let admin_pid = pid_of(&admin).await;
        let err = diag
            .terminate_backend(admin_pid, &exec("superuser"))
            .await
            .expect_err("superuser");
        assert_eq!(err.kind(), ErrorKind::Refused);
        assert!(alive(&admin, admin_pid).await);
        let other_admin = crate::common::admin(&pg).await;
        let other_pid = pid_of(&other_admin).await;
        diag.terminate_backend(other_pid, &exec("forced").force_superuser())
            .await
            .expect("forced");
        let checkpointer: i32 = admin
            .query_one(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'",
                &[],
            )
            .await
            .expect("checkpointer")
            .get(0);
        let err = diag
            .terminate_backend(checkpointer, &exec("no").force_superuser())
            .await
            .expect_err("background process");
        assert_eq!(err.kind(), ErrorKind::Refused);
        let err = diag
            .cancel_backend(999_999, &exec("ghost"))
            .await
            .expect_err("no pid");
        assert!(err.is_not_found());

        // Executed calls left an intent and an outcome, refusals an outcome; dry runs and a
        // target that was never found (nothing attempted) left none.
        let records = audit.records();
        assert_eq!(
            kinds(&records),
            [
                "intent",
                "succeeded",
                "intent",
                "succeeded",
                "refused",
                "refused",
                "intent",
                "succeeded",
                "refused"
            ]
        );
        assert!(
            matches!(&records[4].outcome, Some(AuditOutcome::Refused { reason }) if reason.contains("own connection")),
            "{:?}",
            records[4]
        );
        assert_eq!(records[0].step, "cancel-backend");
        assert_eq!(records[0].run_id, records[1].run_id);
        assert_ne!(records[1].run_id, records[2].run_id);
        assert!(records[0].target.ends_with(&format!("backend {pid}")));
        assert!(
            records
                .iter()
                .all(|r| r.actor == "oncall" && r.procedure == "fleet-db" && !r.reason.is_empty())
        );
    });
}

#[test]
fn terminate_idle_in_transaction_of_one_application() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        let diag = crate::common::superuser_diag(&pg);
        let leak1 = connect(&pg, "app", APP_PASSWORD, "billing").await;
        let leak2 = connect(&pg, "app", APP_PASSWORD, "billing").await;
        let other = connect(&pg, "app", APP_PASSWORD, "api").await;
        let fresh = connect(&pg, "app", APP_PASSWORD, "billing").await;
        // Pids first: any statement inside the transaction would reset its idle clock.
        let (p1, p2, po, pf) = (
            pid_of(&leak1).await,
            pid_of(&leak2).await,
            pid_of(&other).await,
            pid_of(&fresh).await,
        );
        for c in [&leak1, &leak2, &other] {
            c.batch_execute("BEGIN; SELECT 1").await.expect("begin");
        }
        // Margins wide enough for a loaded machine; the pool is connected before the young
        // transaction starts, so the plan follows it closely.
        diag.ping().await.expect("pool connected");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        fresh.batch_execute("BEGIN; SELECT 1").await.expect("begin");
        let older = Duration::from_millis(2000);
        let plan = diag
            .terminate_idle_in_transaction("billing", older, &dry("leak"))
            .await
            .expect("plan");
        let mut planned: Vec<i32> = plan.backends.iter().map(|b| b.pid).collect();
        planned.sort_unstable();
        let mut expected = vec![p1, p2];
        expected.sort_unstable();
        assert_eq!(planned, expected, "only billing's old ones");
        assert!(alive(&admin, p1).await && alive(&admin, p2).await);
        let done = diag
            .terminate_idle_in_transaction("billing", older, &exec("leak"))
            .await
            .expect("terminate");
        assert_eq!(done.backends.len(), 2);
        assert!(done.backends.iter().all(|b| b.signalled == Some(true)));
        eventually("leaks terminated", || {
            let admin = &admin;
            async move { !alive(admin, p1).await && !alive(admin, p2).await }
        })
        .await;
        assert!(alive(&admin, po).await, "another application is untouched");
        assert!(
            alive(&admin, pf).await,
            "a younger transaction is untouched"
        );
        let snap = diag.snapshot().await.expect("snapshot");
        assert!(
            snap.leak_suspects
                .iter()
                .all(|g| g.application != "billing" || g.pids == vec![pf])
        );
    });
}

#[test]
fn disable_and_enable_a_role() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        admin
            .batch_execute("CREATE ROLE \"odd\"\"name\" LOGIN PASSWORD 'pw'")
            .await
            .expect("odd role");
        let (diag, audit) = collecting_diag(&pg);
        let s1 = connect(&pg, "app", APP_PASSWORD, "api").await;
        let s2 = connect(&pg, "app", APP_PASSWORD, "worker").await;
        let (p1, p2) = (pid_of(&s1).await, pid_of(&s2).await);

        let plan = diag
            .disable_role("app", &dry("compromised"))
            .await
            .expect("plan");
        assert_eq!(plan.before, plan.after);
        assert!(plan.before.as_ref().is_some_and(|r| r.can_login));
        assert_eq!(plan.statements[0], "ALTER ROLE \"app\" NOLOGIN");
        let mut planned: Vec<i32> = plan.backends.iter().map(|b| b.pid).collect();
        planned.sort_unstable();
        assert_eq!(planned, vec![p1.min(p2), p1.max(p2)]);
        try_connect(&pg, "app", APP_PASSWORD, "x")
            .await
            .expect("dry run: still can log in");

        let done = diag
            .disable_role("app", &exec("compromised"))
            .await
            .expect("disable");
        assert!(done.after.as_ref().is_some_and(|r| !r.can_login));
        eventually("sessions terminated", || {
            let admin = &admin;
            async move { count(admin, "usename = 'app'").await == 0 }
        })
        .await;
        let err = try_connect(&pg, "app", APP_PASSWORD, "x")
            .await
            .expect_err("NOLOGIN");
        assert_eq!(err.code().map(|c| c.code()), Some("28000"));
        let as_app = PgClient::new(options(&pg, "app", APP_PASSWORD)).expect("options");
        assert_eq!(
            as_app
                .connection_summary()
                .await
                .expect_err("cannot log in")
                .kind(),
            ErrorKind::Authentication
        );

        diag.enable_role("app", &exec("rotated"))
            .await
            .expect("enable");
        try_connect(&pg, "app", APP_PASSWORD, "x")
            .await
            .expect("can log in again");

        // Quoting: a role name with a double quote.
        let done = diag
            .disable_role("odd\"name", &exec("test"))
            .await
            .expect("odd");
        assert!(done.after.as_ref().is_some_and(|r| !r.can_login));

        // Refusals: ourselves, a superuser (unless forced), a missing role.
        let err = diag
            .disable_role("postgres", &exec("no"))
            .await
            .expect_err("self");
        assert_eq!(err.kind(), ErrorKind::Refused);
        admin
            .batch_execute("CREATE ROLE boss SUPERUSER LOGIN")
            .await
            .expect("boss");
        let err = diag
            .disable_role("boss", &exec("no"))
            .await
            .expect_err("superuser");
        assert_eq!(err.kind(), ErrorKind::Refused);
        diag.disable_role("boss", &exec("yes").force_superuser())
            .await
            .expect("forced");
        let err = diag
            .disable_role("ghost", &exec("no"))
            .await
            .expect_err("missing");
        assert!(err.is_not_found());
        assert_eq!(
            kinds(&audit.records()),
            [
                "intent",
                "succeeded",
                "intent",
                "succeeded",
                "intent",
                "succeeded",
                "refused",
                "refused",
                "intent",
                "succeeded"
            ]
        );
    });
}

#[test]
fn set_role_timeouts() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        let diag = crate::common::superuser_diag(&pg);
        let plan = diag
            .set_role_timeout(
                "app",
                RoleTimeout::StatementTimeout,
                Duration::from_millis(250),
                &dry("guard"),
            )
            .await
            .expect("plan");
        assert_eq!(
            plan.statements,
            vec!["ALTER ROLE \"app\" SET statement_timeout = 250".to_owned()]
        );
        assert!(plan.after.as_ref().is_some_and(|r| r.settings.is_empty()));
        let done = diag
            .set_role_timeout(
                "app",
                RoleTimeout::StatementTimeout,
                Duration::from_millis(250),
                &exec("guard"),
            )
            .await
            .expect("set");
        assert!(
            done.after
                .as_ref()
                .is_some_and(|r| r.settings.contains(&"statement_timeout=250".to_owned()))
        );
        diag.set_role_timeout(
            "app",
            RoleTimeout::IdleInTransactionSessionTimeout,
            Duration::from_secs(2),
            &exec("guard"),
        )
        .await
        .expect("set");
        let app = connect(&pg, "app", APP_PASSWORD, "api").await;
        let shown: String = app
            .query_one("SHOW statement_timeout", &[])
            .await
            .expect("show")
            .get(0);
        assert_eq!(shown, "250ms");
        let err = app
            .batch_execute("SELECT pg_sleep(1)")
            .await
            .expect_err("times out");
        assert_eq!(err.code().map(|c| c.code()), Some("57014"));
        let shown: String = app
            .query_one("SHOW idle_in_transaction_session_timeout", &[])
            .await
            .expect("show")
            .get(0);
        assert_eq!(shown, "2s");
        let err = diag
            .set_role_timeout(
                "app",
                RoleTimeout::StatementTimeout,
                Duration::from_secs(u64::MAX / 4),
                &exec("x"),
            )
            .await
            .expect_err("too large");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}
