//! Faults: restart under the pool, a stopped server, deadlines, bad credentials, TLS refused.

use std::time::{Duration, Instant};

use fleet_db::{
    CancelOutcome, DbOptions, Diagnostics, Error, ErrorKind, PgDiagnostics, Remediation, Request,
    TlsMode,
};
use fleet_testkit::postgres::{StopMode, TempPostgres};

use crate::common::{admin, block_on, count, create_roles, eventually, options, superuser_diag};

#[test]
fn a_restart_under_the_pool_is_survived() {
    let mut pg = TempPostgres::start().expect("server starts");
    let diag = superuser_diag(&pg);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        diag.snapshot().await.expect("first snapshot");
        assert_eq!(diag.pool_health().size, 1);
    });
    pg.restart(StopMode::Fast).expect("restart");
    rt.block_on(async {
        let snap = diag
            .snapshot()
            .await
            .expect("the next call after a restart succeeds");
        assert!(snap.health.uptime < Duration::from_secs(30));
    });
}

#[test]
fn a_stopped_server_gives_a_typed_error_within_the_timeout() {
    let mut pg = TempPostgres::start().expect("server starts");
    let diag = superuser_diag(&pg);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async { diag.snapshot().await.expect("first snapshot") });
    pg.stop(StopMode::Immediate).expect("stop");
    rt.block_on(async {
        let started = Instant::now();
        let err = diag.snapshot().await.expect_err("server is down");
        let took = started.elapsed();
        assert_eq!(err.kind(), ErrorKind::Unreachable, "{err:?}");
        assert!(err.is_transient());
        // Bounded by the pool's recycle + create timeouts (2 s each), never a hang.
        assert!(took < Duration::from_secs(5), "took {took:?}");
    });
}

#[test]
fn wrong_password_is_an_authentication_error() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let diag = PgDiagnostics::new(options(&pg, pg.user(), "wrong")).expect("options");
        let err = diag.connection_summary().await.expect_err("bad password");
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err:?}");
        assert!(err.is_auth() && !err.is_transient());
        assert_eq!(err.sqlstate(), Some("28P01"));
    });
}

#[test]
fn tls_required_but_not_offered_fails_and_prefer_falls_back() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let require = PgDiagnostics::new(DbOptions::from_url(pg.url()).tls_mode(TlsMode::Require))
            .expect("options");
        let err = require
            .connection_summary()
            .await
            .expect_err("no TLS on the server");
        assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
        let prefer = PgDiagnostics::new(DbOptions::from_url(pg.url()).tls_mode(TlsMode::Prefer))
            .expect("options");
        prefer
            .connection_summary()
            .await
            .expect("falls back to plain");
    });
}

/// A role row locked by an open transaction makes `ALTER ROLE` wait.
async fn lock_role(admin: &tokio_postgres::Client, role: &str) {
    admin
        .batch_execute(&format!("BEGIN; ALTER ROLE {role} CONNECTION LIMIT 5"))
        .await
        .expect("lock the role row");
}

#[test]
fn a_client_deadline_cancels_the_statement_on_the_server() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        lock_role(&admin, "app").await;
        let sink = std::sync::Arc::new(crate::common::Collect::default());
        let diag = PgDiagnostics::new(
            options(&pg, pg.user(), pg.password())
                .statement_timeout(None)
                .query_deadline(Duration::from_millis(500))
                .audit(sink.clone()),
        )
        .expect("options");
        let observer = crate::common::admin(&pg).await;
        let started = Instant::now();
        let err = diag
            .disable_role(
                "app",
                &Request::execute("test", "deadline").expect("request"),
            )
            .await
            .expect_err("ALTER ROLE waits on the lock past the deadline");
        assert!(started.elapsed() < Duration::from_secs(3));
        match &err {
            Error::Timeout { after, cancel, .. } => {
                assert_eq!(*after, Some(Duration::from_millis(500)));
                assert_eq!(*cancel, CancelOutcome::Sent);
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // The server stopped executing it: nothing of ours waits on the lock any more.
        eventually("the abandoned ALTER ROLE is gone from the server", || {
            let observer = &observer;
            async move {
                count(
                    observer,
                    "application_name = 'fleet-db' AND wait_event_type = 'Lock'",
                )
                .await
                    == 0
            }
        })
        .await;
        assert_eq!(diag.pool_health().timeouts, 1);
        let records = sink.0.lock().expect("lock").clone();
        assert_eq!(records.len(), 1);
        assert!(
            records[0].result.starts_with("failed: timed out"),
            "{records:?}"
        );
        // The pool is usable again.
        diag.connection_summary().await.expect("pool recovers");
        admin.batch_execute("ROLLBACK").await.expect("rollback");
    });
}

#[test]
fn the_server_statement_timeout_is_a_timeout_too() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        lock_role(&admin, "app").await;
        let diag = PgDiagnostics::new(
            options(&pg, pg.user(), pg.password())
                .statement_timeout(Some(Duration::from_millis(300)))
                .query_deadline(Duration::from_secs(10)),
        )
        .expect("options");
        let started = Instant::now();
        let err = diag
            .disable_role(
                "app",
                &Request::execute("test", "deadline").expect("request"),
            )
            .await
            .expect_err("statement_timeout fires");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
        assert_eq!(err.sqlstate(), Some("57014"), "the server cancelled it");
        admin.batch_execute("ROLLBACK").await.expect("rollback");
    });
}

#[test]
fn tls_is_verified_against_the_given_root() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_pem = cert.cert.pem();
    let pg = TempPostgres::builder()
        .tls(cert_pem.clone(), cert.signing_key.serialize_pem())
        .start()
        .expect("server starts with TLS");
    let url = format!(
        "postgresql://{}:{}@localhost:{}/postgres",
        pg.user(),
        pg.password(),
        pg.port()
    );
    block_on(async {
        // Trusting the server's certificate: connects, over TLS.
        let trusted = PgDiagnostics::new(
            DbOptions::from_url(url.clone())
                .tls_mode(TlsMode::Require)
                .extra_roots_pem(cert_pem.as_bytes()),
        )
        .expect("options");
        trusted
            .connection_summary()
            .await
            .expect("TLS with a trusted root");
        let admin = admin(&pg).await;
        let ssl: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE s.ssl AND a.application_name = 'fleet-db'",
                &[],
            )
            .await
            .expect("pg_stat_ssl")
            .get(0);
        assert_eq!(ssl, 1, "the diagnostics connection is encrypted");

        // Default roots only: the self-signed certificate is rejected.
        let untrusted =
            PgDiagnostics::new(DbOptions::from_url(url.clone()).tls_mode(TlsMode::Require))
                .expect("options");
        let err = untrusted
            .connection_summary()
            .await
            .expect_err("unknown issuer");
        assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");

        // Right root, wrong name: 127.0.0.1 is not in the certificate.
        let wrong_name = PgDiagnostics::new(
            DbOptions::from_url(pg.url())
                .tls_mode(TlsMode::Require)
                .extra_roots_pem(cert_pem.as_bytes()),
        )
        .expect("options");
        let err = wrong_name
            .connection_summary()
            .await
            .expect_err("name mismatch");
        assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
    });
}

#[test]
fn an_exhausted_pool_times_out_waiting_instead_of_hanging() {
    let pg = TempPostgres::start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        lock_role(&admin, "app").await;
        let mut opts =
            options(&pg, pg.user(), pg.password()).query_deadline(Duration::from_secs(3));
        opts.pool.wait_timeout = Duration::from_millis(300);
        let diag = PgDiagnostics::new(opts).expect("options");
        // The only pooled connection is busy with an ALTER ROLE that waits on a lock.
        let busy = {
            let diag = diag.clone();
            tokio::spawn(async move {
                diag.disable_role("app", &Request::execute("test", "busy").expect("request"))
                    .await
            })
        };
        // A separate observer: inside the locking transaction pg_stat_activity is a snapshot.
        let observer = crate::common::admin(&pg).await;
        eventually("the ALTER ROLE waits", || {
            let admin = &observer;
            async move {
                count(
                    admin,
                    "application_name = 'fleet-db' AND wait_event_type = 'Lock'",
                )
                .await
                    == 1
            }
        })
        .await;
        let started = Instant::now();
        let err = diag
            .connection_summary()
            .await
            .expect_err("no free connection");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
        match &err {
            Error::Timeout {
                operation,
                after,
                cancel,
                ..
            } => {
                assert!(
                    operation.contains("waiting for a pooled connection"),
                    "{operation}"
                );
                assert_eq!(*after, Some(Duration::from_millis(300)));
                assert_eq!(*cancel, CancelOutcome::NotNeeded);
            }
            other => panic!("expected a wait timeout, got {other:?}"),
        }
        let health = diag.pool_health();
        assert_eq!((health.max_size, health.size, health.available), (1, 1, 0));
        assert_eq!(health.timeouts, 1);
        admin.batch_execute("ROLLBACK").await.expect("rollback");
        busy.await
            .expect("join")
            .expect("the ALTER ROLE completes once the lock is gone");
    });
}
