//! Shared set-up: a seeded FakeCluster and a KubeCluster pointed at it.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use fleet_k8s::{ClusterOptions, KubeCluster, RetryPolicy};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};

/// Retries that are fast enough for tests.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_max_retry_after(Duration::from_millis(30))
        .with_budget(Duration::from_secs(5))
        .with_attempt_timeout(Some(Duration::from_secs(10)))
}

/// A kube config for the fake cluster.
pub fn config(cluster: &FakeCluster) -> kube::Config {
    let url = cluster.url().parse().expect("fake cluster URL parses");
    let mut cfg = kube::Config::new(url);
    cfg.default_namespace = FLEET_NAMESPACE.into();
    cfg
}

/// A KubeCluster for the fake cluster, with fast retries (and kube's own retry layer off).
pub fn kube_cluster(cluster: &FakeCluster) -> KubeCluster {
    KubeCluster::from_config(
        config(cluster),
        ClusterOptions::default().retry(fast_retry()),
    )
    .expect("valid options")
}

/// The fleet world, settled.
pub async fn fleet() -> FakeCluster {
    FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("fake cluster starts")
}

/// Runs kubectl against the cluster in the fleet namespace: (success, stdout, stderr). It runs
/// as a child process awaited asynchronously, so the in-process server keeps answering.
pub async fn kubectl(cluster: &FakeCluster, args: &[&str]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::from(cluster.kubectl());
    let out = cmd
        .args(["-n", FLEET_NAMESPACE])
        .args(args)
        .output()
        .await
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first pod whose name starts with `prefix`.
pub fn pod_named(cluster: &FakeCluster, prefix: &str) -> Option<String> {
    cluster
        .store()
        .list("pods", Some(FLEET_NAMESPACE))
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .find(|n| n.starts_with(prefix))
}
