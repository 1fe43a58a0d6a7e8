//! The runbook's "Database Connections" band (< 50 normal, 50..=80 warning, > 80 critical)
//! applied to what fleet-db counts on a real PostgreSQL server, through the same gate a CI
//! pipeline runs.

use fleet_db::{DbOptions, Diagnostics, PgClient, TlsMode};
use fleet_policy::metrics::MetricsSnapshot;
use fleet_policy::{GateInput, Outcome, Policy, gate};
use fleet_testkit::postgres::TempPostgres;
use tokio_postgres::{Client, NoTls};

/// `n` application connections over the Unix socket (trust authentication: dozens of
/// parallel SCRAM handshakes of an unoptimized test build can outlast the server's
/// `authentication_timeout` on a loaded machine).
async fn open(pg: &TempPostgres, n: usize) -> Vec<Client> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host_path(pg.socket_dir())
            .port(pg.port())
            .user(pg.user())
            .dbname("postgres")
            .application_name("fleet-api");
        tasks.spawn(async move {
            let (client, conn) = cfg.connect(NoTls).await.expect("connect");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            client
        });
    }
    tasks.join_all().await
}

/// The gate's finding for a server holding `n` application connections.
async fn db_band(pg: &TempPostgres, diag: &PgClient, n: usize) -> (u32, Outcome) {
    let clients = open(pg, n).await;
    let snapshot = diag.snapshot().await.expect("snapshot");
    let total = snapshot.connections.total;
    drop(clients);
    let input = GateInput {
        metrics: Some(MetricsSnapshot {
            subject: "fleet-postgres".into(),
            db_connections: Some(f64::from(total)),
            ..MetricsSnapshot::default()
        }),
        ..GateInput::default()
    };
    let report = gate::evaluate(&Policy::default(), &input, snapshot.taken_at);
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == "metrics.db-connections")
        .expect("the connection band is evaluated");
    (total, finding.outcome)
}

#[test]
fn connection_counts_from_a_real_server_land_in_the_runbook_bands() {
    let pg = TempPostgres::builder()
        .max_connections(120)
        .start()
        .expect("PostgreSQL starts");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let diag = PgClient::new(DbOptions::from_url(pg.url()).with_tls_mode(TlsMode::Disable))
            .expect("options");
        for (n, want) in [
            (10, Outcome::Pass),
            (60, Outcome::Warn),
            (85, Outcome::Fail),
        ] {
            let (total, outcome) = db_band(&pg, &diag, n).await;
            // The count includes every client connection the server has, so at least ours.
            assert!(total as usize >= n, "{total} < {n}");
            assert_eq!(
                outcome, want,
                "{n} application connections counted as {total}"
            );
            // Connections close asynchronously: wait until the server has let them go.
            for _ in 0..100 {
                if diag.connection_summary().await.expect("summary").total < 5 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    });
}
