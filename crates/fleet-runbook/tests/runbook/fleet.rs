//! Many clusters: twenty FakeClusters, some slow, some refusing, one gone and one too slow
//! for its deadline, read at once with a bound and changed one by one in order.

use std::time::Duration;

use fleet_k8s::{ClusterOptions, Deployments, KubeCluster, Pods, RetryPolicy};
use fleet_runbook::{ClusterError, FleetOptions, cluster_for_context, run_across, run_in_order};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op};

const SLOW: [usize; 4] = [1, 5, 9, 13];
const REFUSING: [usize; 2] = [3, 11];
const GONE: usize = 7;
const TOO_SLOW: usize = 15;

/// Twenty clusters and a kubeconfig with a context per cluster (`cluster-00`...).
async fn fleet() -> (Vec<FakeCluster>, kube::config::Kubeconfig) {
    let mut fakes = Vec::new();
    let mut yaml = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    let mut contexts = String::from("contexts:\n");
    for i in 0..20 {
        let fake = FakeCluster::builder()
            .seed_fleet()
            .without_controllers()
            .start()
            .await
            .expect("fake cluster");
        let url = fake.url();
        yaml.push_str(&format!(
            "- name: cluster-{i:02}\n  cluster:\n    server: {url}\n"
        ));
        contexts.push_str(&format!(
            "- name: cluster-{i:02}\n  context:\n    cluster: cluster-{i:02}\n    user: admin\n    namespace: {FLEET_NAMESPACE}\n"
        ));
        if i == GONE {
            // A cluster that does not answer: its address, with nothing listening any more.
            fake.shutdown().await;
        } else {
            fakes.push(fake);
        }
    }
    yaml.push_str(&contexts);
    yaml.push_str("users:\n- name: admin\n  user: {}\ncurrent-context: cluster-00\n");
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig");
    (fakes, kubeconfig)
}

/// The FakeCluster of context `i` (the gone one has none).
fn fake(fakes: &[FakeCluster], i: usize) -> &FakeCluster {
    &fakes[if i > GONE { i - 1 } else { i }]
}

async fn clients(kubeconfig: &kube::config::Kubeconfig, n: usize) -> Vec<(String, KubeCluster)> {
    let options = ClusterOptions::default().with_retry(
        RetryPolicy::default()
            .with_max_attempts(2)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
            .with_budget(Duration::from_secs(1)),
    );
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("cluster-{i:02}");
        let cluster = cluster_for_context(kubeconfig, &name, options.clone())
            .await
            .expect("context");
        out.push((name, cluster));
    }
    out
}

/// The health read: the deployment and the pods.
async fn health(_: String, k: KubeCluster) -> fleet_k8s::Result<(i32, usize)> {
    let d = k.get_deployment("fleet-api").await?;
    let pods = k.list_pods().await?;
    Ok((d.replicas, pods.len()))
}

#[tokio::test]
#[allow(clippy::print_stderr, reason = "the measurement is the test's output")]
async fn a_read_across_twenty_clusters_is_bounded_partial_and_attributed() {
    let (fakes, kubeconfig) = fleet().await;
    for i in SLOW {
        fake(&fakes, i).set_latency(Duration::from_millis(300));
    }
    fake(&fakes, TOO_SLOW).set_latency(Duration::from_secs(10));
    for i in REFUSING {
        fake(&fakes, i).fail_next(Op::Any, 403, 10_000);
    }
    let deadline = Duration::from_secs(2);

    let together = run_across(
        clients(&kubeconfig, 20).await,
        &FleetOptions::default()
            .with_max_in_flight(8)
            .with_deadline(deadline),
        health,
    )
    .await;
    let one_by_one = run_across(
        clients(&kubeconfig, 20).await,
        &FleetOptions::default()
            .with_max_in_flight(1)
            .with_deadline(deadline),
        health,
    )
    .await;
    eprintln!(
        "fleet read of 20 clusters: {:?} with 8 in flight, {:?} one by one",
        together.elapsed, one_by_one.elapsed
    );

    for report in [&together, &one_by_one] {
        assert_eq!(report.outcomes.len(), 20);
        assert_eq!(report.succeeded().count(), 16, "{report}");
        assert_eq!(report.exit_code(), 1);
        for (i, o) in report.outcomes.iter().enumerate() {
            assert_eq!(o.cluster, format!("cluster-{i:02}"), "declared order kept");
            match (&o.result, i) {
                (Err(ClusterError::Failed(e)), i) if REFUSING.contains(&i) => {
                    assert!(e.is_forbidden(), "{}: {e}", o.cluster);
                }
                (Err(ClusterError::Failed(e)), GONE) => {
                    assert!(e.is_transient(), "{}: {e}", o.cluster);
                }
                (Err(ClusterError::TimedOut(d)), TOO_SLOW) => assert_eq!(*d, deadline),
                (Ok((replicas, pods)), _) => assert!(*replicas > 0 && *pods > 0),
                (other, i) => panic!(
                    "cluster-{i:02}: unexpected {:?}",
                    other.as_ref().err().map(ToString::to_string)
                ),
            }
        }
        let json = report.to_json();
        assert_eq!(json["failed"], 4);
        assert_eq!(json["clusters"][TOO_SLOW]["error_kind"], "timed_out");
        assert!(
            report.to_string().contains("FAILED  cluster-03"),
            "{report}"
        );
    }
    assert!(
        together.elapsed * 2 < one_by_one.elapsed,
        "bounded concurrency beats one by one: {:?} vs {:?}",
        together.elapsed,
        one_by_one.elapsed
    );
    assert!(
        together.elapsed < deadline + Duration::from_secs(2),
        "{:?}",
        together.elapsed
    );
}

#[tokio::test]
async fn a_change_runs_in_order_and_stops_at_the_first_failure() {
    let (fakes, kubeconfig) = fleet().await;
    fake(&fakes, REFUSING[0]).fail_next(Op::Any, 403, 10_000);
    let scale = |_: String, k: KubeCluster| async move {
        k.scale("fleet-api", 4, None).await.map(|o| o.value)
    };
    let clusters = clients(&kubeconfig, 6).await;
    let report = run_in_order(clusters, &FleetOptions::default(), scale).await;
    let replicas = |i: usize| {
        fake(&fakes, i)
            .store()
            .get("deployments", FLEET_NAMESPACE, "fleet-api")
            .and_then(|d| d["spec"]["replicas"].as_i64())
    };
    for i in 0..3 {
        assert!(report.outcomes[i].result.is_ok(), "{report}");
        assert_eq!(replicas(i), Some(4));
    }
    assert!(matches!(&report.outcomes[3].result, Err(ClusterError::Failed(e)) if e.is_forbidden()));
    for i in 4..6 {
        assert!(
            matches!(&report.outcomes[i].result, Err(ClusterError::NotRun { after }) if after == "cluster-03"),
            "{report}"
        );
        assert_ne!(replicas(i), Some(4), "cluster-{i:02} untouched");
    }
    assert_eq!(report.exit_code(), 1);

    // Told to go on, the others are changed too.
    let clusters = clients(&kubeconfig, 6).await;
    let report = run_in_order(
        clusters,
        &FleetOptions::default().with_continue_on_failure(true),
        scale,
    )
    .await;
    assert_eq!(report.succeeded().count(), 5, "{report}");
    assert_eq!(replicas(5), Some(4));
}

/// A seeded cluster whose pods are all ready, and a client for it.
async fn ready_cluster() -> (FakeCluster, KubeCluster) {
    let fake = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(50))
        .start()
        .await
        .expect("fake cluster");
    let ready = fake
        .wait_until(Duration::from_secs(10), |s| {
            let pods = s.list("pods", Some(FLEET_NAMESPACE));
            !pods.is_empty()
                && pods
                    .iter()
                    .all(|p| p["status"]["containerStatuses"][0]["ready"] == true)
        })
        .await;
    assert!(ready, "the seeded pods become ready");
    let client = KubeCluster::from_config(
        kube::Config::new(fake.url().parse().expect("url")),
        ClusterOptions::default().with_namespace(FLEET_NAMESPACE),
    )
    .expect("client");
    (fake, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_health_read_validates_every_cluster_and_combines_the_exit_codes() {
    use fleet_guard::{Guards, MemoryAuditSink, Mode, RunContext};
    use fleet_runbook::{ValidateOptions, health_exit_code, validate_across};
    use fleet_testkit::k8s::Scenario;
    use std::sync::Arc;

    let (_healthy, healthy_client) = ready_cluster().await;
    let (looping, looping_client) = ready_cluster().await;
    let (slow, slow_client) = ready_cluster().await;
    // One cluster's release starts crash-looping; another answers too slowly.
    let image = looping
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("fleet-api")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .expect("image")
        .to_owned();
    looping.set_scenario(
        &image,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 3,
        },
    );
    let _ = looping
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
    let settled = looping
        .wait_until(Duration::from_secs(10), |s| {
            s.list("pods", Some(FLEET_NAMESPACE)).iter().any(|p| {
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    == "CrashLoopBackOff"
            })
        })
        .await;
    assert!(settled, "pods crash-loop");
    slow.set_latency(Duration::from_secs(10));

    // The critical paths answer on every cluster (one local application stands in for them).
    let app = crate::common::Receiver::start(crate::common::Answer::new(200, "ok")).await;
    let smoke = crate::world::PATHS
        .iter()
        .map(|(name, path)| fleet_runbook::SmokeCheck::get(*name, app.url(path)))
        .collect();
    let audit = Arc::new(MemoryAuditSink::new());
    let context =
        RunContext::new("fleet-health", "ci", "scheduled health read", Mode::Execute).expect("ctx");
    let report = validate_across(
        vec![
            ("east".into(), healthy_client),
            ("west".into(), looping_client),
            ("north".into(), slow_client),
        ],
        &ValidateOptions::new("fleet-api", smoke),
        &fleet_policy::Policy::default(),
        &context,
        &Guards::new(audit.clone()),
        &FleetOptions::default().with_deadline(Duration::from_secs(3)),
    )
    .await;

    let codes: Vec<Option<u8>> = report
        .outcomes
        .iter()
        .map(|o| o.result.as_ref().ok().map(|r| r.exit_code))
        .collect();
    assert_eq!(
        codes,
        [Some(0), Some(1), None],
        "{report}\n{}",
        report
            .outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok().map(|r| r.to_text()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(matches!(
        report.outcomes[2].result,
        Err(ClusterError::TimedOut(_))
    ));
    let west = report.outcomes[1].result.as_ref().expect("west read");
    assert!(
        west.findings
            .findings
            .iter()
            .any(|f| f.outcome == fleet_policy::Outcome::Fail),
        "{}",
        west.to_text()
    );
    assert_eq!(health_exit_code(&report), 2, "a cluster without a report");
    let mut without_slow = report;
    without_slow.outcomes.truncate(2);
    assert_eq!(health_exit_code(&without_slow), 1, "a blocking finding");
}
