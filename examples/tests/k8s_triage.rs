//! Runs the `k8s_triage` example as a process against FakeCluster: its report, formats, exit
//! codes and help. Built with `--features k8s`.
#![cfg(feature = "k8s")]

mod support;

use std::process::Output;
use std::time::Duration;

use fleet_testkit::k8s::{FLEET_API_IMAGE, FLEET_NAMESPACE, FakeCluster, Op, Scenario};

/// Runs the example with the cluster's kubeconfig; awaited, so the in-process server answers.
async fn run(c: &FakeCluster, args: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(support::exe("k8s_triage"));
    cmd.args(args)
        .env("KUBECONFIG", c.kubeconfig_path())
        .env_remove("RUST_LOG");
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    cmd.output().await.expect("k8s_triage runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn fleet() -> FakeCluster {
    let c = FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("fake cluster");
    for pod in c.store().list("pods", Some(FLEET_NAMESPACE)) {
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if name.starts_with("fleet-api-") {
            c.set_logs(
                FLEET_NAMESPACE,
                &name,
                "fleet-api",
                &["INFO started", "ERROR upstream timed out"],
            );
        }
    }
    c
}

#[tokio::test]
async fn a_healthy_fleet_passes_with_every_section() {
    let c = fleet().await;
    let out = run(&c, &[], None).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for want in [
        "== pods (fleet-management)",
        "NAME",
        "RESTARTS",
        "fleet-postgres-0",
        "== logs (app=fleet-api)",
        "] ERROR upstream timed out",
        "== ingresses",
        "fleet-ingress  class=nginx  address=20.62.0.10",
        "== services",
        "EXTERNAL-IP",
        "== verdict\nOK:",
    ] {
        assert!(stdout.contains(want), "{want:?} missing:\n{stdout}");
    }
    // Six pods, three of them fleet-api, two lines each.
    assert_eq!(stdout.matches("[pod/fleet-api-").count(), 6, "{stdout}");
    // --grep filters the log lines.
    let out = run(&c, &["--grep", "ERROR"], None).await;
    assert_eq!(text(&out.stdout).matches("[pod/fleet-api-").count(), 3);
}

#[tokio::test]
async fn failing_pods_exit_1_with_causes_and_the_policy_step() {
    let c = fleet().await;
    c.set_scenario(
        FLEET_API_IMAGE,
        Scenario::CrashLoop {
            exit_code: 2,
            restarts: 4,
        },
    );
    c.set_pod_scenario(
        FLEET_NAMESPACE,
        "fleet-postgres-0",
        Scenario::OomKilled { restarts: 3 },
    );
    assert!(
        c.wait_until(Duration::from_secs(5), |s| {
            s.list("pods", Some(FLEET_NAMESPACE))
                .iter()
                .filter(|p| p["status"]["containerStatuses"][0]["restartCount"] != 0)
                .count()
                == 4
        })
        .await
    );
    let out = run(&c, &[], None).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for want in [
        "is crash-looping (4 restarts)",
        "was OOMKilled",
        "   next: scale vertically",
        "   vertical step: requests cpu=500m memory=512Mi, limits cpu=1000m memory=1Gi",
        "== verdict\n- pod ",
        "next: restart the deployment",
    ] {
        assert!(stdout.contains(want), "{want:?} missing:\n{stdout}");
    }
    // The step comes from the policy given.
    let dir = std::env::temp_dir().join(format!("k8s-triage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[scaling.vertical]\nlimits_memory = \"4Gi\"\n").expect("write");
    let out = run(&c, &["--policy", policy.to_str().expect("utf-8")], None).await;
    assert!(text(&out.stdout).contains("limits cpu=1000m memory=4Gi"));
    std::fs::remove_dir_all(&dir).ok();

    // JSON carries the same verdict.
    let out = run(&c, &["--output", "json"], None).await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let problems = v["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert_eq!(v["pods"].as_array().map(Vec::len), Some(6));
    assert_eq!(v["diagnoses"].as_array().map(Vec::len), Some(4));
    assert_eq!(v["namespace"], "fleet-management");
}

#[tokio::test]
async fn help_reads_like_the_runbook_step_and_bad_input_exits_2() {
    let c = fleet().await;
    let out = run(&c, &["--help"], None).await;
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for want in [
        "Site Down / 503 Errors",
        "kubectl get pods -n NAMESPACE",
        "kubectl logs -l SELECTOR --tail=N",
        "kubectl describe ingress",
        "kubectl get svc",
        "--output <OUTPUT>",
    ] {
        assert!(help.contains(want), "{want:?} missing:\n{help}");
    }
    let out = run(&c, &["--selector", "app=fleet api"], None).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid label selector"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&c, &["--output", "yaml"], None).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn rust_log_shows_retries_on_stderr() {
    let c = fleet().await;
    c.fail_next(Op::List, 503, 1);
    let out = run(&c, &[], Some("fleet_k8s=debug")).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("transient failure, retrying"), "{stderr}");
    assert!(!text(&out.stdout).contains("retrying"));
}
