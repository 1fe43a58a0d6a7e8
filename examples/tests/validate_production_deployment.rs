//! Runs the `validate_production_deployment` example as a process against FakeCluster: a
//! healthy release with answering critical paths passes (exit 0, JSON report), a release whose
//! pods crash-loop is blocked (exit 1) with the crash-loop finding.
#![cfg(feature = "runbook")]

mod support;

use std::process::Output;
use std::time::Duration;

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Scenario};

async fn run(c: &FakeCluster, args: &[&str]) -> Output {
    tokio::process::Command::new(support::exe("validate_production_deployment"))
        .args(args)
        .env("KUBECONFIG", c.kubeconfig_path())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("validate_production_deployment runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_release_passes_and_a_crash_looping_one_is_blocked() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(100))
        .start()
        .await
        .expect("fake cluster");
    let base = support::ok_app().await;
    // The policy's four critical paths; a missing one is itself a finding.
    let login = format!("login flow={base}/login");
    let dashboard = format!("vehicle dashboard={base}/vehicles");
    let gps = format!("GPS tracking={base}/gps");
    let orders = format!("work orders={base}/work-orders");
    let paths = [
        "--smoke", &login, "--smoke", &dashboard, "--smoke", &gps, "--smoke", &orders,
    ];
    let mut args = paths.to_vec();
    args.extend(["--output", "json"]);

    let out = run(&c, &args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["procedure"], "validate-production-deployment");
    assert_eq!(report["exit_code"], 0);

    // The next release crash-loops: the validation blocks and says why.
    let bad = "registry.example.com/fleet/fleet-api:6.6.6";
    c.set_scenario(
        bad,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 4,
        },
    );
    let set = tokio::process::Command::from(c.kubectl())
        .args([
            "-n",
            FLEET_NAMESPACE,
            "set",
            "image",
            "deployment/fleet-api",
        ])
        .arg(format!("fleet-api={bad}"))
        .output()
        .await
        .expect("kubectl runs");
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = run(&c, &paths).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("crash"), "{stdout}");
}
