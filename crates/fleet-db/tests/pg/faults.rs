//! Faults: restart under the pool, a stopped server, deadlines, bad credentials, TLS refused.

use std::time::{Duration, Instant};

use fleet_db::{
    CancelOutcome, DbOptions, Diagnostics, Error, ErrorKind, PgClient, Remediation, Request,
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
        let diag = PgClient::new(options(&pg, pg.user(), "wrong")).expect("options");
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
        let require = PgClient::new(DbOptions::from_url(pg.url()).with_tls_mode(TlsMode::Require))
            .expect("options");
        let err = require
            .connection_summary()
            .await
            .expect_err("no TLS on the server");
        assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
        let prefer = PgClient::new(DbOptions::from_url(pg.url()).with_tls_mode(TlsMode::Prefer))
            .expect("options");
        prefer
            .connection_summary()
            .await
            .expect("falls back to plain");
    });
    // The fallback is not silent.
    let (captured, guard) = crate::common::Captured::install();
    block_on(async {
        let prefer = PgClient::new(DbOptions::from_url(pg.url()).with_tls_mode(TlsMode::Prefer))
            .expect("options");
        prefer.ping().await.expect("falls back to plain");
    });
    drop(guard);
    let text = captured.text();
    assert!(
        text.contains("WARN") && text.contains("NOT encrypted"),
        "{text}"
    );
    assert!(!text.contains(pg.password()));
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
        let sink = fleet_guard::MemoryAuditSink::new();
        let diag = PgClient::new(
            options(&pg, pg.user(), pg.password())
                .with_statement_timeout(None)
                .with_query_deadline(Duration::from_millis(500))
                .with_audit(std::sync::Arc::new(sink.clone())),
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
        // The intent was written before the ALTER ROLE, the failure after it.
        let records = sink.records();
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[0].phase, fleet_guard::AuditPhase::Intent);
        assert!(
            matches!(&records[1].outcome, Some(fleet_guard::AuditOutcome::Failed { error }) if error.contains("timed out")),
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
        let diag = PgClient::new(
            options(&pg, pg.user(), pg.password())
                .with_statement_timeout(Some(Duration::from_millis(300)))
                .with_query_deadline(Duration::from_secs(10))
                .with_audit(std::sync::Arc::new(fleet_guard::MemoryAuditSink::new())),
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
        let trusted = PgClient::new(
            DbOptions::from_url(url.clone())
                .with_tls_mode(TlsMode::Require)
                .with_extra_roots_pem(cert_pem.as_bytes()),
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
            PgClient::new(DbOptions::from_url(url.clone()).with_tls_mode(TlsMode::Require))
                .expect("options");
        let err = untrusted
            .connection_summary()
            .await
            .expect_err("unknown issuer");
        assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");

        // Right root, wrong name: 127.0.0.1 is not in the certificate.
        let wrong_name = PgClient::new(
            DbOptions::from_url(pg.url())
                .with_tls_mode(TlsMode::Require)
                .with_extra_roots_pem(cert_pem.as_bytes()),
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
        let mut opts = options(&pg, pg.user(), pg.password())
            .with_query_deadline(Duration::from_secs(3))
            .with_audit(std::sync::Arc::new(fleet_guard::MemoryAuditSink::new()));
        opts.pool.wait_timeout = Duration::from_millis(300);
        let diag = PgClient::new(opts).expect("options");
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

/// A tmpfs mounted for one test, unmounted (lazily, in case the server still holds a file)
/// when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `size` (e.g. `256k`), or says why it cannot.
    fn mount(size: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("fleet-db-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "fleet-db-full",
            ])
            .arg(&dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_disk_is_its_own_kind() {
    // A real ENOSPC: the diagnostics role's temporary files go to a tablespace on a tiny
    // tmpfs that is then filled, and the snapshot's sort of many long query texts must spill.
    let disk = match SmallDisk::mount("512k") {
        Ok(disk) => disk,
        Err(why) => {
            // Mounting needs root with CAP_SYS_ADMIN (as in this project's CI); say so loudly
            // in the test output.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("a_full_disk_is_its_own_kind: cannot run here: {why}");
            }
            return;
        }
    };
    let pg = TempPostgres::builder()
        .max_connections(40)
        .setting("log_temp_files", "0")
        .setting("track_activity_query_size", "8192")
        .start()
        .expect("server starts");
    {
        use std::os::unix::fs::MetadataExt as _;
        let owner = std::fs::metadata(pg.data_dir()).expect("data dir");
        std::os::unix::fs::chown(&disk.0, Some(owner.uid()), Some(owner.gid()))
            .expect("give the tmpfs to the server's account");
    }
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        // One statement per call: CREATE TABLESPACE refuses to run in a transaction block.
        for sql in [
            format!("CREATE TABLESPACE small LOCATION '{}'", disk.0.display()),
            "GRANT CREATE ON TABLESPACE small TO monitor".to_owned(),
            "ALTER ROLE monitor SET temp_tablespaces = 'small'".to_owned(),
            "ALTER ROLE monitor SET work_mem = '64kB'".to_owned(),
        ] {
            admin
                .batch_execute(&sql)
                .await
                .expect("tablespace on the small disk");
        }
        // Fill the file system.
        let chunk = vec![0u8; 16 * 1024];
        let mut filler = std::fs::File::create(disk.0.join("filler")).expect("filler");
        loop {
            use std::io::Write as _;
            if filler.write_all(&chunk).is_err() {
                break;
            }
        }
        // Sessions whose last query texts are long, so the sorted session list (texts kept
        // whole) outgrows work_mem and spills to a temporary file.
        let long = "x".repeat(6000);
        let mut held = Vec::new();
        for _ in 0..24 {
            let mut cfg = tokio_postgres::Config::new();
            cfg.host_path(pg.socket_dir())
                .port(pg.port())
                .user(pg.user())
                .dbname("postgres");
            let (c, conn) = cfg.connect(tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(conn);
            c.batch_execute(&format!("SELECT '{long}'"))
                .await
                .expect("query");
            held.push(c);
        }
        let mut opts = options(&pg, "monitor", crate::common::APP_PASSWORD);
        opts.query_text_limit = 100_000;
        let diag = PgClient::new(opts).expect("options");
        let err = diag
            .snapshot()
            .await
            .expect_err("the temporary file cannot be written");
        assert_eq!(err.kind(), ErrorKind::DiskFull, "{err:?}");
        assert!(err.is_disk_full());
        assert_eq!(err.sqlstate(), Some("53100"));
        assert!(err.to_string().contains("disk is full"), "{err}");
        drop(held);
    });
    drop(pg);
    drop(disk);
}
