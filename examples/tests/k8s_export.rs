//! Runs the `k8s_export` example as a process against FakeCluster: JSON lines, the text
//! summary, exclusions and exit codes. Built with `--features k8s`.
#![cfg(feature = "k8s")]

mod support;

use std::process::Output;

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};

async fn run(kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    tokio::process::Command::new(support::exe("k8s_export"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("k8s_export runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn fleet() -> FakeCluster {
    FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("fake cluster")
}

#[tokio::test]
async fn exports_every_object_as_json_lines() {
    let c = fleet().await;
    let out = run(c.kubeconfig_path(), &["--page-size", "2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert!(
        lines
            .iter()
            .all(|o| o["apiVersion"].is_string() && o["kind"].is_string())
    );
    let count = |kind: &str| lines.iter().filter(|o| o["kind"] == kind).count();
    assert_eq!(
        count("Pod"),
        c.store().list("pods", Some(FLEET_NAMESPACE)).len()
    );
    assert_eq!(count("Deployment"), 2);
    assert_eq!(count("Secret"), 1);
    assert_eq!(count("Event"), 0, "events are history, left out");
    assert!(
        text(&out.stderr).contains(&format!("exported {} objects", lines.len())),
        "{}",
        text(&out.stderr)
    );

    let out = run(c.kubeconfig_path(), &["--exclude", "secrets"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(!text(&out.stdout).contains("\"kind\":\"Secret\""));
}

#[tokio::test]
async fn text_output_counts_each_kind() {
    let c = fleet().await;
    let out = run(c.kubeconfig_path(), &["--output", "text"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("RESOURCE"), "{stdout}");
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<usize>().ok())
    };
    assert_eq!(row("pods"), Some(6), "{stdout}");
    assert_eq!(row("deployments.apps"), Some(2), "{stdout}");
    let total = row("total").expect("a total row");
    let kinds: usize = stdout
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("total"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        .sum();
    assert_eq!(total, kinds);
}

#[tokio::test]
async fn help_and_errors() {
    let c = fleet().await;
    let out = run(c.kubeconfig_path(), &["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.contains("kubectl get all -o yaml") && help.contains("encrypt"),
        "{help}"
    );
    // A cluster that is not there: exit 2 and a message, no partial output.
    let url = c.url();
    drop(c);
    let dir = std::env::temp_dir().join(format!("k8s-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"{url}\"}}\n\
             contexts:\n- name: c\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {{}}\n\
             current-context: c\n"
        ),
    )
    .expect("write");
    let out = run(&kubeconfig, &[]).await;
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: discover API resources: gave up after"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "quiet without RUST_LOG: {stderr}"
    );
    assert!(out.stdout.is_empty());
}
