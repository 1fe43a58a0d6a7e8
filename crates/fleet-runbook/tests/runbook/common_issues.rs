//! The runbook's common issues as diagnoses, on real components: FakeCluster's kubelet playing
//! a crash loop (exit 1), an OOMKill, an image that cannot be pulled and a missing Secret;
//! TempPostgres with a leaking application holding idle-in-transaction sessions; a local HTTP
//! server serving a slow, heavy, uncompressed page and a fast, compressed, cached one; a crash
//! loop whose crashed instance logged a refused database login, traced to the login and to the
//! release that began it (within the policy's recent-deployment window, and not outside it),
//! and a database that does not answer.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use fleet_db::{DbOptions, PgClient, PoolOptions, TlsMode};
use fleet_guard::{Executor, Guards, MemoryAuditSink, Mode, RunContext};
use fleet_k8s::Pods;
use fleet_policy::config::Band;
use fleet_policy::{Outcome, Policy};
use fleet_runbook::{CommonIssues, CommonIssuesOptions, Db, Issue, Kube};
use fleet_testkit::k8s::{FLEET_API_IMAGE, FLEET_NAMESPACE, FakeCluster, Scenario};
use fleet_testkit::postgres::TempPostgres;
use serde_json::json;

use crate::incident::kube_cluster;

const CRASH: &str = "registry.example.com/fleet/fleet-api:9.9.9-crash";
const OOM: &str = "registry.example.com/fleet/fleet-frontend:9.9.9-oom";
const MISSING: &str = "registry.example.com/fleet/fleet-worker:does-not-exist";
const JOBS: &str = "registry.example.com/fleet/fleet-jobs:1.0.0";

fn deployment(name: &str, image: &str, env: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": FLEET_NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image, "env": env}]}
            }
        }
    })
}

fn executor() -> Executor {
    Executor::new(
        RunContext::new(
            "common-issues",
            "oncall@example.com",
            "INC-12",
            Mode::Execute,
        )
        .expect("ctx"),
        Guards::new(Arc::new(MemoryAuditSink::new())),
    )
}

/// A page server: `/slow` waits 700 ms and sends 2 MiB bare; `/fast` is small, gzip-labelled
/// and served from a CDN cache.
async fn pages() -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                vec![b'x'; 2 * 1024 * 1024]
            }),
        )
        .route(
            "/fast",
            get(|| async {
                (
                    [
                        (header::CACHE_CONTROL, "public, max-age=300"),
                        (header::HeaderName::from_static("x-cache"), "HIT"),
                    ],
                    "<html>ok</html>",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_issues_are_diagnosed_from_pods_connections_and_a_page_probe() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(100))
        .start()
        .await
        .expect("fake cluster");
    c.set_scenario(
        CRASH,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 4,
        },
    );
    c.set_scenario(OOM, Scenario::OomKilled { restarts: 3 });
    c.set_scenario(MISSING, Scenario::ImagePullFailure);
    let k = kube_cluster(&c);
    use fleet_k8s::Deployments as _;
    k.set_image("fleet-api", "fleet-api", CRASH, None)
        .await
        .expect("crash image");
    k.set_image("fleet-frontend", "fleet-frontend", OOM, None)
        .await
        .expect("oom image");
    let store = c.store();
    store
        .insert(deployment("fleet-worker", MISSING, json!([])))
        .expect("worker");
    store
        .insert(deployment(
            "fleet-jobs",
            JOBS,
            json!([{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "fleet-jobs-secrets", "key": "api-key"}}}]),
        ))
        .expect("jobs");
    for _ in 0..200 {
        let pods = k.list_pods().await.expect("pods");
        let bad = |prefix: &str| {
            pods.iter()
                .any(|p| p.name.starts_with(prefix) && !p.is_healthy())
        };
        if [
            "fleet-api-",
            "fleet-frontend-",
            "fleet-worker-",
            "fleet-jobs-",
        ]
        .iter()
        .all(|p| bad(p))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A database with one application leaking three idle-in-transaction sessions.
    let pg = tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .expect("join")
        .expect("postgres");
    let mut leaked = Vec::new();
    for _ in 0..3 {
        let mut config = tokio_postgres::Config::from_str(&pg.url()).expect("url");
        config.application_name("leaky-app");
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
            .batch_execute("BEGIN; SELECT 1")
            .await
            .expect("begin");
        leaked.push(client);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut pool = PoolOptions::default();
    pool.max_size = 1;
    let db = Db::from_client(
        PgClient::new(
            DbOptions::from_url(pg.url())
                .with_tls_mode(TlsMode::Disable)
                .with_pool(pool),
        )
        .expect("db"),
        "fleetdb",
    );
    let mut policy = Policy::default();
    policy.metrics.db_connections = Band::new(2.0, 3.0).expect("band");

    let (base, _server) = pages().await;
    let procedure = CommonIssues::new(Kube::from_cluster(k.clone()), Some(db), policy);
    let mut options = CommonIssuesOptions::default().with_page(format!("{base}/slow"));
    options.leak_idle = Some(Duration::from_millis(100));
    let outcome = procedure.run(&executor(), &options).await;
    let report = &outcome.report;
    let text = report.to_text();
    let found = |issue: Issue, prefix: &str| {
        outcome
            .diagnoses
            .iter()
            .find(|d| d.issue == issue && d.subject.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {issue:?} at {prefix}: {:#?}\n{text}", outcome.diagnoses))
    };

    // Crash loops sorted by their cause, with the runbook's solutions.
    let app = found(Issue::ApplicationError, "pod/fleet-api-");
    assert!(app.evidence.iter().any(|e| e.contains("code 1")), "{app:?}");
    assert!(
        app.actions.iter().any(|a| a.contains("--previous")),
        "{app:?}"
    );
    assert!(
        app.actions
            .iter()
            .any(|a| a.contains("database connectivity"))
    );
    assert!(app.actions.iter().any(|a| a.contains("recent changes")));
    let oom = found(Issue::OutOfMemory, "pod/fleet-frontend-");
    assert!(oom.actions[0].contains("memory limit"), "{oom:?}");
    let image = found(Issue::Image, "pod/fleet-worker-");
    assert!(
        image.evidence.iter().any(|e| e.contains(MISSING)),
        "{image:?}"
    );
    let config = found(Issue::Configuration, "pod/fleet-jobs-");
    assert!(
        config
            .evidence
            .iter()
            .any(|e| e.contains("fleet-jobs-secrets")),
        "{config:?}"
    );
    assert!(
        !outcome
            .diagnoses
            .iter()
            .any(|d| d.issue == Issue::OutOfMemory && d.subject.starts_with("pod/fleet-api-")),
        "an exit 1 is not an OOM"
    );

    // The pool: over the band, the leaking application named.
    let pool = found(Issue::ConnectionPool, "database/fleetdb");
    assert!(
        pool.evidence.iter().any(|e| e == "leaky-app holds 3"),
        "{pool:?}"
    );
    assert!(
        pool.evidence
            .iter()
            .any(|e| e.starts_with("leaky-app has 3 idle-in-transaction")),
        "{pool:?}"
    );
    assert!(pool.actions[0].contains("connection leaks"), "{pool:?}");

    // The page: 700 ms is in the response-time band's warning, heavy, not compressed, no cache.
    let page = found(Issue::SlowPage, &format!("{base}/slow"));
    for e in ["heavy", "not compressed", "no Cache-Control"] {
        assert!(page.evidence.iter().any(|x| x.contains(e)), "{e}: {page:?}");
    }
    assert!(page.actions.iter().any(|a| a.contains("compression")));

    let outcome_of = |rule: &str| {
        report
            .findings
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .map(|f| f.outcome)
            .unwrap_or_else(|| panic!("no {rule}: {text}"))
    };
    assert_eq!(
        outcome_of("metrics.db-connections"),
        Outcome::Fail,
        "{text}"
    );
    assert_eq!(outcome_of("metrics.response-time"), Outcome::Warn, "{text}");
    assert!(
        report
            .findings
            .findings
            .iter()
            .any(|f| f.rule.contains("crash") && f.outcome == Outcome::Fail),
        "{text}"
    );

    // A fast, compressed, cached page is not diagnosed.
    let procedure = CommonIssues::new(Kube::from_cluster(k), None, Policy::default());
    let fast = procedure
        .run(
            &executor(),
            &CommonIssuesOptions::default().with_page(format!("{base}/fast")),
        )
        .await;
    assert!(
        !fast.diagnoses.iter().any(|d| d.issue == Issue::SlowPage),
        "{:?}",
        fast.diagnoses
    );
    assert!(
        fast.report
            .findings
            .findings
            .iter()
            .any(|f| f.rule == "metrics.response-time" && f.outcome == Outcome::Pass)
    );
    drop(leaked);
}

fn database(url: &str) -> Db {
    Db::from_client(
        PgClient::new(DbOptions::from_url(url).with_tls_mode(TlsMode::Disable)).expect("db"),
        "fleetdb",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_is_traced_to_the_database_login_and_the_release_that_began_it() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(100))
        .start()
        .await
        .expect("fake cluster");
    c.set_scenario(
        CRASH,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 4,
        },
    );
    let k = kube_cluster(&c);
    use fleet_k8s::Deployments as _;
    k.set_image("fleet-api", "fleet-api", CRASH, None)
        .await
        .expect("crash image");
    let mut crashing = Vec::new();
    for _ in 0..200 {
        crashing = k
            .list_pods()
            .await
            .expect("pods")
            .into_iter()
            .filter(|p| p.name.starts_with("fleet-api-") && p.status == "CrashLoopBackOff")
            .map(|p| p.name)
            .collect();
        if !crashing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pod = crashing
        .first()
        .expect("a crash-looping fleet-api pod")
        .clone();
    c.set_previous_logs(
        FLEET_NAMESPACE,
        &pod,
        "fleet-api",
        &[
            "starting fleet-api 9.9.9",
            "FATAL: password authentication failed for user \"fleetadmin\" \
             (postgres://fleetadmin:hunter2@fleet-db:5432/fleetdb)",
            "exiting with status 1",
        ],
    );
    let pg = tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .expect("join")
        .expect("postgres");

    let procedure = CommonIssues::new(
        Kube::from_cluster(k.clone()),
        Some(database(&pg.url())),
        Policy::default(),
    );
    let outcome = procedure
        .run(&executor(), &CommonIssuesOptions::default())
        .await;
    let text = outcome.report.to_text();
    let found = |issue: Issue, subject: &str| {
        outcome
            .diagnoses
            .iter()
            .find(|d| d.issue == issue && d.subject == subject)
            .unwrap_or_else(|| {
                panic!(
                    "no {issue:?} at {subject}: {:#?}\n{text}",
                    outcome.diagnoses
                )
            })
            .clone()
    };

    // Database connectivity: the crashed instance's log line, the server answering from here.
    let db = found(Issue::DatabaseConnectivity, &format!("pod/{pod}"));
    assert!(
        db.evidence
            .iter()
            .any(|e| e.starts_with("log: FATAL: password authentication failed")),
        "{db:?}"
    );
    assert!(
        db.evidence
            .iter()
            .any(|e| e.contains("fleetdb answers a round trip from here")),
        "{db:?}"
    );
    assert!(
        db.actions[0].contains("credential in the pod's Secret"),
        "{db:?}"
    );
    assert!(
        !serde_json::to_string(&outcome.diagnoses)
            .expect("json")
            .contains("hunter2"),
        "credentials in log lines are redacted"
    );

    // Recent changes: revision 2 (the crashing image) is minutes old; roll back to 1.
    let recent = found(Issue::RecentChange, "deployment/fleet-api");
    assert!(
        recent.evidence[0].starts_with(&format!("revision 2 ({CRASH}) rolled out at"))
            && recent.evidence[0].ends_with("within the policy's recent-deployment window of 4 h"),
        "{recent:?}"
    );
    assert!(
        recent.evidence.iter().any(|e| e.contains(&pod)),
        "{recent:?}"
    );
    assert!(
        recent.actions[0].starts_with(&format!(
            "roll back to revision 1 ({FLEET_API_IMAGE}): kubectl rollout undo \
             deployment/fleet-api --to-revision=1"
        )),
        "{recent:?}"
    );
    for step in [
        "database-round-trip".to_owned(),
        format!("pod-log.{pod}"),
        "rollout-history.fleet-api".to_owned(),
    ] {
        assert!(
            outcome
                .report
                .steps
                .iter()
                .any(|s| s.step.id == step && s.outcome == fleet_guard::StepOutcome::Succeeded),
            "{step}: {text}"
        );
    }

    // Outside the policy's window the release is not called recent.
    let mut policy = Policy::default();
    policy.alerts.recent_deploy_window = jiff::SignedDuration::from_secs(1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let older = CommonIssues::new(Kube::from_cluster(k.clone()), None, policy)
        .run(&executor(), &CommonIssuesOptions::default())
        .await;
    assert!(
        !older
            .diagnoses
            .iter()
            .any(|d| d.issue == Issue::RecentChange),
        "{:?}",
        older.diagnoses
    );

    // A database that does not answer: named, and cited beside the pod's log.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let down = CommonIssues::new(
        Kube::from_cluster(k),
        Some(database(&format!(
            "postgres://fleetadmin@127.0.0.1:{port}/fleetdb"
        ))),
        Policy::default(),
    )
    .run(&executor(), &CommonIssuesOptions::default())
    .await;
    let unreachable = down
        .diagnoses
        .iter()
        .find(|d| d.issue == Issue::DatabaseConnectivity && d.subject == "database/fleetdb")
        .unwrap_or_else(|| panic!("{:#?}", down.diagnoses));
    assert!(
        unreachable.evidence[0].starts_with("a round trip from here failed"),
        "{unreachable:?}"
    );
    let at_pod = down
        .diagnoses
        .iter()
        .find(|d| d.subject == format!("pod/{pod}") && d.issue == Issue::DatabaseConnectivity)
        .expect("the pod's diagnosis");
    assert!(
        at_pod
            .evidence
            .iter()
            .any(|e| e.starts_with("fleetdb does not answer from here either")),
        "{at_pod:?}"
    );
}
