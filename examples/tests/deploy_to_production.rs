//! Runs the `deploy_to_production` example as a process against FakeCluster, a real
//! PostgreSQL and AzureReplay: a dry run changes nothing (exit 0), a good hotfix is released
//! (exit 0) holding the target's Lease while it runs, and a release whose image crash-loops is rolled back automatically (exit 1, the
//! report says why).
#![cfg(feature = "runbook")]

mod release;
mod support;

use fleet_testkit::k8s::Scenario;
use release::{World, expect_exit, outcome};

const GOOD: &str = "registry.example.com/fleet/fleet-api:1.3.0";
const BAD: &str = "registry.example.com/fleet/fleet-api:6.6.6";

fn args<'a>(version: &'a str, image: &'a str) -> Vec<&'a str> {
    vec![
        version,
        "--image",
        image,
        "--hotfix",
        "--approved-by",
        "lead@example.com",
        "--bake-secs",
        "1",
        "--rollout-timeout-secs",
        "60",
        "--output",
        "json",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_release_goes_out_and_a_crash_looping_one_is_rolled_back() {
    let w = World::start().await;
    let old = w.image();

    let mut dry = args("v1.3.0", GOOD);
    dry.push("--dry-run");
    let report = expect_exit(&w.run("deploy_to_production", &dry, true).await, 0);
    assert_eq!(report["procedure"], "deploy-to-production");
    assert_eq!(w.image(), old, "a dry run changes nothing");

    // The good release, with #deployments on a local Slack receiver.
    let (slack, received) = support::recording_receiver().await;
    let hook = format!("{slack}/services/T000/B000/XXXX");
    let mut good = args("v1.3.0", GOOD);
    good.extend(["--slack-webhook", &hook]);
    let report = expect_exit(&w.run("deploy_to_production", &good, true).await, 0);
    assert_eq!(outcome(&report, "deploy.preflight"), ["pass"]);
    assert_eq!(w.image(), GOOD);
    // The deploy held the target's Lease while it ran, and gave it back.
    let took = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"]["id"] == "take-lock")
        .map(|s| s["outcome"].clone());
    assert_eq!(took, Some(serde_json::json!("succeeded")), "{report}");
    let leases = w.cluster.store().list("leases", Some("fleet-management"));
    assert!(
        !leases.is_empty()
            && leases.iter().all(|l| l["spec"]["holderIdentity"]
                .as_str()
                .is_none_or(str::is_empty)),
        "taken and released: {leases:?}"
    );
    let posts = received.lock().expect("lock").clone();
    assert!(
        posts.len() >= 2
            && posts
                .iter()
                .all(|p| p.starts_with("POST /services/T000/B000/XXXX ")),
        "the start and the end of the deploy were posted: {posts:?}"
    );
    assert!(posts.iter().any(|p| p.contains("1.3.0")), "{posts:?}");
    assert!(
        !report.to_string().contains("XXXX"),
        "the webhook never appears in the report"
    );

    w.cluster.set_scenario(
        BAD,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 3,
        },
    );
    let report = expect_exit(
        &w.run("deploy_to_production", &args("v1.4.0", BAD), true)
            .await,
        1,
    );
    assert!(
        outcome(&report, "rollback.crash-loop").contains(&"fail".to_owned()),
        "{report}"
    );
    assert_eq!(w.image(), GOOD, "rolled back to the good release");
}
