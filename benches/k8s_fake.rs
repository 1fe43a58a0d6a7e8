//! `FakeCluster` serving 10,000 pods: how long a full list, a paged list, a selective list and
//! a `kubectl get pods`-style Table take over real HTTP, and what the pods cost in memory.
//! Also the real `kubectl get pods` against it, to show the fake is not the bottleneck.
//!
//! Run: `cargo bench -p fleet-benches --bench k8s_fake`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fleet_testkit::k8s::FakeCluster;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PODS: usize = 10_000;
const NS: &str = "bench";

/// A running pod as a kubelet reports it (about 2.5 KB of JSON).
fn pod(i: usize) -> Value {
    let name = format!("api-{i:05}");
    let app = format!("app-{}", i % 100);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": app, "tier": "backend"},
            "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {"nodeName": format!("node-{}", i % 50), "containers": [{
            "name": "api", "image": "registry.example.com/fleet/fleet-api:1.4.2",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DATABASE_HOST", "value": "fleet-postgres"}],
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/fleet", "readOnly": true}]}],
            "volumes": [{"name": "config", "configMap": {"name": "fleet-config"}}]},
        "status": {"phase": "Running", "qosClass": "Burstable", "hostIP": "10.224.0.4", "podIP": format!("10.244.{}.{}", i / 250, i % 250),
            "startTime": "2026-01-01T00:00:00Z",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-01-01T00:00:05Z"},
                {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-01-01T00:00:05Z"},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "containerStatuses": [{"name": "api", "ready": true, "started": true, "restartCount": 0,
                "image": "registry.example.com/fleet/fleet-api:1.4.2",
                "imageID": "registry.example.com/fleet/fleet-api@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
                "containerID": "containerd://4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
                "state": {"running": {"startedAt": "2026-01-01T00:00:03Z"}}, "lastState": {}}]}
    })
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

async fn get(addr: std::net::SocketAddr, path: &str, accept: &str) -> usize {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut body = Vec::with_capacity(32 << 20);
    s.read_to_end(&mut body).await.unwrap();
    assert!(
        body.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    body.len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before = rss_bytes();
    let cluster = rt
        .block_on(
            FakeCluster::builder()
                .without_controllers()
                .object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
                .start(),
        )
        .unwrap();
    let t = std::time::Instant::now();
    for i in 0..PODS {
        cluster.store().insert(pod(i)).unwrap();
    }
    let insert = t.elapsed();
    let after = rss_bytes();
    let addr = cluster.addr();
    let size = rt.block_on(get(
        addr,
        &format!("/api/v1/namespaces/{NS}/pods"),
        "application/json",
    ));
    eprintln!(
        "k8s_fake: {PODS} pods inserted in {insert:?}; resident memory +{:.1} MiB ({:.1} KiB per pod); full list response {:.1} MiB",
        (after.saturating_sub(before)) as f64 / 1048576.0,
        (after.saturating_sub(before)) as f64 / 1024.0 / PODS as f64,
        size as f64 / 1048576.0
    );

    let mut g = c.benchmark_group("fake_cluster_10k_pods");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("list_all_json", |b| {
        b.iter(|| {
            rt.block_on(get(
                addr,
                &format!("/api/v1/namespaces/{NS}/pods"),
                "application/json",
            ))
        });
    });
    g.bench_function("list_paged_500", |b| {
        b.iter(|| {
            rt.block_on(async {
                // Follow continue tokens the way kubectl and kube-rs page.
                let mut token = String::new();
                let mut pages = 0;
                loop {
                    let path = format!(
                        "/api/v1/namespaces/{NS}/pods?limit=500{}",
                        if token.is_empty() {
                            String::new()
                        } else {
                            format!("&continue={token}")
                        }
                    );
                    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                    s.write_all(
                        format!("GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    )
                    .await
                    .unwrap();
                    let mut raw = Vec::new();
                    s.read_to_end(&mut raw).await.unwrap();
                    pages += 1;
                    let text = String::from_utf8_lossy(&raw);
                    match text.find("\"continue\":\"") {
                        Some(i) => {
                            let rest = &text[i + 12..];
                            token = rest[..rest.find('"').unwrap()].to_string();
                        }
                        None => break,
                    }
                }
                assert_eq!(pages, PODS / 500);
            });
        });
    });
    g.bench_function("list_label_selector_1pct", |b| {
        b.iter(|| {
            rt.block_on(get(
                addr,
                &format!("/api/v1/namespaces/{NS}/pods?labelSelector=app%3Dapp-7"),
                "application/json",
            ))
        });
    });
    g.bench_function("list_as_table", |b| {
        b.iter(|| {
            rt.block_on(get(
                addr,
                &format!("/api/v1/namespaces/{NS}/pods"),
                "application/json;as=Table;v=v1;g=meta.k8s.io",
            ))
        });
    });
    g.finish();

    // The simulated controllers at scale: one deployment scaled out to 1,000 replicas, until
    // every pod is Ready and the deployment says so.
    let mut g = c.benchmark_group("fake_cluster_controllers");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("scale_deployment_3_to_1000_ready", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fleet = rt
                    .block_on(FakeCluster::builder().seed_fleet().start())
                    .unwrap();
                let t = std::time::Instant::now();
                fleet
                    .store()
                    .modify("deploy", "fleet-management", "fleet-api", |d| {
                        d["spec"]["replicas"] = json!(1000);
                    })
                    .unwrap();
                let done = rt.block_on(fleet.wait_until(Duration::from_secs(20), |s| {
                    s.get("deploy", "fleet-management", "fleet-api")
                        .is_some_and(|d| d["status"]["availableReplicas"] == 1000)
                }));
                total += t.elapsed();
                assert!(
                    done,
                    "1,000 replicas ready within two minutes: {}",
                    fleet
                        .store()
                        .get("deploy", "fleet-management", "fleet-api")
                        .unwrap()["status"]
                );
                drop(fleet);
            }
            total
        });
    });
    g.finish();

    let mut g = c.benchmark_group("kubectl_on_fake_10k_pods");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("kubectl_get_pods", |b| {
        b.iter(|| {
            let out = cluster
                .kubectl()
                .args(["get", "pods", "-n", NS, "--no-headers"])
                .output()
                .expect("kubectl on PATH");
            assert!(out.status.success());
            assert_eq!(out.stdout.iter().filter(|b| **b == b'\n').count(), PODS);
        });
    });
    g.bench_function("kubectl_get_pods_json", |b| {
        b.iter(|| {
            let out = cluster
                .kubectl()
                .args(["get", "pods", "-n", NS, "-o", "json"])
                .output()
                .expect("kubectl on PATH");
            assert!(out.status.success());
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
