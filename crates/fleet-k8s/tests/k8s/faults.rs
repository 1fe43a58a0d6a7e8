//! What a misbehaving server or network does to each operation: expired continue tokens,
//! truncated bodies, dropped watches, exec sessions and log streams, silent connections, slow
//! discovery; and the caps and refusals that keep a caller safe.

use std::time::{Duration, Instant};

use fleet_k8s::{
    ClusterOptions, Deployments, Error, EventOptions, Events, Exec, ExecOptions, Export,
    ExportOptions, KubeCluster, LogOptions, Logs, Pods, RetryPolicy, RolloutStatusOptions,
};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op, Scenario};
use futures::StreamExt;

use crate::common::{FaultProxy, config, config_for, fleet, kube_cluster, options};

const IMG_15: &str = "registry.example.com/fleet/fleet-api:1.5.0";

fn lists_of(c: &FakeCluster, resource: &str) -> Vec<u16> {
    c.requests()
        .iter()
        .filter(|r| r.op == Op::List && r.resource.as_deref() == Some(resource))
        .map(|r| r.status)
        .collect()
}

/// A cluster behind a proxy that can cut connections.
async fn behind_proxy(c: &FakeCluster, opts: ClusterOptions) -> (FaultProxy, KubeCluster) {
    let proxy = FaultProxy::start(c.addr()).await;
    let k = KubeCluster::from_config(config_for(&proxy.url()), opts).expect("cluster");
    (proxy, k)
}

#[tokio::test]
async fn a_list_starts_over_after_an_expired_continue_token() {
    let c = fleet().await;
    let k = KubeCluster::from_config(config(&c), options().with_page_size(2)).expect("cluster");
    c.clear_requests();
    c.expire_continue_tokens();
    let pods = k.list_pods().await.expect("listed again");
    assert_eq!(pods.len(), 6);
    let statuses = lists_of(&c, "pods");
    assert_eq!(
        statuses.iter().filter(|s| **s == 410).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses.len() >= 5, "{statuses:?}");
}

/// Lists stop at their caps with a typed error: before, a list took every page the server
/// offered.
#[tokio::test]
async fn lists_have_page_and_item_caps() {
    let c = fleet().await;
    let few_pages = options().with_page_size(2).with_list_limits(2, 1000);
    let k = KubeCluster::from_config(config(&c), few_pages).expect("cluster");
    let e = k.list_pods().await.expect_err("three pages needed");
    assert!(e.is_limit_exceeded(), "{e}");
    assert!(e.to_string().contains("more than 2 pages"), "{e}");
    let few_items = options().with_list_limits(100, 5);
    let k = KubeCluster::from_config(config(&c), few_items).expect("cluster");
    let e = k.list_pods().await.expect_err("six pods");
    assert!(e.is_limit_exceeded(), "{e}");
    assert!(e.to_string().contains("more than 5 objects"), "{e}");
}

/// The export goes on after a kind's continue token expires, each object exactly once: before,
/// the export failed.
#[tokio::test]
async fn export_restarts_a_kind_after_an_expired_continue_token() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    c.clear_requests();
    c.expire_continue_tokens();
    let objs: Vec<_> = k
        .export_namespace(Some(ExportOptions::default().with_page_size(2)))
        .await
        .expect("export")
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("all objects");
    let expired: Vec<_> = c
        .requests()
        .into_iter()
        .filter(|r| r.op == Op::List && r.status == 410)
        .collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
    let mut keys: Vec<(String, String, String)> = objs
        .iter()
        .map(|o| (o.api_version.clone(), o.kind.clone(), o.name.clone()))
        .collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "an object came twice");
    for (resource, kind) in [
        ("pods", "Pod"),
        ("configmaps", "ConfigMap"),
        ("deployments", "Deployment"),
        ("services", "Service"),
        ("secrets", "Secret"),
    ] {
        let stored = c.store().list(resource, Some(FLEET_NAMESPACE)).len();
        let exported = objs.iter().filter(|o| o.kind == kind).count();
        assert_eq!(exported, stored, "{resource}");
    }
    assert!(
        !objs
            .iter()
            .any(|o| o.api_version.starts_with("metrics.k8s.io")),
        "live metrics are not configuration"
    );
}

/// Discovery has a deadline: before, a server that answered slowly held the export forever.
#[tokio::test]
async fn export_discovery_has_a_deadline() {
    let c = fleet().await;
    let retry = RetryPolicy::none().with_attempt_timeout(None);
    let k = KubeCluster::from_config(config(&c), options().with_retry(retry)).expect("cluster");
    c.set_latency(Duration::from_millis(400));
    let started = Instant::now();
    let e = k
        .export_kinds(Some(
            ExportOptions::default().with_discovery_timeout(Duration::from_millis(300)),
        ))
        .await
        .expect_err("too slow");
    assert!(e.is_timeout(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    c.set_latency(Duration::ZERO);
}

/// A body cut short is a transient, typed error: retried, and given up on with the last
/// failure once the budget is spent.
#[tokio::test]
async fn truncated_bodies_are_retried_then_typed() {
    let c = fleet().await;
    let (proxy, k) = behind_proxy(&c, options()).await;
    proxy.cut("/pods?", 50, 1);
    assert_eq!(k.list_pods().await.expect("second attempt").len(), 6);
    assert_eq!(proxy.cuts(), 1);
    proxy.cut("/pods/fleet-postgres-0", 10, 100);
    let e = k.get_pod("fleet-postgres-0").await.expect_err("always cut");
    assert!(
        matches!(e, Error::RetriesExhausted { attempts: 4, .. }),
        "{e:?}"
    );
    assert!(e.is_transient(), "{e}");
}

/// A server that ends every watch at once gets backed-off watches and a typed error after the
/// retry policy's attempts: before, the drop was re-watched at once, without counting, until
/// the deadline (a hot loop of watch requests).
#[tokio::test]
async fn a_watch_that_always_drops_backs_off_and_gives_up() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .scenario(IMG_15, Scenario::SlowStart(Duration::from_secs(30)))
        .start()
        .await
        .expect("start");
    let (proxy, k) = behind_proxy(&c, options()).await;
    k.set_image("fleet-api", "fleet-api", IMG_15, None)
        .await
        .expect("set image");
    proxy.cut("watch=true", 0, 10_000);
    let started = Instant::now();
    let e = k
        .rollout_status(
            "fleet-api",
            Some(RolloutStatusOptions::default().with_timeout(Duration::from_secs(10))),
        )
        .await
        .expect_err("gives up");
    assert!(
        matches!(e, Error::RetriesExhausted { attempts: 4, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("watch deployment fleet-api"), "{e}");
    assert!(proxy.cuts() <= 5, "{} watches", proxy.cuts());
    assert!(started.elapsed() < Duration::from_secs(5));

    // The event stream behaves the same way and says so on the stream.
    let mut events = k
        .watch_events(Some(EventOptions::default().with_warnings_only(true)))
        .await
        .expect("listed");
    let item = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("in time")
        .expect("an item");
    let e = item.expect_err("the watch gave up");
    assert!(matches!(e, Error::RetriesExhausted { .. }), "{e:?}");
    assert!(
        events.next().await.is_none(),
        "the stream ends after the error"
    );
}

/// An exec session whose connection drops ends with an error, promptly.
#[tokio::test]
async fn a_dropped_exec_session_is_an_error() {
    let c = fleet().await;
    c.on_exec(|_, _| fleet_testkit::k8s::ExecOutput::ok("fine\n"));
    let (proxy, k) = behind_proxy(&c, options()).await;
    proxy.cut("/exec?", 0, 1);
    let argv = vec!["true".to_string()];
    let started = Instant::now();
    let e = k
        .exec(
            "fleet-postgres-0",
            "postgres",
            &argv,
            Some(ExecOptions::default().with_timeout(Duration::from_secs(10))),
        )
        .await
        .expect_err("dropped");
    assert!(!e.is_timeout(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(proxy.cuts(), 1);
    // Not retried (the command may have run); the next call goes through.
    let out = k
        .exec("fleet-postgres-0", "postgres", &argv, None)
        .await
        .expect("second exec");
    assert_eq!(out.stdout, "fine\n");
}

/// A followed log whose connection drops ends with an error; overlong lines are cut.
#[tokio::test]
async fn followed_logs_end_with_an_error_on_a_drop_and_cut_long_lines() {
    let c = fleet().await;
    let (proxy, k) = behind_proxy(&c, options()).await;
    let pod = crate::common::pod_named(&c, "fleet-api-").expect("pod");
    let long = "x".repeat(200_000);
    c.set_logs(
        FLEET_NAMESPACE,
        &pod,
        "fleet-api",
        &["first", &long, "last"],
    );
    let mut stream = k
        .follow_logs(&pod, Some(LogOptions::default().with_max_line_bytes(1000)))
        .await
        .expect("follow");
    let mut got = Vec::new();
    for _ in 0..3 {
        let line = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("in time")
            .expect("a line")
            .expect("ok");
        got.push(line);
    }
    assert_eq!(got[0], "first");
    assert_eq!(got[1].len(), 1000);
    assert_eq!(got[2], "last");
    drop(stream);

    proxy.cut("follow=true", 0, 1);
    let mut stream = k
        .follow_logs(
            &pod,
            Some(LogOptions::default().with_container("fleet-api")),
        )
        .await
        .expect("follow");
    let item = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the drop is noticed")
        .expect("an item");
    let e = item.expect_err("dropped");
    assert!(e.is_transient(), "{e}");
    assert!(stream.next().await.is_none());
}

/// Reads are capped in bytes, on the server (`limitBytes`) and on what arrives.
#[tokio::test]
async fn log_reads_are_capped_in_bytes() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let pod = crate::common::pod_named(&c, "fleet-api-").expect("pod");
    let lines: Vec<String> = (0..1000).map(|i| format!("line {i:04}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    c.set_logs(FLEET_NAMESPACE, &pod, "fleet-api", &refs);
    c.clear_requests();
    let got = k
        .pod_logs(&pod, Some(LogOptions::default().with_limit_bytes(100)))
        .await
        .expect("logs");
    assert!(got.len() <= 10 && !got.is_empty(), "{got:?}");
    assert_eq!(got[0], "line 0000");
    let log_requests: Vec<_> = c
        .requests()
        .into_iter()
        .filter(|r| r.op == Op::Logs)
        .collect();
    assert!(
        log_requests
            .iter()
            .all(|r| r.query.contains("limitBytes=100")),
        "{log_requests:?}"
    );
}

/// A server that stops answering fails the call after the idle timeout (kube's read timeout,
/// set by `from_config`): before, the call waited for as long as the server did.
#[tokio::test]
async fn a_silent_server_hits_the_idle_timeout() {
    let c = fleet().await;
    let retry = RetryPolicy::none().with_attempt_timeout(None);
    let opts = options()
        .with_retry(retry)
        .with_idle_timeout(Some(Duration::from_millis(200)));
    let k = KubeCluster::from_config(config(&c), opts).expect("cluster");
    c.set_latency(Duration::from_millis(1500));
    let started = Instant::now();
    let e = k.get_pod("fleet-postgres-0").await.expect_err("silent");
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    assert!(e.is_transient(), "{e:?}");
    c.set_latency(Duration::ZERO);
}

/// A kubeconfig that skips TLS verification is refused unless the options allow it: before,
/// it was accepted silently.
#[tokio::test]
async fn insecure_kubeconfigs_are_refused_unless_allowed() {
    let yaml = r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
contexts:
- name: c
  context: {cluster: c, user: u, namespace: fleet-management}
users:
- name: u
  user: {token: not-a-real-token}
current-context: c
"#;
    let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    assert!(cfg.accept_invalid_certs);
    let e = KubeCluster::from_config(cfg.clone(), ClusterOptions::default()).expect_err("refused");
    assert!(e.is_invalid_input(), "{e}");
    assert!(e.to_string().contains("insecure-skip-tls-verify"), "{e}");
    assert!(!e.to_string().contains("not-a-real-token"), "{e}");
    let k = KubeCluster::from_config(cfg, ClusterOptions::default().with_allow_insecure_tls(true))
        .expect("allowed");
    assert_eq!(k.namespace(), "fleet-management", "the context's namespace");
}

/// Field selector values are escaped: a name with `,` and `=` is one value to the server.
#[tokio::test]
async fn field_selector_values_are_escaped_on_the_wire() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    c.clear_requests();
    let events = k
        .list_events(Some(EventOptions::default().with_object("Pod", "a,b=c")))
        .await
        .expect("a valid selector");
    assert!(events.is_empty());
    let query = c
        .requests()
        .into_iter()
        .find(|r| r.op == Op::List)
        .map(|r| r.query)
        .unwrap_or_default();
    assert!(query.contains("a%5C%2Cb%5C%3Dc"), "{query}");
}

#[test]
fn every_wait_has_a_finite_default() {
    assert_eq!(
        RolloutStatusOptions::default().timeout,
        Duration::from_secs(600)
    );
    assert!(ExecOptions::default().timeout <= Duration::from_secs(300));
    assert!(ExportOptions::default().discovery_timeout <= Duration::from_secs(60));
    assert!(ClusterOptions::default().idle_timeout.is_some());
}
