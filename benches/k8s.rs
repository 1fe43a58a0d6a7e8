//! fleet-k8s side by side with kubectl on the same FakeCluster: listing 10,000 pods, exporting
//! a 10,000-object namespace (time, and peak memory of each as a separate process), and API
//! requests per operation.
//!
//! ```text
//! cargo bench -p fleet-benches --bench k8s
//! ```
//! Needs `kubectl` and GNU `/usr/bin/time` (Debian packages `kubernetes-client`, `time`).
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use fleet_k8s::{ClusterOptions, Export, ExportOptions, KubeCluster, Pods};
use fleet_testkit::k8s::FakeCluster;
use futures::StreamExt;
use serde_json::json;

const NS: &str = "bench";
const CHILD_ENV: &str = "FLEET_K8S_BENCH_EXPORT_URL";
const PAGE_ENV: &str = "FLEET_K8S_BENCH_PAGE";
/// Set to skip the timings and only measure peak memory.
const MEMORY_ONLY_ENV: &str = "FLEET_K8S_BENCH_MEMORY_ONLY";

fn pod(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("fleet-api-7d4b578979-{i:05}"), "namespace": NS,
            "labels": {"app": "fleet-api", "pod-template-hash": "7d4b578979"},
            "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": format!("aks-nodepool1-{}", i % 3), "containers": [{
            "name": "fleet-api", "image": "registry.example.com/fleet/fleet-api:1.4.2",
            "ports": [{"containerPort": 8080}],
            "env": [{"name": "DATABASE_HOST", "value": "fleet-postgres"}, {"name": "LOG_LEVEL", "value": "info"}],
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}}]},
        "status": {"phase": "Running", "podIP": format!("10.244.{}.{}", i / 250, i % 250),
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
            "containerStatuses": [{"name": "fleet-api", "image": "registry.example.com/fleet/fleet-api:1.4.2", "imageID": "",
                "ready": true, "restartCount": (i % 4) as i64, "started": true,
                "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}}]}
    })
}

fn config_map(i: usize) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cfg-{i:05}"), "namespace": NS},
        "data": {"log_level": "info", "feature_flags": "gps-tracking,work-orders", "index": i.to_string()}})
}

/// A cluster whose `bench` namespace holds `pods` pods and `configmaps` ConfigMaps.
async fn cluster(pods: usize, configmaps: usize) -> FakeCluster {
    let c = FakeCluster::builder()
        .without_controllers()
        .history_limit(100)
        .object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
        .start()
        .await
        .expect("fake cluster starts");
    for i in 0..pods {
        c.store().insert(pod(i)).expect("pod");
    }
    for i in 0..configmaps {
        c.store().insert(config_map(i)).expect("configmap");
    }
    c
}

fn kube_cluster(url: &str) -> KubeCluster {
    let mut cfg = kube::Config::new(url.parse().expect("url"));
    cfg.default_namespace = NS.into();
    KubeCluster::from_config(cfg, ClusterOptions::default().with_namespace(NS)).expect("cluster")
}

async fn export_count(k: &KubeCluster, page: u32) -> usize {
    let mut s = k
        .export_namespace(Some(ExportOptions::default().with_page_size(page)))
        .await
        .expect("export");
    let mut n = 0;
    while let Some(o) = s.next().await {
        // Serialize as a backup writer would, so the work is comparable with `-o json`.
        let bytes = serde_json::to_vec(&o.expect("object").object).expect("json");
        n += usize::from(!bytes.is_empty());
    }
    n
}

const KUBECTL_EXPORT: &str = "all,configmaps,secrets,ingresses,horizontalpodautoscalers,serviceaccounts,roles,rolebindings,persistentvolumeclaims,networkpolicies";

fn kubectl(c: &FakeCluster, args: &[&str]) -> Command {
    let mut cmd = c.kubectl();
    cmd.args(["-n", NS])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Peak resident memory (KiB) and wall time of a command, from GNU time.
fn peak(cmd: Command) -> Option<(u64, Duration)> {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    let mut t = Command::new("/usr/bin/time");
    t.arg("-f")
        .arg("%M")
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    let start = Instant::now();
    let out = t.output().ok()?;
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&out.stderr);
    let kib = text.lines().last()?.trim().parse().ok()?;
    Some((kib, took))
}

fn list_pods(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let fc = rt.block_on(cluster(10_000, 0));
    let k = kube_cluster(&fc.url());
    let mut g = c.benchmark_group("k8s/list_10k_pods");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("fleet-k8s list_pods (columns computed)", |b| {
        b.iter(|| {
            let pods = rt.block_on(k.list_pods()).expect("list");
            assert_eq!(pods.len(), 10_000);
        });
    });
    g.bench_function("kubectl get pods", |b| {
        b.iter(|| {
            assert!(
                kubectl(&fc, &["get", "pods"])
                    .status()
                    .expect("kubectl")
                    .success()
            );
        });
    });
    g.finish();
    fc.clear_requests();
    rt.block_on(k.list_pods()).expect("list");
    let ours = fc.requests().len();
    fc.clear_requests();
    let _ = kubectl(&fc, &["get", "pods"]).status();
    let theirs = fc.requests().len();
    eprintln!(
        "list 10k pods: API requests fleet-k8s {ours}, kubectl {theirs} (discovery included)"
    );
}

fn export(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let fc = rt.block_on(cluster(5_000, 5_000));
    let k = kube_cluster(&fc.url());
    let mut g = c.benchmark_group("k8s/export_10k_objects");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("fleet-k8s export_namespace (streamed)", |b| {
        b.iter(|| assert!(rt.block_on(export_count(&k, 500)) >= 10_000));
    });
    g.bench_function("kubectl get <kinds> -o json", |b| {
        b.iter(|| {
            assert!(
                kubectl(&fc, &["get", KUBECTL_EXPORT, "-o", "json"])
                    .status()
                    .expect("kubectl")
                    .success()
            );
        });
    });
    g.finish();

    memory(&fc);
}

/// Peak memory of each as its own process; ours at several page sizes.
fn memory(fc: &FakeCluster) {
    let me = std::env::current_exe().expect("own path");
    for page in [100u32, 500, 2000] {
        let mut ours = Command::new(&me);
        ours.env(CHILD_ENV, fc.url())
            .env(PAGE_ENV, page.to_string());
        match peak(ours) {
            Some((kib, t)) => eprintln!(
                "export 10k objects, page size {page}: fleet-k8s peak RSS {kib} KiB in {t:?}"
            ),
            None => eprintln!("export peak memory: /usr/bin/time not available"),
        }
    }
    if let Some((kib, t)) = peak(kubectl(fc, &["get", KUBECTL_EXPORT, "-o", "json"])) {
        eprintln!("export 10k objects: kubectl peak RSS {kib} KiB in {t:?}");
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // kube's client spawns its buffer task at construction.
    let _guard = rt.enter();
    if let Ok(url) = std::env::var(CHILD_ENV) {
        // Child mode: one export, then exit; the parent measures peak memory.
        let k = kube_cluster(&url);
        let page = std::env::var(PAGE_ENV)
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(500);
        let n = rt.block_on(export_count(&k, page));
        eprintln!("child exported {n}");
        return;
    }
    if std::env::var_os(MEMORY_ONLY_ENV).is_some() {
        let fc = rt.block_on(cluster(5_000, 5_000));
        memory(&fc);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    list_pods(&mut c, &rt);
    export(&mut c, &rt);
    c.final_summary();
}
