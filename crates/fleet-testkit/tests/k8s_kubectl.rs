//! The real `kubectl` (found through `PATH`) against the fake cluster: each test runs kubectl
//! commands of the runbook and asserts the resulting state and, where stable, the output.
#![cfg(feature = "k8s")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use fleet_testkit::k8s::{FakeCluster, FLEET_API_IMAGE, FLEET_NAMESPACE, Op, Scenario};
use serde_json::Value;

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn kubectl(c: &FakeCluster, args: &[&str]) -> Out {
    let mut cmd = c.kubectl();
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("kubectl runs (is it on PATH?)");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn ok(c: &FakeCluster, args: &[&str]) -> String {
    let o = kubectl(c, args).await;
    assert!(o.ok, "kubectl {args:?} failed: {}\n{}", o.stderr, o.stdout);
    o.stdout
}

async fn fleet() -> FakeCluster {
    FakeCluster::builder().seed_fleet().start().await.expect("start")
}

fn pods_of(c: &FakeCluster, app: &str) -> Vec<Value> {
    c.store()
        .list("pods", Some(FLEET_NAMESPACE))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_pods_shows_the_seeded_world() {
    let c = fleet().await;
    let out = ok(&c, &["get", "pods"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(lines[0].contains("READY") && lines[0].contains("STATUS") && lines[0].contains("RESTARTS"));
    assert_eq!(lines.len(), 1 + 3 + 2 + 1, "{out}");
    assert!(out.contains("fleet-postgres-0   1/1     Running"), "{out}");
    assert_eq!(out.matches("fleet-api-").count(), 3);
    assert!(out.lines().skip(1).all(|l| l.contains("Running")), "{out}");
}
