//! Shared set-up: executors with recorded audit and progress, keys, stores, clusters, tools.

use std::sync::Arc;
use std::time::Duration;

use fleet_backup::{BackupStore, Identities, PgTools, Recipients};
use fleet_guard::{
    Executor, Guards, ManualClock, MemoryAuditSink, Mode, RecordingProgress, RunContext,
    TokenConfirm,
};
use fleet_k8s::{ClusterOptions, KubeCluster, RetryPolicy};
use fleet_testkit::k8s::FakeCluster;

/// An executor with its audit and progress records.
pub(crate) struct Run {
    pub(crate) executor: Executor,
    pub(crate) audit: MemoryAuditSink,
    pub(crate) progress: Arc<RecordingProgress>,
}

/// A run in `mode`, confirming with `token` when one is given (refusing otherwise).
pub(crate) fn run(mode: Mode, token: Option<&str>) -> Run {
    run_with_clock(mode, token, None)
}

/// The same, reading time from `clock`.
pub(crate) fn run_with_clock(
    mode: Mode,
    token: Option<&str>,
    clock: Option<Arc<ManualClock>>,
) -> Run {
    let audit = MemoryAuditSink::new();
    let progress = Arc::new(RecordingProgress::default());
    let mut guards = Guards::new(Arc::new(audit.clone())).with_progress(progress.clone());
    if let Some(t) = token {
        guards = guards.with_confirm(Arc::new(TokenConfirm::new(t)));
    }
    if let Some(c) = clock {
        guards = guards.with_clock(c);
    }
    let context = RunContext::new(
        "backup-test",
        "tester@example.com",
        "integration test",
        mode,
    )
    .expect("valid context");
    Run {
        executor: Executor::new(context, guards),
        audit,
        progress,
    }
}

/// A fresh identity and its recipient.
pub(crate) fn keys() -> (Identities, Recipients) {
    let id = Identities::generate();
    let r = id.public();
    (id, r)
}

/// A store in a temporary directory.
pub(crate) fn local_store() -> (tempfile::TempDir, BackupStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = BackupStore::local(dir.path().join("store")).expect("local store");
    (dir, store)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_max_retry_after(Duration::from_millis(30))
        .with_budget(Duration::from_secs(5))
        .with_attempt_timeout(Some(Duration::from_secs(30)))
}

/// A KubeCluster for `namespace` of the fake cluster.
pub(crate) fn kube(cluster: &FakeCluster, namespace: &str) -> KubeCluster {
    let url = cluster.url().parse().expect("fake cluster URL parses");
    let config = kube::Config::new(url);
    KubeCluster::from_config(
        config,
        ClusterOptions::default()
            .with_namespace(namespace)
            .with_retry(fast_retry()),
    )
    .expect("valid options")
}

/// The fleet world, settled, with pods ready quickly.
pub(crate) async fn fleet() -> FakeCluster {
    FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(100))
        .start()
        .await
        .expect("fake cluster starts")
}

/// pg_dump and pg_restore: the newest available (PostgreSQL 18's from the test kit's cache).
pub(crate) fn tools() -> PgTools {
    let t = fleet_testkit::postgres::PgClientTools::newest().expect("pg_dump/pg_restore available");
    let mut tools = PgTools::in_dir(t.bindir());
    if let Some(lib) = t.libdir() {
        tools = tools.with_libdir(lib);
    }
    tools
}

/// Runs async test code on a fresh runtime (servers start and stop outside, on the test thread).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A superuser client of `database`; its connection runs in the background.
pub(crate) async fn pg_client(
    pg: &fleet_testkit::postgres::TempPostgres,
    database: &str,
) -> tokio_postgres::Client {
    let cfg: tokio_postgres::Config = pg
        .url_for(pg.user(), pg.password(), database)
        .parse()
        .expect("url");
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Everything this workspace's crates log, at every level, from the first call on (one
/// subscriber for the whole test binary). Tests read it to prove what never appears in logs.
pub(crate) fn captured_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "fleet_backup=trace,fleet_k8s=trace,fleet_guard=trace,fleet_db=trace",
            ))
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buffer
    })
    .clone()
}

struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
