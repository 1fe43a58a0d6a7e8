//! Runs the `security_isolate` example as a process against FakeCluster: a dry run that changes
//! nothing, a run without the confirmation word that is refused (exit 2), a confirmed run that
//! blocks the addresses at the ingress with its audit log and JSON report, and an address that
//! is not one failing (exit 1). Built with `--features incident`.
#![cfg(feature = "incident")]

mod support;

use std::process::Output;

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};

const DENYLIST: &str = "nginx.ingress.kubernetes.io/denylist-source-range";

async fn isolate(c: &FakeCluster, args: &[&str]) -> Output {
    tokio::process::Command::new(support::exe("security_isolate"))
        .args(args)
        .env("KUBECONFIG", c.kubeconfig_path())
        .env("USER", "oncall")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("example runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn denylist(c: &FakeCluster) -> String {
    let ingress = c
        .store()
        .get("ingresses", FLEET_NAMESPACE, "fleet-ingress")
        .expect("ingress");
    ingress["metadata"]["annotations"][DENYLIST]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn security_isolate_blocks_addresses_only_when_confirmed() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("cluster");
    let block = ["--block", "203.0.113.7/32", "--block", "198.51.100.0/24"];

    let dry = isolate(&c, &[&block[..], &["--dry-run"]].concat()).await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("203.0.113.7/32"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(denylist(&c), "", "a dry run changes nothing");

    let refused = isolate(&c, &[&block[..], &["--confirm", "WRONG"]].concat()).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stdout));
    assert_eq!(denylist(&c), "");

    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let audit_arg = audit.to_str().expect("utf-8 path");
    let done = isolate(
        &c,
        &[
            &block[..],
            &[
                "--confirm",
                "ISOLATE",
                "--audit-log",
                audit_arg,
                "--output",
                "json",
            ],
        ]
        .concat(),
    )
    .await;
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}{}",
        text(&done.stdout),
        text(&done.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&done.stdout).expect("json report");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["procedure"], "security-isolate");
    let list = denylist(&c);
    assert!(
        list.contains("203.0.113.7/32") && list.contains("198.51.100.0/24"),
        "{list}"
    );
    let log = std::fs::read_to_string(&audit).expect("audit log");
    assert!(log.lines().count() >= 2, "intent and outcome: {log}");
    assert!(log.contains("\"block\"") && log.contains("oncall"), "{log}");

    let bad = isolate(&c, &["--block", "not-an-address", "--confirm", "ISOLATE"]).await;
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stdout));
    assert!(
        text(&bad.stdout).contains("not-an-address"),
        "{}",
        text(&bad.stdout)
    );
}
