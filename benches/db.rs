//! fleet-db: a full diagnostics snapshot of a server with 500 open client connections, side by
//! side with `psql` running the runbook's raw queries
//! (`SELECT COUNT(*) FROM pg_stat_activity;` and
//! `SELECT * FROM pg_stat_activity WHERE state = 'active';`).
//!
//! Run: `cargo bench -p fleet-benches --bench db`. Needs PostgreSQL server binaries and `psql`
//! (Debian: `postgresql`, `postgresql-client`).
#![allow(clippy::print_stdout)] // A benchmark reports on the terminal.

use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fleet_db::{DbOptions, Diagnostics, PgClient, TlsMode};
use fleet_testkit::postgres::TempPostgres;
use tokio::runtime::Runtime;
use tokio_postgres::{CancelToken, Client, NoTls};

const OPEN_CONNECTIONS: usize = 500;
const RUNNING: usize = 5;

async fn client(pg: &TempPostgres, application: &str) -> Client {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host_path(pg.socket_dir())
        .port(pg.port())
        .user(pg.user())
        .dbname("postgres")
        .application_name(application);
    let (client, conn) = cfg.connect(NoTls).await.expect("client connects");
    tokio::spawn(conn);
    client
}

/// 500 client connections: 5 running a long `pg_sleep`, 15 idle in a transaction, the rest
/// idle. Returns the idle clients (kept open) and cancel tokens for the running ones.
async fn load(pg: &TempPostgres) -> (Vec<Client>, Vec<CancelToken>) {
    let mut tokens = Vec::new();
    for _ in 0..RUNNING {
        let c = client(pg, "worker").await;
        tokens.push(c.cancel_token());
        tokio::spawn(async move {
            let _ = c.batch_execute("SELECT pg_sleep(3600)").await;
        });
    }
    let mut idle = Vec::new();
    for i in 0..OPEN_CONNECTIONS - RUNNING {
        let c = client(pg, if i % 3 == 0 { "billing" } else { "api" }).await;
        if i % 33 == 0 {
            c.batch_execute("BEGIN; SELECT 1").await.expect("begin");
        }
        idle.push(c);
    }
    (idle, tokens)
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let pg = TempPostgres::builder()
        .max_connections(OPEN_CONNECTIONS as u32 + 20)
        .start()
        .expect("PostgreSQL server starts");
    let (idle, running) = rt.block_on(load(&pg));

    let options = DbOptions::from_url(pg.url()).with_tls_mode(TlsMode::Disable);
    let diag = PgClient::new(options.clone()).expect("options");
    let first = rt.block_on(diag.snapshot()).expect("snapshot");
    println!(
        "snapshot sees {} client connections ({} active, {} idle in transaction); \
         {} round trips, {} connection used",
        first.connections.total,
        first.connections.by_state.active,
        first.connections.by_state.idle_in_transaction,
        first.cost.round_trips,
        first.cost.connections_used,
    );
    assert!(first.connections.total as usize > OPEN_CONNECTIONS);

    let mut group = c.benchmark_group("db_snapshot_500_connections");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("fleet-db snapshot, pooled connection", |b| {
        b.iter(|| rt.block_on(diag.snapshot()).expect("snapshot"));
    });
    group.bench_function("fleet-db snapshot, new pool (connect + snapshot)", |b| {
        b.iter(|| {
            let fresh = PgClient::new(options.clone()).expect("options");
            rt.block_on(fresh.snapshot()).expect("snapshot")
        });
    });
    group.bench_function("psql, the runbook's two raw queries", |b| {
        b.iter(|| {
            let out = Command::new("psql")
                .args(["-X", "-q", "-h", "127.0.0.1", "-p"])
                .arg(pg.port().to_string())
                .args(["-U", pg.user(), "-d", "postgres"])
                .args(["-c", "SELECT COUNT(*) FROM pg_stat_activity;"])
                .args([
                    "-c",
                    "SELECT * FROM pg_stat_activity WHERE state = 'active';",
                ])
                .env("PGPASSWORD", pg.password())
                .output()
                .expect("psql runs");
            assert!(out.status.success(), "psql failed");
            out.stdout.len()
        });
    });
    group.finish();

    // Server-side check of "one connection": every snapshot above reused the same backend.
    let others = rt
        .block_on(diag.sessions())
        .expect("sessions")
        .iter()
        .filter(|s| s.application.as_deref() == Some("fleet-db"))
        .count();
    println!(
        "fleet-db connections open on the server besides the asking one: {others} \
         (the fresh pools of the second benchmark are closed)"
    );
    for token in running {
        let _ = rt.block_on(token.cancel_query(NoTls));
    }
    drop(idle);
}

criterion_group!(benches, bench);
criterion_main!(benches);
