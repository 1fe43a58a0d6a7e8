//! The diagnostics suite, run on the system's PostgreSQL and on the oldest and newest other
//! majors (fleet-testkit's version matrix).

use std::time::Duration;

use fleet_db::{BlockNode, StatementsReport, StatementsUnavailable};
use fleet_db::{Diagnostics, ErrorKind, PgClient, ReservedSlot};
use fleet_testkit::postgres::{PgBinaries, TempPostgres, version_matrix};
use tokio_postgres::Client;

use crate::common::{
    APP_PASSWORD, admin, block_on, connect, count, create_roles, eventually, options,
    superuser_diag, try_connect, wal_sender,
};

#[test]
fn diagnostics_suite_on_every_version() {
    let matrix = version_matrix().expect("the version matrix is available");
    assert!(!matrix.is_empty());
    for binaries in matrix {
        situations_are_diagnosed(binaries.clone());
        many_sessions_keep_their_details_and_the_blocking_tree(binaries.clone());
        health_names_objects_exactly(binaries.clone());
        full_server_is_diagnosed_through_a_reserved_slot(binaries);
    }
}

/// At scale (80 client sessions besides a lock wait and a WAL sender), every session's details
/// stay its own (the session list travels column by column and is rebuilt on the client), the
/// one session waiting on a lock is found with its blocker among the idle ones, and the WAL
/// sender is listed as a replica but not counted as a client session.
fn many_sessions_keep_their_details_and_the_blocking_tree(binaries: PgBinaries) {
    const IDLE: usize = 80;
    let pg = TempPostgres::builder()
        .binaries(binaries)
        .max_connections(IDLE as u32 + 20)
        .start()
        .expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        let mut idle = Vec::new();
        for i in 0..IDLE {
            let c = connect(&pg, "app", APP_PASSWORD, &format!("idle-{i}")).await;
            if i % 10 == 0 {
                c.batch_execute("BEGIN; SELECT 1").await.expect("begin");
            }
            idle.push(c);
        }
        let holder = connect(&pg, "app", APP_PASSWORD, "holder").await;
        let waiter = connect(&pg, "monitor", APP_PASSWORD, "waiter").await;
        let (holder_pid, waiter_pid) = (pid_of(&holder).await, pid_of(&waiter).await);
        admin
            .batch_execute("GRANT ALL ON t TO monitor")
            .await
            .expect("grant");
        holder
            .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            .await
            .expect("lock");
        let waiting = tokio::spawn(async move {
            let r = waiter.batch_execute("SELECT count(*) FROM t").await;
            (waiter, r)
        });
        let _sender = wal_sender(&pg, "replica-probe");
        eventually("the waiter waits on the lock", || {
            let admin = &admin;
            async move { count(admin, "wait_event_type = 'Lock'").await == 1 }
        })
        .await;

        let diag = superuser_diag(&pg);
        let snap = diag.snapshot().await.expect("snapshot");
        // The server's own view of the same sessions, read right after.
        let rows = admin
            .query(
                "SELECT pid, usename::text, datname::text, application_name, state, \
                 xact_start IS NOT NULL FROM pg_stat_activity \
                 WHERE backend_type = 'client backend' AND application_name <> 'fleet-db'",
                &[],
            )
            .await
            .expect("pg_stat_activity");
        let by_pid: std::collections::HashMap<i32, _> =
            snap.sessions.iter().map(|s| (s.pid, s)).collect();
        let mut compared = 0;
        for r in &rows {
            let pid: i32 = r.get(0);
            let app: String = r.get(3);
            if app == "test-admin" {
                continue; // its state changes with the read above
            }
            let s = by_pid
                .get(&pid)
                .unwrap_or_else(|| panic!("pid {pid} ({app}) missing from the snapshot"));
            assert_eq!(s.application.as_deref(), Some(app.as_str()), "pid {pid}");
            assert_eq!(s.user, r.get::<_, Option<String>>(1), "pid {pid}");
            assert_eq!(s.database, r.get::<_, Option<String>>(2), "pid {pid}");
            assert_eq!(s.state, r.get::<_, Option<String>>(4), "pid {pid}");
            assert_eq!(s.xact_age.is_some(), r.get::<_, bool>(5), "pid {pid}");
            assert_eq!(s.superuser, Some(false), "pid {pid}");
            compared += 1;
        }
        assert_eq!(
            compared,
            IDLE + 2,
            "every idle session, the holder and the waiter"
        );
        assert!(snap.sessions.windows(2).all(|w| w[0].pid < w[1].pid));
        let c = &snap.connections;
        // The idle ones, holder, waiter, admin and the asking connection; not the WAL sender.
        assert_eq!(c.total as usize, IDLE + 4, "{c:?}");
        assert_eq!(
            c.by_state.idle_in_transaction,
            IDLE as u32 / 10 + 1,
            "{:?}",
            c.by_state
        );
        assert_eq!(c.by_user.get("monitor"), Some(&1));

        let b = &snap.blocking;
        assert_eq!(b.waiting_sessions, 1, "{b:?}");
        assert_eq!(b.roots.len(), 1, "{b:?}");
        let root = &b.roots[0];
        assert_eq!(root.pid, holder_pid);
        assert_eq!(
            root.session.as_ref().and_then(|s| s.application.as_deref()),
            Some("holder")
        );
        assert_eq!(root.blocked.len(), 1);
        let blocked = &root.blocked[0];
        assert_eq!(blocked.pid, waiter_pid);
        let waiter_session = blocked.session.as_ref().expect("the waiter's session");
        assert_eq!(waiter_session.user.as_deref(), Some("monitor"));
        assert_eq!(waiter_session.wait_event_type.as_deref(), Some("Lock"));
        assert!(b.cycles.is_empty());

        let replicas = &snap.health.replicas;
        assert_eq!(replicas.len(), 1, "{replicas:?}");
        assert_eq!(replicas[0].application.as_deref(), Some("replica-probe"));
        assert_eq!(replicas[0].state.as_deref(), Some("startup"));
        assert_eq!(replicas[0].client_addr, None, "over the Unix socket");

        holder.batch_execute("ROLLBACK").await.expect("rollback");
        let (_waiter, r) = waiting.await.expect("join");
        r.expect("the waiter proceeds once the lock is released");
    });
}

/// The health part names what it reports without joins (for a cheap plan): names that need
/// quoting come back as they are in the catalog, and a sequence's owning column as
/// `schema.table.column`, quoted where SQL needs it.
fn health_names_objects_exactly(binaries: PgBinaries) {
    let pg = TempPostgres::builder()
        .binaries(binaries)
        .start()
        .expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        admin
            .batch_execute(
                "CREATE SCHEMA \"Ops\"; \
                 CREATE TABLE \"Ops\".\"Mixed Case\" (\"Id\" smallserial, a int, b int); \
                 SELECT setval(pg_get_serial_sequence('\"Ops\".\"Mixed Case\"', 'Id'), 32500); \
                 CREATE INDEX \"By A\" ON \"Ops\".\"Mixed Case\" (a); \
                 CREATE INDEX \"By A, B\" ON \"Ops\".\"Mixed Case\" (a, b); \
                 INSERT INTO \"Ops\".\"Mixed Case\" (a) VALUES (1), (1);",
            )
            .await
            .expect("schema");
        let failed = admin
            .batch_execute(
                "CREATE UNIQUE INDEX CONCURRENTLY \"Unique A\" ON \"Ops\".\"Mixed Case\" (a)",
            )
            .await;
        assert!(failed.is_err(), "duplicates make the unique build fail");
        let h = superuser_diag(&pg).server_health().await.expect("health");
        let seq = h
            .sequences_near_exhaustion
            .iter()
            .find(|s| s.schema == "Ops")
            .expect("the smallserial near its end");
        assert_eq!(seq.name, "Mixed Case_Id_seq");
        assert_eq!(seq.column.as_deref(), Some("\"Ops\".\"Mixed Case\".\"Id\""));
        assert_eq!(seq.max_value, 32767);
        let invalid = h
            .invalid_indexes
            .iter()
            .find(|i| i.index == "Unique A")
            .expect("the failed build is listed");
        assert_eq!(
            (invalid.schema.as_str(), invalid.table.as_str()),
            ("Ops", "Mixed Case")
        );
        let dup = h
            .duplicate_indexes
            .iter()
            .find(|i| i.index == "By A")
            .expect("the covered index is listed");
        assert_eq!(
            (dup.schema.as_str(), dup.table.as_str()),
            ("Ops", "Mixed Case")
        );
        assert_eq!(dup.covered_by.as_deref(), Some("By A, B"));
    });
}

fn pids_in(node: &BlockNode) -> Vec<i32> {
    let mut out = vec![node.pid];
    for c in &node.blocked {
        out.extend(pids_in(c));
    }
    out
}

async fn pid_of(c: &Client) -> i32 {
    c.query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0)
}

fn situations_are_diagnosed(binaries: PgBinaries) {
    let major = binaries.major();
    let pg = TempPostgres::builder()
        .binaries(binaries)
        .max_connections(30)
        .setting("track_io_timing", "on")
        .start()
        .expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        admin
            .batch_execute(
                "CREATE TABLE dup (a int, b int); CREATE INDEX dup_a ON dup (a); \
                 CREATE INDEX dup_a_b ON dup (a, b); \
                 CREATE TABLE small (id smallserial PRIMARY KEY); \
                 SELECT setval('small_id_seq', 32000); \
                 INSERT INTO dup VALUES (1, 1), (1, 2);",
            )
            .await
            .expect("schema");
        // An invalid index: a unique index built concurrently over duplicates fails and stays.
        let failed = admin
            .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY dup_a_unique ON dup (a)")
            .await;
        assert!(failed.is_err());

        // Three idle application connections.
        let mut idle = Vec::new();
        for _ in 0..3 {
            idle.push(connect(&pg, "app", APP_PASSWORD, "api").await);
        }
        // A running pg_sleep.
        let sleeper = connect(&pg, "app", APP_PASSWORD, "worker").await;
        let sleeper_pid = pid_of(&sleeper).await;
        let sleeping = tokio::spawn(async move {
            let r = sleeper.batch_execute("SELECT pg_sleep(30)").await;
            (sleeper, r)
        });
        // An idle-in-transaction session.
        let leaker = connect(&pg, "app", APP_PASSWORD, "billing").await;
        let leaker_pid = pid_of(&leaker).await;
        leaker
            .batch_execute("BEGIN; SELECT 1")
            .await
            .expect("begin");
        // A three-level lock chain: s1 holds row 1; s2 holds row 2 and waits for row 1;
        // s3 waits for row 2.
        let s1 = connect(&pg, "app", APP_PASSWORD, "chain").await;
        let s2 = connect(&pg, "app", APP_PASSWORD, "chain").await;
        let s3 = connect(&pg, "app", APP_PASSWORD, "chain").await;
        let (p1, p2, p3) = (pid_of(&s1).await, pid_of(&s2).await, pid_of(&s3).await);
        s1.batch_execute("BEGIN; UPDATE t SET v = 100 WHERE id = 1")
            .await
            .expect("s1");
        s2.batch_execute("BEGIN; UPDATE t SET v = 200 WHERE id = 2")
            .await
            .expect("s2");
        let w2 = tokio::spawn(async move {
            let r = s2.batch_execute("UPDATE t SET v = 201 WHERE id = 1").await;
            (s2, r)
        });
        let w3 = tokio::spawn(async move {
            let r = s3.batch_execute("UPDATE t SET v = 300 WHERE id = 2").await;
            (s3, r)
        });
        eventually("both chain sessions wait on locks", || {
            let admin = &admin;
            async move { count(admin, "wait_event_type = 'Lock'").await == 2 }
        })
        .await;
        eventually("pg_sleep is running", || {
            let admin = &admin;
            async move {
                count(
                    admin,
                    "state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'",
                )
                .await
                    == 1
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        // A replication slot nobody consumes, a sort that spills to a temporary file, and a
        // deadlock.
        admin
            .batch_execute("SELECT pg_create_physical_replication_slot('stale', true)")
            .await
            .expect("slot");
        admin
            .batch_execute(
                "SET work_mem = '64kB'; SELECT count(*) FROM (SELECT g FROM \
                 generate_series(1, 100000) g ORDER BY g DESC) s; RESET work_mem",
            )
            .await
            .expect("spilling sort");
        let da = connect(&pg, "app", APP_PASSWORD, "deadlock").await;
        let db = connect(&pg, "app", APP_PASSWORD, "deadlock").await;
        da.batch_execute("BEGIN; UPDATE t SET v = 0 WHERE id = 3")
            .await
            .expect("da");
        db.batch_execute("BEGIN; UPDATE t SET v = 0 WHERE id = 4")
            .await
            .expect("db");
        let first = tokio::spawn(async move {
            let r = da.batch_execute("UPDATE t SET v = 1 WHERE id = 4").await;
            (da, r)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = db.batch_execute("UPDATE t SET v = 1 WHERE id = 3").await;
        let (da, first) = first.await.expect("join");
        let deadlocked = [&first, &second]
            .iter()
            .filter(|r| r.as_ref().err().and_then(|e| e.code()).map(|c| c.code()) == Some("40P01"))
            .count();
        assert_eq!(deadlocked, 1, "one side is the deadlock victim");
        da.batch_execute("ROLLBACK").await.expect("rollback");
        db.batch_execute("ROLLBACK").await.expect("rollback");
        drop((da, db));
        eventually("the deadlock sessions are gone", || {
            let admin = &admin;
            async move { count(admin, "application_name = 'deadlock'").await == 0 }
        })
        .await;
        eventually("the deadlock and the temp file are counted", || {
            let admin = &admin;
            async move {
                let row = admin
                    .query_one(
                        "SELECT deadlocks, temp_files FROM pg_stat_database \
                         WHERE datname = current_database()",
                        &[],
                    )
                    .await
                    .expect("stats");
                row.get::<_, i64>(0) >= 1 && row.get::<_, i64>(1) >= 1
            }
        })
        .await;

        let diag = superuser_diag(&pg);
        let snap = diag.snapshot().await.expect("snapshot");
        assert_eq!(snap.identity.major, major);
        assert!(snap.identity.superuser && snap.identity.can_use_reserved_slots);
        assert_eq!(
            snap.cost.round_trips, 1,
            "the probe and every report in one statement (pg_stat_statements not installed)"
        );
        assert_eq!(snap.cost.connections_used, 1);

        // Connections: 3 api + worker + billing + 3 chain + admin + our own = 10.
        let c = &snap.connections;
        assert_eq!(c.total, 10, "{c:?}");
        assert_eq!(c.by_application.get("api"), Some(&3));
        assert_eq!(c.by_application.get("chain"), Some(&3));
        assert_eq!(c.by_user.get("app"), Some(&8));
        assert_eq!(c.max_connections, 30);
        assert_eq!(c.usable, 30 - c.superuser_reserved - c.reserved);
        assert_eq!(c.slots_left, i64::from(c.usable) - 10);
        assert!(c.complete);
        assert!(c.by_state.idle >= 4, "{:?}", c.by_state);
        assert_eq!(c.by_state.idle_in_transaction, 2, "billing and s1");

        // Active queries and long-running work.
        let sleeping_q = snap
            .active_queries
            .iter()
            .find(|s| s.pid == sleeper_pid)
            .expect("pg_sleep listed as active");
        assert_eq!(sleeping_q.application.as_deref(), Some("worker"));
        assert!(
            sleeping_q
                .query
                .as_deref()
                .is_some_and(|q| q.contains("pg_sleep"))
        );
        assert!(
            sleeping_q
                .query_age
                .is_some_and(|a| a >= Duration::from_millis(200))
        );
        assert!(
            snap.long_running
                .queries
                .iter()
                .any(|s| s.pid == sleeper_pid)
        );
        assert!(snap.long_running.transactions.iter().any(|s| s.pid == p1));

        // Leak suspects, grouped by application.
        let billing = snap
            .leak_suspects
            .iter()
            .find(|g| g.application == "billing")
            .expect("billing suspected");
        assert_eq!(billing.pids, vec![leaker_pid]);
        assert_eq!(billing.users, vec!["app".to_owned()]);

        // The blocking tree: s1 -> s2 -> s3.
        let b = &snap.blocking;
        assert_eq!(b.waiting_sessions, 2);
        assert_eq!(b.roots.len(), 1, "{b:?}");
        let root = &b.roots[0];
        assert_eq!(root.pid, p1);
        assert_eq!(root.blocked.len(), 1);
        assert_eq!(root.blocked[0].pid, p2);
        assert_eq!(root.blocked[0].blocked[0].pid, p3);
        assert_eq!(pids_in(root), vec![p1, p2, p3]);
        if major >= 14 {
            assert!(
                root.blocked[0]
                    .waiting
                    .is_some_and(|w| w >= Duration::from_millis(200))
            );
        } else {
            assert_eq!(root.blocked[0].waiting, None, "no waitstart before 14");
        }
        assert!(b.cycles.is_empty());

        // pg_stat_statements: preloaded, extension not created yet.
        assert_eq!(
            snap.statements,
            StatementsReport::Unavailable {
                reason: StatementsUnavailable::NotInstalled { available: true }
            }
        );

        // Health.
        let h = &snap.health;
        assert!(
            h.version.contains(&format!("PostgreSQL {major}")),
            "{}",
            h.version
        );
        assert!(!h.in_recovery);
        assert!(
            h.databases
                .iter()
                .any(|d| d.name == "postgres" && d.size_bytes.is_some())
        );
        assert!(h.min_xids_left > 2_000_000_000);
        assert!(h.cache_hit_ratio.is_some_and(|r| r > 0.0 && r <= 1.0));
        let seq = h
            .sequences_near_exhaustion
            .iter()
            .find(|s| s.name == "small_id_seq")
            .expect("smallserial near its end");
        assert_eq!(
            seq.max_value, 32767,
            "the column type's limit, not the sequence's"
        );
        assert_eq!(seq.column.as_deref(), Some("public.small.id"));
        assert!(seq.used_fraction > 0.97);
        assert!(
            h.invalid_indexes
                .iter()
                .any(|i| i.index == "dup_a_unique" && !i.being_built)
        );
        assert!(
            h.duplicate_indexes
                .iter()
                .any(|i| i.index == "dup_a" && i.covered_by.as_deref() == Some("dup_a_b"))
        );
        assert!(!h.duplicate_indexes.iter().any(|i| i.index == "dup_a_b"));
        let slot = h
            .replication_slots
            .iter()
            .find(|s| s.name == "stale")
            .expect("the slot is listed");
        assert!(!slot.active && slot.slot_type == "physical");
        assert!(slot.retained_bytes.is_some_and(|b| b >= 0));
        assert!(h.replicas.is_empty());
        assert!(
            h.deadlocks >= 1 && h.temp_files >= 1 && h.temp_bytes > 0,
            "{h:?}"
        );
        assert_eq!(h.replay_lag, None);

        // Pool health after one snapshot.
        assert_eq!(snap.pool.max_size, 1);
        assert_eq!(snap.pool.too_many_connections, 0);

        // A role without pg_monitor: the count stays right, and the report says it is partial.
        let nomon = PgClient::new(options(&pg, "nomon", APP_PASSWORD)).expect("options");
        let partial = nomon.connection_summary().await.expect("summary as nomon");
        // Everything the superuser saw, plus the superuser's pooled connection.
        assert_eq!(partial.total, c.total + 1, "{partial:?}");
        assert!(!partial.complete);
        assert!(partial.by_state.hidden >= 10);
        assert!(
            partial
                .warnings
                .iter()
                .any(|w| w.contains("pg_read_all_stats"))
        );
        // With pg_monitor the same view is complete.
        let monitor = PgClient::new(options(&pg, "monitor", APP_PASSWORD)).expect("options");
        let full = monitor
            .connection_summary()
            .await
            .expect("summary as monitor");
        assert!(full.complete && full.by_state.hidden == 0, "{full:?}");
        assert_eq!(full.total, c.total + 2);

        // pg_stat_statements once installed: the slow statement is found with the SQL of this
        // server's version.
        admin
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .expect("extension");
        let app = connect(&pg, "app", APP_PASSWORD, "reports").await;
        for _ in 0..4 {
            app.batch_execute("SELECT pg_sleep(0.03)")
                .await
                .expect("sleep");
        }
        match diag.slow_queries().await.expect("slow queries") {
            StatementsReport::Available { top } => {
                let s = top
                    .iter()
                    .find(|s| s.query.contains("pg_sleep") && s.calls == 4)
                    .unwrap_or_else(|| panic!("pg_sleep(0.03) in {top:#?}"));
                assert!(s.mean_time >= Duration::from_millis(30), "{s:?}");
                assert!(s.slow, "over 20 ms mean and 3 calls");
                assert_eq!(s.user.as_deref(), Some("app"));
            }
            other => panic!("expected statements, got {other:?}"),
        }
        // Now that the view is known to be readable, a snapshot (on the reused, prepared
        // connection) takes it in the same single statement.
        // The first prepares the statement (one more round trip), the second reuses it.
        for trips in [2, 1] {
            let snap = diag.snapshot().await.expect("snapshot");
            assert_eq!(snap.cost.round_trips, trips);
            assert!(
                matches!(&snap.statements, StatementsReport::Available { top } if !top.is_empty()),
                "{:?}",
                snap.statements
            );
        }
        admin
            .batch_execute("ALTER SYSTEM SET pg_stat_statements.track = 'none'")
            .await
            .expect("tracking off");
        admin
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .expect("reload");
        eventually("tracking off is reported", || {
            let diag = &diag;
            async move {
                matches!(
                    diag.slow_queries().await,
                    Ok(StatementsReport::Unavailable {
                        reason: StatementsUnavailable::TrackingOff
                    })
                )
            }
        })
        .await;

        // Let the waiters go.
        drop(s1);
        let (s2, r2) = w2.await.expect("join");
        assert!(r2.is_ok());
        s2.batch_execute("COMMIT").await.expect("s2 commits");
        let (_s3, r3) = w3.await.expect("join");
        assert!(r3.is_ok());
        admin
            .query_one("SELECT pg_cancel_backend($1)", &[&sleeper_pid])
            .await
            .expect("cancel sleep");
        let (_sleeper, r) = sleeping.await.expect("join");
        assert!(r.is_err());
        drop(idle);
    });

    // pg_stat_statements not preloaded at all.
    let pg2 = TempPostgres::builder()
        .binaries(pg.binaries().clone())
        .pg_stat_statements(false)
        .start()
        .expect("server starts");
    drop(pg);
    block_on(async {
        let diag = superuser_diag(&pg2);
        assert_eq!(
            diag.slow_queries().await.expect("report"),
            StatementsReport::Unavailable {
                reason: StatementsUnavailable::NotPreloaded
            }
        );
    });
}

fn full_server_is_diagnosed_through_a_reserved_slot(binaries: PgBinaries) {
    let major = binaries.major();
    let mut builder = TempPostgres::builder()
        .binaries(binaries)
        .max_connections(8)
        .superuser_reserved_connections(1);
    if major >= 16 {
        builder = builder.setting("reserved_connections", "1");
    }
    let pg = builder.start().expect("server starts");
    block_on(async {
        let admin = admin(&pg).await;
        create_roles(&admin).await;
        if major >= 16 {
            admin
                .batch_execute("GRANT pg_use_reserved_connections TO monitor")
                .await
                .expect("grant");
        }
        // nomon learns it has no reserved slot while the server still has room.
        let nomon = PgClient::new(options(&pg, "nomon", APP_PASSWORD)).expect("options");
        nomon.connection_summary().await.expect("room left");
        let nomon_pid: i32 = admin
            .query_one(
                "SELECT pid FROM pg_stat_activity WHERE usename = 'nomon'",
                &[],
            )
            .await
            .expect("nomon's pooled connection")
            .get(0);
        drop(admin);
        // Fill every ordinary slot with the application.
        let mut held = Vec::new();
        loop {
            match try_connect(&pg, "app", APP_PASSWORD, "api").await {
                Ok(c) => held.push(c),
                Err(e) => {
                    assert_eq!(
                        e.code().map(|c| c.code()),
                        Some("53300"),
                        "refused as too many connections: {e}"
                    );
                    break;
                }
            }
            assert!(held.len() < 10, "the server never filled up");
        }
        // The application's pool gets the typed error.
        let app = PgClient::new(options(&pg, "app", APP_PASSWORD)).expect("options");
        let err = app.snapshot().await.expect_err("server is full");
        assert_eq!(err.kind(), ErrorKind::TooManyConnections, "{err}");
        assert_eq!(err.sqlstate(), Some("53300"));
        assert!(err.is_transient());
        assert_eq!(app.pool_health().too_many_connections, 1);

        // The superuser diagnoses through its reserved slot.
        let diag = superuser_diag(&pg);
        if major >= 16 {
            // monitor takes the pg_use_reserved_connections slot first.
            let monitor = PgClient::new(options(&pg, "monitor", APP_PASSWORD)).expect("options");
            let snap = monitor
                .snapshot()
                .await
                .expect("monitor uses a reserved slot");
            assert!(snap.identity.can_use_reserved_slots && !snap.identity.superuser);
        }
        let snap = diag
            .snapshot()
            .await
            .expect("superuser uses its reserved slot");
        let c = &snap.connections;
        assert!(c.slots_left <= 0, "{c:?}");
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("usable connection slots") || w.contains("reserved slots"))
        );
        assert_eq!(
            c.by_application.get("api").copied(),
            Some(held.len() as u32)
        );

        // nomon's pooled connection dies; it cannot open another and says plainly that it has
        // no reserved slot.
        let request = fleet_db::Request::execute("test", "free a slot").expect("request");
        fleet_db::Remediation::terminate_backend(&diag, nomon_pid, &request)
            .await
            .expect("terminate nomon's connection");
        eventually("nomon's connection is gone", || {
            let diag = &diag;
            async move {
                diag.sessions()
                    .await
                    .is_ok_and(|s| !s.iter().any(|s| s.pid == nomon_pid))
            }
        })
        .await;
        // Reserved slots are counted as free processes: with the superuser's connection in
        // place, the slot nomon gave up is only usable by the reserve's owners.
        let err = nomon
            .connection_summary()
            .await
            .expect_err("no slot for nomon");
        match &err {
            fleet_db::Error::TooManyConnections { reserved_slot, .. } => {
                assert_eq!(*reserved_slot, ReservedSlot::NotEligible);
            }
            other => panic!("expected too many connections, got {other:?}"),
        }
        assert!(
            err.to_string().contains("cannot use reserved slots"),
            "{err}"
        );
        drop(held);
    });
}
