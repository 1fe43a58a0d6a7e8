//! Helpers: servers, raw clients playing the application, diagnostics handles.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fleet_db::{DbOptions, PgClient, PoolOptions, Thresholds, TlsMode};
use fleet_guard::MemoryAuditSink;
use fleet_testkit::postgres::TempPostgres;
use tokio_postgres::{Client, NoTls};

pub(crate) const APP_PASSWORD: &str = "app-pw";

/// Runs async test code on a fresh runtime (server start/stop stay outside, on the test thread).
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A raw client; the connection task runs in the background.
pub(crate) async fn connect(pg: &TempPostgres, user: &str, password: &str, app: &str) -> Client {
    try_connect(pg, user, password, app)
        .await
        .unwrap_or_else(|e| panic!("connect as {user}: {e:?}"))
}

pub(crate) async fn try_connect(
    pg: &TempPostgres,
    user: &str,
    password: &str,
    app: &str,
) -> Result<Client, tokio_postgres::Error> {
    let mut cfg: tokio_postgres::Config = pg.url_for(user, password, "postgres").parse()?;
    cfg.application_name(app);
    let (client, conn) = cfg.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The superuser.
pub(crate) async fn admin(pg: &TempPostgres) -> Client {
    connect(pg, pg.user(), pg.password(), "test-admin").await
}

/// Roles the tests use: `app` (plain), `monitor` (pg_monitor), `nomon` (nothing).
pub(crate) async fn create_roles(admin: &Client) {
    for role in ["app", "monitor", "nomon"] {
        admin
            .batch_execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD '{APP_PASSWORD}'"
            ))
            .await
            .expect("create role");
    }
    admin
        .batch_execute(
            "GRANT pg_monitor TO monitor; CREATE TABLE t (id int PRIMARY KEY, v int); \
             INSERT INTO t SELECT g, g FROM generate_series(1, 10) g; GRANT ALL ON t TO app;",
        )
        .await
        .expect("set-up");
}

/// Options for a diagnostics handle as `user`, thresholds short enough for tests.
pub(crate) fn options(pg: &TempPostgres, user: &str, password: &str) -> DbOptions {
    let mut thresholds = Thresholds::default();
    thresholds.long_query = Duration::from_millis(200);
    thresholds.long_transaction = Duration::from_millis(200);
    thresholds.idle_in_transaction = Duration::from_millis(200);
    thresholds.slow_query_calls = 3;
    let mut pool = PoolOptions::default();
    pool.max_size = 1;
    pool.wait_timeout = Duration::from_secs(2);
    pool.create_timeout = Duration::from_secs(2);
    DbOptions::from_url(pg.url_for(user, password, "postgres"))
        .with_tls_mode(TlsMode::Disable)
        .with_thresholds(thresholds)
        .with_pool(pool)
}

/// A client as the superuser, auditing to memory.
pub(crate) fn superuser_diag(pg: &TempPostgres) -> PgClient {
    collecting_diag(pg).0
}

/// A client as the superuser and the records it audits.
pub(crate) fn collecting_diag(pg: &TempPostgres) -> (PgClient, MemoryAuditSink) {
    let sink = MemoryAuditSink::new();
    let diag =
        PgClient::new(options(pg, pg.user(), pg.password()).with_audit(Arc::new(sink.clone())))
            .expect("options valid");
    (diag, sink)
}

/// Waits until `check` holds (polling the server), at most 20 s (generous: the machines that
/// run these tests are often loaded).
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Number of sessions matching a WHERE clause on pg_stat_activity.
pub(crate) async fn count(admin: &Client, predicate: &str) -> i64 {
    admin
        .query_one(
            &format!("SELECT count(*) FROM pg_stat_activity WHERE {predicate}"),
            &[],
        )
        .await
        .expect("count")
        .get(0)
}

/// Everything written through `tracing` on this thread while its guard lives.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures every event and span (with their fields) from here on, on this thread.
    pub(crate) fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// A replication connection (a WAL sender, listed in `pg_stat_replication` in its `startup`
/// state) as the superuser over the Unix socket, where the test servers trust local logins.
/// tokio-postgres cannot ask for one, so this speaks the start-up exchange itself: a start-up
/// message with `replication=database`, then reading until the server is ready for a query.
/// The sender lives as long as the returned stream.
pub(crate) fn wal_sender(pg: &TempPostgres, application: &str) -> std::os::unix::net::UnixStream {
    use std::io::{Read as _, Write as _};
    let path = pg.socket_dir().join(format!(".s.PGSQL.{}", pg.port()));
    let mut stream = std::os::unix::net::UnixStream::connect(&path).expect("socket connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut body = 196_608_u32.to_be_bytes().to_vec(); // protocol 3.0
    for (k, v) in [
        ("user", pg.user()),
        ("database", "postgres"),
        ("replication", "database"),
        ("application_name", application),
    ] {
        for s in [k, v] {
            body.extend_from_slice(s.as_bytes());
            body.push(0);
        }
    }
    body.push(0);
    let len = u32::try_from(body.len() + 4).expect("small");
    stream.write_all(&len.to_be_bytes()).expect("write");
    stream.write_all(&body).expect("write");
    loop {
        let mut header = [0_u8; 5];
        stream
            .read_exact(&mut header)
            .expect("a message from the server");
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let mut payload = vec![0_u8; len as usize - 4];
        stream.read_exact(&mut payload).expect("message body");
        match header[0] {
            b'Z' => return stream,
            b'E' => panic!(
                "replication connection refused: {}",
                String::from_utf8_lossy(&payload)
            ),
            b'R' => assert_eq!(payload[..4], [0, 0, 0, 0], "trusted: no password asked"),
            _ => {}
        }
    }
}
