//! fleet-db: a full diagnostics snapshot of a server with 500 open client connections, side by
//! side with `psql` running the runbook's raw queries
//! (`SELECT COUNT(*) FROM pg_stat_activity;` and
//! `SELECT * FROM pg_stat_activity WHERE state = 'active';`), then where the time goes:
//! connecting (TCP, start-up, SCRAM), TLS, one round trip, the server's planning and execution
//! of the snapshot statement (from `pg_stat_statements` with `track_planning`), and the rest
//! (client-side decoding and analysis).
//!
//! Run: `cargo bench -p fleet-benches --bench db`. Needs PostgreSQL server binaries and `psql`
//! (Debian: `postgresql`, `postgresql-client`).
#![allow(clippy::print_stdout)] // A benchmark reports on the terminal.

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fleet_db::{DbOptions, Diagnostics, PgClient, TlsMode};
use fleet_testkit::postgres::TempPostgres;
use tokio::runtime::Runtime;
use tokio_postgres::{CancelToken, Client, NoTls};

const OPEN_CONNECTIONS: usize = 500;
const RUNNING: usize = 5;

async fn client(pg: &TempPostgres, application: &str, db: &str) -> Client {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host_path(pg.socket_dir())
        .port(pg.port())
        .user(pg.user())
        .dbname(db)
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
        let c = client(pg, "worker", "postgres").await;
        tokens.push(c.cancel_token());
        tokio::spawn(async move {
            let _ = c.batch_execute("SELECT pg_sleep(3600)").await;
        });
    }
    let mut idle = Vec::new();
    for i in 0..OPEN_CONNECTIONS - RUNNING {
        let app = if i % 3 == 0 { "billing" } else { "api" };
        let c = client(pg, app, "postgres").await;
        if i % 33 == 0 {
            c.batch_execute("BEGIN; SELECT 1").await.expect("begin");
        }
        idle.push(c);
    }
    (idle, tokens)
}

/// Median of `n` timed runs.
fn median(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..n).map(|_| f()).collect();
    v.sort();
    v[n / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let pg = TempPostgres::builder()
        .max_connections(OPEN_CONNECTIONS as u32 + 20)
        .setting("pg_stat_statements.track_planning", "on")
        .start()
        .expect("PostgreSQL server starts");
    // The statistics view lives in its own database, so the snapshot (in `postgres`) does not
    // itself read pg_stat_statements; the statistics still cover every database.
    let stats = rt.block_on(async {
        let admin = client(&pg, "bench-admin", "postgres").await;
        admin
            .batch_execute("CREATE DATABASE bench_stats")
            .await
            .expect("stats database");
        let stats = client(&pg, "bench-stats", "bench_stats").await;
        stats
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .expect("extension");
        stats
    });
    let (idle, running) = rt.block_on(load(&pg));

    let options = DbOptions::from_url(pg.url()).with_tls_mode(TlsMode::Disable);
    let diag = PgClient::new(options.clone()).expect("options");
    let first = rt.block_on(diag.snapshot()).expect("snapshot");
    println!(
        "snapshot sees {} client connections ({} active, {} idle in transaction); \
         {} round trip(s), {} connection used",
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

    breakdown(&rt, &options, &diag, &stats);

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

/// Where the time of a snapshot goes, each part measured on its own (medians of 30).
fn breakdown(rt: &Runtime, options: &DbOptions, diag: &PgClient, stats: &Client) {
    const N: usize = 30;
    let connect = median(N, || {
        let fresh = PgClient::new(options.clone()).expect("options");
        let started = Instant::now();
        rt.block_on(fresh.ping()).expect("ping");
        started.elapsed()
    });
    let round_trip = median(N, || {
        let started = Instant::now();
        rt.block_on(diag.ping()).expect("ping");
        started.elapsed()
    });
    let pooled = median(N, || {
        let started = Instant::now();
        rt.block_on(diag.snapshot()).expect("snapshot");
        started.elapsed()
    });
    let cold = median(N, || {
        let fresh = PgClient::new(options.clone()).expect("options");
        let started = Instant::now();
        rt.block_on(fresh.snapshot()).expect("snapshot");
        started.elapsed()
    });
    // TLS: the same connection to a second server that offers TLS, with and without it.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let tls_pg = TempPostgres::builder()
        .tls(cert.cert.pem(), cert.signing_key.serialize_pem())
        .start()
        .expect("TLS server");
    let url = format!(
        "postgresql://{}:{}@localhost:{}/postgres",
        tls_pg.user(),
        tls_pg.password(),
        tls_pg.port()
    );
    let with_tls = DbOptions::from_url(url.clone())
        .with_tls_mode(TlsMode::Require)
        .with_extra_roots_pem(cert.cert.pem().into_bytes());
    let without_tls = DbOptions::from_url(url).with_tls_mode(TlsMode::Disable);
    let connect_time = |o: &DbOptions| {
        median(N, || {
            let fresh = PgClient::new(o.clone()).expect("options");
            let started = Instant::now();
            rt.block_on(fresh.ping()).expect("ping");
            started.elapsed()
        })
    };
    let plain_connect = connect_time(&without_tls);
    let tls_connect = connect_time(&with_tls);
    drop(tls_pg);

    // The server's own account of the snapshot statement (planning only when a plan was made:
    // once per new connection, never for a cached plan). The statement may start with the
    // shared activity read (`WITH fleet_activity AS MATERIALIZED (...)`); the text shown starts
    // at its outer SELECT, which names the parts.
    let rows = rt
        .block_on(stats.query(
            "SELECT s.calls, s.plans, s.mean_exec_time, s.mean_plan_time, \
             left(regexp_replace(substr(s.query, strpos(s.query, 'SELECT json_build_object(')), \
             '\\s+', ' ', 'g'), 60) \
             FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
             WHERE d.datname = 'postgres' \
             AND (s.query LIKE 'SELECT json_build_object(%' \
             OR s.query LIKE 'WITH fleet_activity AS MATERIALIZED %') \
             AND s.query LIKE '%json_build_object($_, json_build_object(%' \
             ORDER BY s.calls DESC",
            &[],
        ))
        .expect("pg_stat_statements");
    println!("\nwhere the time goes (medians of {N}, one run, this machine):");
    println!(
        "  new connection + one round trip (TCP, start-up, SCRAM, fork): {}",
        ms(connect)
    );
    println!(
        "  of which TLS (same server, TLS vs plain): {} vs {} = +{}",
        ms(tls_connect),
        ms(plain_connect),
        ms(tls_connect.saturating_sub(plain_connect))
    );
    println!(
        "  one round trip on a pooled connection (ping): {}",
        ms(round_trip)
    );
    println!("  snapshot, pooled connection: {}", ms(pooled));
    println!("  snapshot, new pool: {}", ms(cold));
    for r in rows {
        let calls: i64 = r.get(0);
        let plans: i64 = r.get(1);
        let exec: f64 = r.get(2);
        let plan: f64 = r.get(3);
        let text: String = r.get(4);
        println!(
            "  server, snapshot statement: {calls} executions at {exec:.2} ms, {plans} plans \
             at {plan:.2} ms ({text}...)"
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
