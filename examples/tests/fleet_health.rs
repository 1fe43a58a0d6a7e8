//! Runs the `fleet_health` example as a process against two FakeClusters named by one
//! kubeconfig: with both healthy it passes (exit 0); when one cluster's release crash-loops the
//! combined report names that cluster and exits 1; only the named contexts are read.
#![cfg(feature = "runbook")]

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Scenario};

/// Runs the example with the four critical paths of the policy served by `base`.
async fn run(kubeconfig: &Path, base: &str, args: &[&str]) -> Output {
    let smoke = [
        format!("login flow={base}/login"),
        format!("vehicle dashboard={base}/vehicles"),
        format!("GPS tracking={base}/gps"),
        format!("work orders={base}/work-orders"),
    ];
    tokio::process::Command::new(support::exe("fleet_health"))
        .args(smoke.iter().flat_map(|s| ["--smoke", s.as_str()]))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("fleet_health runs")
}

async fn ready_cluster() -> FakeCluster {
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(50))
        .start()
        .await
        .expect("fake cluster");
    let ready = c
        .wait_until(Duration::from_secs(10), |s| {
            let pods = s.list("pods", Some(FLEET_NAMESPACE));
            !pods.is_empty()
                && pods
                    .iter()
                    .all(|p| p["status"]["containerStatuses"][0]["ready"] == true)
        })
        .await;
    assert!(ready, "the seeded pods become ready");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_context_is_validated_and_a_crash_looping_cluster_fails_the_fleet() {
    let base = support::ok_app().await;
    let east = ready_cluster().await;
    let west = ready_cluster().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut yaml = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, c) in [("east", &east), ("west", &west)] {
        yaml.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {}\n",
            c.url()
        ));
    }
    yaml.push_str("contexts:\n");
    for name in ["east", "west"] {
        yaml.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: admin\n"
        ));
    }
    yaml.push_str("users:\n- name: admin\n  user: {}\ncurrent-context: east\n");
    std::fs::write(&kubeconfig, yaml).expect("write kubeconfig");

    let out = run(&kubeconfig, &base, &["--output", "json"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["succeeded"], 2, "{json}");

    // West's release starts crash-looping.
    let image = west
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("fleet-api")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .expect("image")
        .to_owned();
    west.set_scenario(
        &image,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 3,
        },
    );
    let _ = west
        .kubectl()
        .args([
            "-n",
            FLEET_NAMESPACE,
            "delete",
            "pods",
            "-l",
            "app=fleet-api",
        ])
        .output();
    let looping = west
        .wait_until(Duration::from_secs(10), |s| {
            s.list("pods", Some(FLEET_NAMESPACE)).iter().any(|p| {
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    == "CrashLoopBackOff"
            })
        })
        .await;
    assert!(looping, "west's pods crash-loop");

    let out = run(&kubeconfig, &base, &[]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("== west =="), "{text}");
    assert!(text.contains("crash-loop"), "{text}");

    // Only the named context is read: east alone is healthy.
    west.clear_requests();
    let out = run(&kubeconfig, &base, &["--context", "east"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(west.requests().is_empty(), "west was not read");
}
