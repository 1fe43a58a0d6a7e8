//! Logical database backups against real servers: pg_dump's version checked against the
//! server's, row counts taken in the dump's own snapshot while writes go on, restore into a new
//! database validated against them, the guards around restoring over the source, and the
//! servers of the version matrix (12, the system's, 17).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fleet_backup::{
    BackupRequest, DatabaseRestoreOptions, DatabaseSource, PgTarget, PgTools, backup_now,
    restore_database,
};
use fleet_guard::Mode;
use fleet_testkit::postgres::{PgBinaries, PgClientTools, TempPostgres, version_matrix};

use crate::common::{block_on, keys, local_store, pg_client, run, tools};

/// A small schema with awkward names, a partitioned table and a sequence.
pub(crate) const SCHEMA: &str = r#"
    CREATE SCHEMA fleet;
    CREATE TABLE fleet.vehicles (id bigserial PRIMARY KEY, vin text NOT NULL, seen timestamptz DEFAULT now());
    INSERT INTO fleet.vehicles (vin) SELECT 'VIN' || g FROM generate_series(1, 5000) g;
    CREATE TABLE fleet."Work Orders" (id int PRIMARY KEY, note text);
    INSERT INTO fleet."Work Orders" SELECT g, repeat('x', g % 50) FROM generate_series(1, 321) g;
    CREATE TABLE public.readings (at date NOT NULL, v int) PARTITION BY RANGE (at);
    CREATE TABLE public.readings_2025 PARTITION OF public.readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE public.readings_2026 PARTITION OF public.readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    INSERT INTO public.readings SELECT date '2025-06-01' + (g % 400), g FROM generate_series(1, 2000) g;
    CREATE TABLE public.empty_table (id int);
"#;

fn target(pg: &TempPostgres, db: &str) -> PgTarget {
    PgTarget::new(pg.url_for(pg.user(), pg.password(), db)).with_server_name("fleet-postgres-test")
}

#[test]
fn backup_counts_in_the_dump_snapshot_then_restores_into_a_new_database_and_validates() {
    let pg = TempPostgres::builder()
        .max_connections(30)
        .start()
        .expect("server");
    let tools = tools();
    block_on(async {
        let admin = pg_client(&pg, "postgres").await;
        admin
            .batch_execute("CREATE DATABASE fleetdb")
            .await
            .expect("db");
        let app = pg_client(&pg, "fleetdb").await;
        app.batch_execute(SCHEMA).await.expect("schema");
        // Enough data for the dump to take a moment.
        app.batch_execute(
            "CREATE TABLE public.telemetry (id bigserial PRIMARY KEY, payload text); \
             INSERT INTO public.telemetry (payload) SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 200000) g;",
        )
        .await
        .expect("telemetry");

        // Writes go on during the backup.
        let writing = Arc::new(AtomicBool::new(true));
        let w = writing.clone();
        let writer_client = pg_client(&pg, "fleetdb").await;
        let writer = tokio::spawn(async move {
            let mut n = 0u64;
            while w.load(Ordering::Relaxed) {
                writer_client
                    .batch_execute("INSERT INTO fleet.vehicles (vin) VALUES ('late'); INSERT INTO public.telemetry (payload) VALUES ('late')")
                    .await
                    .expect("insert");
                n += 1;
            }
            n
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;

        let (_dir, store) = local_store();
        let (ids, recipients) = keys();
        let r = run(Mode::Execute, None);
        let report = backup_now(
            &r.executor,
            &store,
            BackupRequest::new("db-1", recipients)
                .with_database(DatabaseSource::new(target(&pg, "fleetdb"), tools.clone())),
        )
        .await
        .expect("backup");
        writing.store(false, Ordering::Relaxed);
        let inserted = writer.await.expect("writer");
        assert!(inserted > 0, "writes ran during the backup");

        let m = report.manifest.expect("committed");
        let db = m.database.as_ref().expect("database part");
        assert_eq!(db.database, "fleetdb");
        assert_eq!(db.server, "fleet-postgres-test");
        assert_eq!(pg.major(), db.server_major);
        assert!(
            db.pg_dump_version.starts_with("18"),
            "{}",
            db.pg_dump_version
        );
        assert!(db.system_identifier.is_some());
        assert!(!db.snapshot.is_empty());
        let rows = |s: &str, t: &str| {
            db.tables
                .iter()
                .find(|x| x.schema == s && x.table == t)
                .map(|x| x.rows)
        };
        assert_eq!(rows("fleet", "Work Orders"), Some(321));
        assert_eq!(
            rows("public", "readings_2025")
                .zip(rows("public", "readings_2026"))
                .map(|(a, b)| a + b),
            Some(2000)
        );
        assert_eq!(rows("public", "empty_table"), Some(0));
        assert!(
            rows("public", "readings").is_none(),
            "a partitioned parent has no rows of its own"
        );
        let vehicles = rows("fleet", "vehicles").expect("counted");
        assert!(vehicles >= 5000);
        let artifact = &m.artifacts[0];
        assert!(
            artifact.size > 0 && artifact.content_size > artifact.size,
            "compressed: {artifact:?}"
        );
        assert_eq!(m.encryption.recipients, ids.public().to_strings());
        // Progress was reported in bytes.
        assert!(r.progress.events().iter().any(|e| matches!(e, fleet_guard::ProgressEvent::Advanced { step, unit, .. } if step == "dump-database" && unit == "bytes")));

        // Restore into a new database: validated against the counts taken in the snapshot, so
        // the rows written during the dump must not be there.
        let server = target(&pg, "postgres");
        let exec = run(Mode::Execute, Some("fleetdb_restored"));
        let restored = restore_database(
            &exec.executor,
            &store,
            "db-1",
            &ids,
            &server,
            &DatabaseRestoreOptions::new("fleetdb_restored").with_tools(tools.clone()),
        )
        .await
        .expect("restore and validation");
        assert!(restored.applied);
        assert_eq!(restored.tables_checked, db.tables.len());
        let check = pg_client(&pg, "fleetdb_restored").await;
        let n: i64 = check
            .query_one("SELECT count(*) FROM fleet.vehicles", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(u64::try_from(n).ok(), Some(vehicles));
        let live: i64 = app
            .query_one("SELECT count(*) FROM fleet.vehicles", &[])
            .await
            .expect("count")
            .get(0);
        assert!(live > n, "the source kept growing after the snapshot");
        let next: i64 = check
            .query_one("SELECT nextval('fleet.vehicles_id_seq')", &[])
            .await
            .expect("sequence")
            .get(0);
        assert!(next > 5000, "sequences restored");

        // The same name again: it exists now.
        let again = restore_database(
            &run(Mode::Execute, Some("fleetdb_restored")).executor,
            &store,
            "db-1",
            &ids,
            &server,
            &DatabaseRestoreOptions::new("fleetdb_restored").with_tools(tools.clone()),
        )
        .await
        .expect_err("exists");
        assert!(again.is_conflict(), "{again}");

        // Over the source: refused unless forced, and then only with the database's name.
        let over = restore_database(
            &run(Mode::Execute, Some("fleetdb")).executor,
            &store,
            "db-1",
            &ids,
            &server,
            &DatabaseRestoreOptions::new("fleetdb").with_tools(tools.clone()),
        )
        .await
        .expect_err("the source");
        assert!(over.is_refused(), "{over}");
        let unconfirmed = restore_database(
            &run(Mode::Execute, Some("fleetdb_restored")).executor,
            &store,
            "db-1",
            &ids,
            &server,
            &DatabaseRestoreOptions::new("fleetdb")
                .with_tools(tools.clone())
                .with_force_over_source(true),
        )
        .await
        .expect_err("wrong word");
        assert!(unconfirmed.is_refused(), "{unconfirmed}");
        let forced = restore_database(
            &run(Mode::Execute, Some("fleetdb")).executor,
            &store,
            "db-1",
            &ids,
            &server,
            &DatabaseRestoreOptions::new("fleetdb")
                .with_tools(tools.clone())
                .with_force_over_source(true),
        )
        .await
        .expect("forced over the source");
        assert!(forced.applied);
        let back: i64 = app
            .query_one("SELECT count(*) FROM fleet.vehicles", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(
            u64::try_from(back).ok(),
            Some(vehicles),
            "the source is back at the snapshot"
        );

        // A dry run checks and plans, and creates nothing.
        let dry = run(Mode::DryRun, None);
        let planned = restore_database(
            &dry.executor,
            &store,
            "db-1",
            &ids,
            &server,
            &DatabaseRestoreOptions::new("never_created").with_tools(tools.clone()),
        )
        .await
        .expect("dry run");
        assert!(!planned.applied);
        let exists: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'never_created')",
                &[],
            )
            .await
            .expect("query")
            .get(0);
        assert!(!exists);
    });
}

#[test]
fn pg_dump_older_than_the_server_is_refused_naming_the_binary_needed() {
    let system = PgClientTools::system().expect("the system's pg_dump");
    let newer_major = if system.major() < 17 { 17 } else { 18 };
    let newer = PgBinaries::npm(newer_major).expect("a newer server build");
    let pg = TempPostgres::builder()
        .binaries(newer)
        .start()
        .expect("server");
    let old_tools = PgTools::in_dir(system.bindir());
    block_on(async {
        let (_dir, store) = local_store();
        let (_ids, recipients) = keys();
        let e = backup_now(
            &run(Mode::Execute, None).executor,
            &store,
            BackupRequest::new("too-old", recipients)
                .with_database(DatabaseSource::new(target(&pg, "postgres"), old_tools)),
        )
        .await
        .expect_err("pg_dump too old");
        assert!(e.is_tool(), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("pg_dump {}", system.version()))
                && text.contains(&format!("use pg_dump {} or newer", pg.major())),
            "{text}"
        );
        assert!(store_is_empty(&store).await, "nothing written");
    });
}

async fn store_is_empty(store: &fleet_backup::BackupStore) -> bool {
    fleet_backup::list_backups(
        store,
        &fleet_policy::Policy::default(),
        jiff::Timestamp::now(),
    )
    .await
    .expect("list")
    .is_empty()
}

#[test]
fn every_server_of_the_matrix_backs_up_and_restores_with_pg_dump_18() {
    let tools = tools();
    for binaries in version_matrix().expect("version matrix") {
        let major = binaries.major();
        let pg = TempPostgres::builder()
            .binaries(binaries)
            .start()
            .expect("server");
        block_on(async {
            let admin = pg_client(&pg, "postgres").await;
            admin
                .batch_execute("CREATE DATABASE src")
                .await
                .expect("db");
            pg_client(&pg, "src")
                .await
                .batch_execute(SCHEMA)
                .await
                .expect("schema");
            let (_dir, store) = local_store();
            let (ids, recipients) = keys();
            backup_now(
                &run(Mode::Execute, None).executor,
                &store,
                BackupRequest::new("m", recipients)
                    .with_database(DatabaseSource::new(target(&pg, "src"), tools.clone())),
            )
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL {major}: backup: {e}"));
            restore_database(
                &run(Mode::Execute, Some("dst")).executor,
                &store,
                "m",
                &ids,
                &target(&pg, "postgres"),
                &DatabaseRestoreOptions::new("dst").with_tools(tools.clone()),
            )
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL {major}: restore: {e}"));
        });
    }
}
