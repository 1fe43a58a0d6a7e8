//! Runs the `rollback_production` example as a process against FakeCluster: `--list`, a
//! refused rollback that changes nothing (exit 2), and `--confirm ROLLBACK` that rolls back,
//! validates against a local application and writes the audit log (exit 0).
#![cfg(feature = "runbook")]

mod support;

use std::process::Output;
use std::time::Duration;

use fleet_testkit::k8s::{FLEET_API_IMAGE, FLEET_NAMESPACE, FakeCluster};

async fn run(c: &FakeCluster, args: &[&str]) -> Output {
    tokio::process::Command::new(support::exe("rollback_production"))
        .args(args)
        .env("KUBECONFIG", c.kubeconfig_path())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("rollback_production runs")
}

fn image(c: &FakeCluster) -> String {
    c.store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("fleet-api")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .expect("image")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_refuses_without_the_word_and_rolls_back_with_it() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(100))
        .start()
        .await
        .expect("fake cluster");
    let new = "registry.example.com/fleet/fleet-api:9.9.9";
    let set = tokio::process::Command::from(c.kubectl())
        .args([
            "-n",
            FLEET_NAMESPACE,
            "set",
            "image",
            "deployment/fleet-api",
            &format!("fleet-api={new}"),
        ])
        .output()
        .await
        .expect("kubectl");
    assert!(set.status.success());
    assert!(
        c.wait_until(Duration::from_secs(10), |s| {
            s.get("deployments", FLEET_NAMESPACE, "fleet-api")
                .is_some_and(|d| {
                    d["status"]["updatedReplicas"] == d["spec"]["replicas"]
                        && d["status"]["availableReplicas"] == d["spec"]["replicas"]
                })
        })
        .await
    );

    let listed = run(&c, &["--list", "--output", "json"]).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let lines: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(lines[0]["current"], true);
    assert!(
        lines[0]["images"][0]
            .as_str()
            .expect("image")
            .ends_with(new)
    );

    let refused = run(&c, &["--output", "json"]).await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&refused.stdout).expect("json");
    assert_eq!(report["status"], "refused");
    assert_eq!(image(&c), new);

    let base = support::ok_app().await;
    let (hook, received) = support::recording_receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let mut args = vec![
        "--confirm".to_owned(),
        "ROLLBACK".into(),
        "--audit-log".into(),
        audit.display().to_string(),
        "--reason".into(),
        "INC-7".into(),
        "--webhook".into(),
        format!("{hook}/incidents"),
    ];
    for (name, path) in [
        ("login flow", "/login"),
        ("vehicle dashboard", "/vehicles"),
        ("GPS tracking", "/gps"),
        ("work orders", "/work-orders"),
    ] {
        args.push("--smoke".into());
        args.push(format!("{name}={base}{path}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = run(&c, &args).await;
    let out = String::from_utf8_lossy(&done.stdout);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(image(&c), FLEET_API_IMAGE);
    let records = std::fs::read_to_string(&audit).expect("audit log");
    // The Lease taken, then the undo: each an intent and an outcome.
    let steps: Vec<String> = records
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).expect("json line");
            format!(
                "{} {}",
                r["step"].as_str().unwrap_or(""),
                r["phase"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "take-lock intent",
            "take-lock outcome",
            "rollout-undo intent",
            "rollout-undo outcome"
        ],
        "{records}"
    );
    assert!(records.contains("INC-7"));
    // #incidents was told, through the webhook.
    let posts = received.lock().expect("lock").clone();
    assert!(
        posts.iter().any(|p| p.starts_with("POST /incidents ")),
        "{posts:?}"
    );
}
