//! The world the release procedures run in: FakeCluster seeded with the fleet, a real
//! PostgreSQL (TempPostgres) as the application database, the server's restore points from a
//! fleet-azure mock (the layer below the procedures), a local HTTP application for the smoke
//! tests, a Slack receiver, and a metrics source whose error count the test turns.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fleet_azure::{MockServerBackups, MockServerRestore, RestorePoints};
use fleet_db::{DbOptions, PgClient, PoolOptions, TlsMode};
use fleet_guard::{
    Executor, Guards, MemoryAuditSink, Mode, RecordingProgress, RunContext, TokenConfirm,
};
use fleet_k8s::{ClusterOptions, KubeCluster, RetryPolicy};
use fleet_policy::Policy;
use fleet_policy::deploy::Approval;
use fleet_runbook::{
    AzureDatabase, Channel, Db, Kube, Latency, MetricsSource, Notifier, RequestMetrics, SecretUrl,
    Signals, SlackNotifier, SlackOptions, SmokeCheck, Window,
};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op};
use fleet_testkit::postgres::TempPostgres;

use crate::common::{Answer, Receiver, quick_retry};

/// The four critical paths the policy names, as the smoke app serves them.
pub(crate) const PATHS: [(&str, &str); 4] = [
    ("login flow", "/login"),
    ("vehicle dashboard", "/vehicles"),
    ("GPS tracking", "/gps"),
    ("work orders", "/work-orders"),
];

/// Requests per window and latency; `errors` is what the test turns.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Errors reported for windows ending after `spike_after` (ms since the epoch).
    pub(crate) errors: AtomicU64,
    pub(crate) spike_after: AtomicU64,
}

#[async_trait]
impl MetricsSource for Metrics {
    fn describe(&self) -> String {
        "test metrics".into()
    }

    async fn request_metrics(&self, window: Window) -> fleet_runbook::Result<RequestMetrics> {
        let after = self.spike_after.load(Ordering::SeqCst);
        let end = u64::try_from(window.end.as_millisecond()).unwrap_or(0);
        let errors = if after > 0 && end > after {
            self.errors.load(Ordering::SeqCst)
        } else {
            0
        };
        Ok(RequestMetrics {
            window,
            requests: 1_000,
            errors,
            latency: Latency {
                p95_ms: Some(120.0),
                ..Latency::default()
            },
            warnings: Vec::new(),
        })
    }
}

pub(crate) struct World {
    pub(crate) cluster: FakeCluster,
    pub(crate) _pg: TempPostgres,
    pub(crate) kube: Kube,
    pub(crate) db: Db,
    pub(crate) azure: AzureDatabase,
    pub(crate) app: Receiver,
    pub(crate) slack: Receiver,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) policy: Policy,
}

fn kube_options() -> ClusterOptions {
    ClusterOptions::default().with_retry(
        RetryPolicy::default()
            .with_max_attempts(3)
            .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
            .with_budget(Duration::from_secs(5)),
    )
}

/// The concrete client of `cluster` in the fleet namespace (as the administrator).
pub(crate) fn cluster_client(cluster: &FakeCluster) -> KubeCluster {
    let mut cfg = kube::Config::new(cluster.url().parse().expect("url"));
    cfg.default_namespace = FLEET_NAMESPACE.into();
    KubeCluster::from_config(cfg, kube_options()).expect("cluster")
}

/// A client of `cluster` in the fleet namespace.
pub(crate) fn kube_for(cluster: &FakeCluster) -> Kube {
    Kube::from_cluster(cluster_client(cluster))
}

impl World {
    pub(crate) async fn start() -> World {
        Self::start_with(false).await
    }

    /// The world with RBAC on in FakeCluster: callers without credentials (the world's own
    /// `kube`) stay the administrator; identities from `kubeconfig_for` are authorized.
    pub(crate) async fn start_with_rbac() -> World {
        Self::start_with(true).await
    }

    async fn start_with(rbac: bool) -> World {
        let mut builder = FakeCluster::builder()
            .seed_fleet()
            .pod_ready_after(Duration::from_millis(100))
            .progress_deadline(Duration::from_secs(20));
        if rbac {
            builder = builder.rbac();
        }
        let cluster = builder.start().await.expect("fake cluster starts");
        let pg = tokio::task::spawn_blocking(TempPostgres::start)
            .await
            .expect("join")
            .expect("postgres starts");
        let mut pool = PoolOptions::default();
        pool.max_size = 1;
        let client = PgClient::new(
            DbOptions::from_url(pg.url())
                .with_tls_mode(TlsMode::Disable)
                .with_pool(pool),
        )
        .expect("db options");
        let db = Db::from_client(client, "fleetdb on TempPostgres");

        let mut backups = MockServerBackups::new();
        backups.expect_restore_points().returning(|_| {
            let now = jiff::Timestamp::now();
            let points: RestorePoints = serde_json::from_value(serde_json::json!({
                "earliest": now.checked_sub(jiff::SignedDuration::from_hours(24 * 7)).expect("t"),
                "latest": now,
                "retention_days": 7,
                "newest_backup": now.checked_sub(jiff::SignedDuration::from_hours(3)).expect("t"),
            }))
            .expect("restore points");
            Ok(points)
        });
        let azure = AzureDatabase::new(
            "fleet-postgres-server",
            Arc::new(backups),
            Arc::new(MockServerRestore::new()),
        );
        let app = Receiver::start(Answer::new(200, "ok")).await;
        let slack = Receiver::start(Answer::new(200, "ok")).await;
        World {
            kube: kube_for(&cluster),
            cluster,
            _pg: pg,
            db,
            azure,
            app,
            slack,
            metrics: Arc::new(Metrics::default()),
            policy: Policy::default(),
        }
    }

    pub(crate) fn smoke(&self) -> Vec<SmokeCheck> {
        PATHS
            .iter()
            .map(|(name, path)| SmokeCheck::get(*name, self.app.url(path)))
            .collect()
    }

    pub(crate) fn slack_notifier(&self, url: &str) -> Arc<dyn Notifier> {
        let hooks: BTreeMap<Channel, SecretUrl> = [Channel::deployments(), Channel::incidents()]
            .into_iter()
            .map(|c| (c, SecretUrl::parse("slack", url).expect("url")))
            .collect();
        Arc::new(
            SlackNotifier::new(
                hooks,
                Some(SlackOptions {
                    retry: quick_retry(),
                    ..SlackOptions::default()
                }),
            )
            .expect("slack"),
        )
    }

    pub(crate) fn signals(&self) -> Signals {
        Signals::new(
            vec![self.slack_notifier(&self.slack.url("/hooks/deployments"))],
            Some(self.metrics.clone()),
        )
    }

    /// Mutating requests sent without `dryRun`.
    pub(crate) fn writes(&self) -> Vec<String> {
        writes(&self.cluster)
    }

    /// The image of fleet-api's container in the store.
    pub(crate) fn image(&self) -> String {
        let d = self
            .cluster
            .store()
            .get("deployments", FLEET_NAMESPACE, "fleet-api")
            .expect("fleet-api");
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .expect("image")
            .to_owned()
    }
}

/// A hotfix approved by the technical lead (the tests run at any hour; the window itself is
/// tested on its own).
pub(crate) fn approvals() -> Vec<Approval> {
    vec![Approval {
        role: "technical-lead".into(),
        by: "lead@example.com".into(),
        at: jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_mins(10))
            .expect("t"),
    }]
}

/// An executor with an in-memory audit, recorded progress and `confirm` as the token.
pub(crate) fn executor(
    procedure: &str,
    mode: Mode,
    confirm: Option<&str>,
) -> (Executor, MemoryAuditSink, Arc<RecordingProgress>) {
    let audit = MemoryAuditSink::new();
    let progress = Arc::new(RecordingProgress::default());
    let mut guards = Guards::new(Arc::new(audit.clone())).with_progress(progress.clone());
    if let Some(word) = confirm {
        guards = guards.with_confirm(Arc::new(TokenConfirm::new(word)));
    }
    let context =
        RunContext::new(procedure, "oncall@example.com", "CHG-1234", mode).expect("context");
    (Executor::new(context, guards), audit, progress)
}

/// Mutating requests `cluster` received without `dryRun`, questions to the authorizer aside.
pub(crate) fn writes(cluster: &FakeCluster) -> Vec<String> {
    cluster
        .requests()
        .into_iter()
        .filter(|r| matches!(r.op, Op::Create | Op::Update | Op::Patch | Op::Delete))
        .filter(|r| !r.query.contains("dryRun"))
        .filter(|r| {
            // Questions to the authorizer create nothing.
            !matches!(
                r.resource.as_deref(),
                Some("selfsubjectaccessreviews" | "selfsubjectrulesreviews")
            )
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}
