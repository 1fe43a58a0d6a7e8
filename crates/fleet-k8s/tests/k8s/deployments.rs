//! Deployment operations against FakeCluster; history, undo, status and request counts are
//! compared with the real kubectl run against an identical cluster.

use std::time::Duration;

use fleet_k8s::{
    ContainerResources, Deployments, Error, RolloutRestartOptions, RolloutState,
    RolloutStatusOptions, RolloutUndoOptions, ScaleOptions, SetImageOptions, UndoOutcome,
    UpdateResourcesOptions,
};

use crate::common::{self, fleet, kube_cluster, kubectl};

fn wait(d: Duration) -> Option<RolloutStatusOptions> {
    Some(RolloutStatusOptions::default().with_timeout(d))
}

fn to(revision: i64) -> Option<RolloutUndoOptions> {
    Some(RolloutUndoOptions::default().with_to_revision(revision))
}
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op, Scenario};

const IMG_15: &str = "registry.example.com/fleet/fleet-api:1.5.0";
const IMG_16: &str = "registry.example.com/fleet/fleet-api:1.6.0";

async fn deploy(k: &fleet_k8s::KubeCluster, image: &str) {
    k.set_image(
        "fleet-api",
        "fleet-api",
        image,
        Some(SetImageOptions::default().with_change_cause(format!("deploy {image}"))),
    )
    .await
    .expect("set image");
    let state = k
        .rollout_status("fleet-api", wait(Duration::from_secs(10)))
        .await
        .expect("rollout completes");
    assert!(state.is_complete(), "{state:?}");
}

/// `kubectl rollout history` rows: (revision, change cause).
async fn kubectl_history(c: &FakeCluster) -> Vec<(i64, String)> {
    let (ok, out, err) = kubectl(c, &["rollout", "history", "deployment/fleet-api"]).await;
    assert!(ok, "{err}");
    out.lines()
        .filter_map(|l| {
            let (rev, cause) = l.trim().split_once(char::is_whitespace)?;
            Some((rev.parse().ok()?, cause.trim().to_string()))
        })
        .collect()
}

fn store_images(c: &FakeCluster) -> String {
    c.store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .map(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
}

fn annotations_without_revision(c: &FakeCluster) -> serde_json::Value {
    let mut a = c
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .map(|d| d["metadata"]["annotations"].clone())
        .unwrap_or_default();
    if let Some(m) = a.as_object_mut() {
        m.remove("deployment.kubernetes.io/revision");
    }
    a
}

#[tokio::test]
async fn set_image_status_and_history_agree_with_kubectl() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    deploy(&k, IMG_15).await;
    deploy(&k, IMG_16).await;
    let info = k.get_deployment("fleet-api").await.expect("get");
    assert_eq!(info.revision, Some(3));
    assert!(info.rollout.is_complete());
    assert_eq!(info.images[0].image, IMG_16);

    let history = k.rollout_history("fleet-api").await.expect("history");
    let ours: Vec<(i64, String)> = history
        .iter()
        .map(|r| {
            (
                r.revision,
                r.change_cause.clone().unwrap_or_else(|| "<none>".into()),
            )
        })
        .collect();
    assert_eq!(ours, kubectl_history(&c).await);
    assert_eq!(ours[1], (2, format!("deploy {IMG_15}")));
    assert!(
        history
            .last()
            .is_some_and(|r| r.current && r.images[0].image == IMG_16)
    );

    // kubectl prints the same final state.
    let (ok, out, _) = kubectl(
        &c,
        &["rollout", "status", "deployment/fleet-api", "--watch=false"],
    )
    .await;
    assert!(ok);
    assert_eq!(out.trim(), info.rollout.message());
}

#[tokio::test]
async fn undo_matches_kubectl_on_an_identical_cluster() {
    let ours = fleet().await;
    let theirs = fleet().await;
    let k_ours = kube_cluster(&ours);
    let k_theirs = kube_cluster(&theirs);
    for k in [&k_ours, &k_theirs] {
        deploy(k, IMG_15).await;
        deploy(k, IMG_16).await;
    }
    // Back to the previous revision.
    let out = k_ours.rollout_undo("fleet-api", None).await.expect("undo");
    assert_eq!(
        out,
        UndoOutcome::RolledBack {
            to_revision: 2,
            applied: true
        }
    );
    let (ok, _, err) = kubectl(&theirs, &["rollout", "undo", "deployment/fleet-api"]).await;
    assert!(ok, "{err}");
    for c in [&ours, &theirs] {
        assert!(
            c.wait_until(Duration::from_secs(5), |s| s
                .get("deployments", FLEET_NAMESPACE, "fleet-api")
                .is_some_and(
                    |d| d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
                ))
            .await
        );
    }
    assert_eq!(store_images(&ours), IMG_15);
    assert_eq!(store_images(&ours), store_images(&theirs));
    assert_eq!(
        annotations_without_revision(&ours),
        annotations_without_revision(&theirs)
    );
    assert_eq!(kubectl_history(&ours).await, kubectl_history(&theirs).await);

    // To a given revision.
    let out = k_ours
        .rollout_undo("fleet-api", to(1))
        .await
        .expect("undo to 1");
    assert_eq!(
        out,
        UndoOutcome::RolledBack {
            to_revision: 1,
            applied: true
        }
    );
    let (ok, _, err) = kubectl(
        &theirs,
        &["rollout", "undo", "deployment/fleet-api", "--to-revision=1"],
    )
    .await;
    assert!(ok, "{err}");
    for c in [&ours, &theirs] {
        assert!(
            c.wait_until(Duration::from_secs(5), |s| s
                .get("deployments", FLEET_NAMESPACE, "fleet-api")
                .is_some_and(
                    |d| d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "5"
                ))
            .await
        );
    }
    assert_eq!(store_images(&ours), store_images(&theirs));
    assert_eq!(kubectl_history(&ours).await, kubectl_history(&theirs).await);
    let h = k_ours.rollout_history("fleet-api").await.expect("history");
    assert_eq!(
        h.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );

    // Undo to the revision already running is a no-op, as in kubectl.
    let out = k_ours
        .rollout_undo("fleet-api", to(5))
        .await
        .expect("no-op");
    assert_eq!(out, UndoOutcome::Skipped { revision: 5 });
    let (ok, stdout, _) = kubectl(
        &theirs,
        &["rollout", "undo", "deployment/fleet-api", "--to-revision=5"],
    )
    .await;
    assert!(ok && stdout.contains("skipped rollback"), "{stdout}");

    // Unknown revision.
    let e = k_ours
        .rollout_undo("fleet-api", to(42))
        .await
        .expect_err("no such revision");
    assert!(
        e.is_not_found()
            && e.to_string()
                .contains("unable to find specified revision 42"),
        "{e}"
    );
}

#[tokio::test]
async fn undo_is_refused_when_paused_and_without_history() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let e = k
        .rollout_undo("fleet-api", None)
        .await
        .expect_err("one revision");
    assert!(
        e.to_string()
            .contains("no rollout history found for deployment \"fleet-api\""),
        "{e}"
    );
    deploy(&k, IMG_15).await;
    c.store()
        .modify("deploy", FLEET_NAMESPACE, "fleet-api", |d| {
            d["spec"]["paused"] = serde_json::json!(true);
        })
        .expect("pause");
    c.clear_requests();
    let e = k.rollout_undo("fleet-api", None).await.expect_err("paused");
    assert!(
        e.is_refused()
            && e.to_string()
                .contains("cannot rollback a paused deployment"),
        "{e}"
    );
    assert_eq!(c.request_count(Op::Patch), 0);
    let e = k
        .rollout_restart("fleet-api", None)
        .await
        .expect_err("paused");
    assert!(e.is_refused(), "{e}");
    // A dry run changes nothing.
    c.store()
        .modify("deploy", FLEET_NAMESPACE, "fleet-api", |d| {
            d["spec"]["paused"] = serde_json::json!(false);
        })
        .expect("resume");
    let out = k
        .rollout_undo(
            "fleet-api",
            Some(RolloutUndoOptions::default().with_dry_run(true)),
        )
        .await
        .expect("dry run");
    assert_eq!(
        out,
        UndoOutcome::RolledBack {
            to_revision: 1,
            applied: false
        }
    );
    assert_eq!(store_images(&c), IMG_15);
}

#[tokio::test]
async fn progress_deadline_is_an_error_as_in_kubectl() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .progress_deadline(Duration::from_millis(300))
        .scenario(IMG_15, Scenario::Stuck)
        .start()
        .await
        .expect("start");
    let k = kube_cluster(&c);
    k.set_image("fleet-api", "fleet-api", IMG_15, None)
        .await
        .expect("set image");
    let e = k
        .rollout_status("fleet-api", wait(Duration::from_secs(10)))
        .await
        .expect_err("deadline");
    assert!(
        matches!(e, Error::ProgressDeadlineExceeded { ref name, .. } if name == "fleet-api"),
        "{e}"
    );
    let (ok, _, err) = kubectl(
        &c,
        &["rollout", "status", "deployment/fleet-api", "--timeout=10s"],
    )
    .await;
    assert!(
        !ok && err.contains("exceeded its progress deadline"),
        "{err}"
    );
    let info = k.get_deployment("fleet-api").await.expect("get");
    assert!(matches!(info.rollout, RolloutState::Failed { .. }));
}

#[tokio::test]
async fn rollout_status_times_out_and_reports_once() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .scenario(IMG_15, Scenario::SlowStart(Duration::from_secs(30)))
        .start()
        .await
        .expect("start");
    let k = kube_cluster(&c);
    k.set_image("fleet-api", "fleet-api", IMG_15, None)
        .await
        .expect("set image");
    let e = k
        .rollout_status("fleet-api", wait(Duration::from_millis(300)))
        .await
        .expect_err("timeout");
    assert!(e.is_timeout(), "{e}");
    let once = k
        .rollout_status(
            "fleet-api",
            Some(RolloutStatusOptions::default().with_watch(false)),
        )
        .await
        .expect("once");
    assert!(
        once.message()
            .starts_with("Waiting for deployment \"fleet-api\" rollout to finish"),
        "{once:?}"
    );
    let once = RolloutStatusOptions::default()
        .with_watch(false)
        .with_revision(9);
    let e = k.rollout_status("fleet-api", Some(once)).await;
    assert!(e.is_err_and(|e| e.to_string().contains("desired revision (9)")));
}

#[tokio::test]
async fn a_dropped_watch_is_resumed_by_rollout_status() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .scenario(IMG_15, Scenario::SlowStart(Duration::from_millis(600)))
        .start()
        .await
        .expect("start");
    let k = kube_cluster(&c);
    k.set_image("fleet-api", "fleet-api", IMG_15, None)
        .await
        .expect("set image");
    let waiter = {
        let k = k.clone();
        tokio::spawn(async move {
            k.rollout_status("fleet-api", wait(Duration::from_secs(15)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    c.drop_watches();
    let state = waiter
        .await
        .expect("join")
        .expect("completes after the drop");
    assert!(state.is_complete());
    assert!(c.request_count(Op::Watch) >= 2, "watch re-established");
}

#[tokio::test]
async fn restart_scale_and_resources() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let before = common::pod_named(&c, "fleet-api-").expect("pod");
    let at = k.rollout_restart("fleet-api", None).await.expect("restart");
    assert!(at.applied);
    let d = c
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("deploy");
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        at.value.to_string().as_str()
    );
    k.rollout_status("fleet-api", wait(Duration::from_secs(10)))
        .await
        .expect("rolled");
    assert!(
        c.store().get("pods", FLEET_NAMESPACE, &before).is_none(),
        "old pod replaced"
    );

    c.clear_requests();
    let scaled = k.scale("fleet-api", 5, None).await.expect("scale");
    assert_eq!((scaled.value, scaled.applied), (5, true));
    let reqs = c.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert_eq!(reqs[0].subresource.as_deref(), Some("scale"));
    assert_eq!(
        reqs[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert!(
        k.scale("fleet-api", 100_000, None)
            .await
            .expect_err("too many")
            .is_invalid_input()
    );

    // The values a caller takes from its policy (fleet_policy::scaling::vertical_step).
    let step = ContainerResources::default()
        .with_requests("500m", "512Mi")
        .with_limits("1000m", "1Gi");
    let info = k
        .update_resources("fleet-api", "fleet-api", &step, None)
        .await
        .expect("resources");
    assert!(info.applied);
    let res = &info
        .value
        .raw
        .spec
        .template
        .spec
        .as_ref()
        .expect("pod spec")
        .containers[0]
        .resources;
    let limits = res
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .expect("limits");
    assert_eq!(limits.get("memory").map(|q| q.0.as_str()), Some("1Gi"));
    let e = k
        .update_resources("fleet-api", "sidecar", &step, None)
        .await
        .expect_err("no such container");
    assert!(e.is_not_found(), "{e}");
    let mut bad = ContainerResources::default();
    bad.memory_limit = Some("lots".into());
    assert!(
        k.update_resources("fleet-api", "fleet-api", &bad, None)
            .await
            .expect_err("bad")
            .is_invalid_input()
    );
    let e = k
        .set_image("fleet-api", "fleet-api", "Not A Valid Image", None)
        .await
        .expect_err("bad image");
    assert!(e.is_invalid_input());
}

/// API requests (discovery excluded) per operation, ours against kubectl's, on one cluster.
#[tokio::test]
async fn never_more_requests_than_kubectl() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    deploy(&k, IMG_15).await;
    deploy(&k, IMG_16).await;
    let count = |c: &FakeCluster| {
        c.requests()
            .iter()
            .filter(|r| r.op != Op::Discovery)
            .count()
    };
    let mut rows = Vec::new();
    let set_image_arg = format!("fleet-api={IMG_15}");
    let ops: Vec<(&str, Vec<&str>)> = vec![
        (
            "rollout history",
            vec!["rollout", "history", "deployment/fleet-api"],
        ),
        (
            "rollout undo",
            vec!["rollout", "undo", "deployment/fleet-api"],
        ),
        (
            "rollout restart",
            vec!["rollout", "restart", "deployment/fleet-api"],
        ),
        (
            "scale",
            vec!["scale", "deployment/fleet-api", "--replicas=4"],
        ),
        (
            "set image",
            vec!["set", "image", "deployment/fleet-api", &set_image_arg],
        ),
    ];
    for (name, args) in &ops {
        // Let the previous step settle so the controllers' own work is not counted.
        k.rollout_status("fleet-api", wait(Duration::from_secs(10)))
            .await
            .expect("settled");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        c.clear_requests();
        let (ok, _, err) = kubectl(&c, args).await;
        assert!(ok, "{name}: {err}");
        let theirs = count(&c);
        k.rollout_status("fleet-api", wait(Duration::from_secs(10)))
            .await
            .expect("settled");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        c.clear_requests();
        match *name {
            "rollout history" => drop(k.rollout_history("fleet-api").await.expect("history")),
            "rollout undo" => drop(k.rollout_undo("fleet-api", None).await.expect("undo")),
            "rollout restart" => drop(k.rollout_restart("fleet-api", None).await.expect("restart")),
            "scale" => drop(k.scale("fleet-api", 3, None).await.expect("scale")),
            _ => drop(
                k.set_image("fleet-api", "fleet-api", IMG_16, None)
                    .await
                    .expect("set image"),
            ),
        }
        let ours = count(&c);
        rows.push((name.to_string(), ours, theirs));
        assert!(ours <= theirs, "{name}: ours {ours} > kubectl {theirs}");
    }
    #[allow(clippy::print_stderr)] // The counts are the numbers docs/BENCHMARKS.md quotes.
    {
        eprintln!("requests per operation (ours, kubectl): {rows:?}");
    }
}

/// Log lines of the current thread, for the tests that read what the crate logs.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// A dry-run handle changes nothing, says so in its results, and its log lines say "would":
/// before, a dry run logged "scaled" and "image set".
#[tokio::test]
async fn dry_run_cluster_changes_nothing_and_says_would() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let c = fleet().await;
    let k = kube_cluster(&c).as_dry_run();
    let before = c
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("deploy");
    let scaled = k.scale("fleet-api", 7, None).await.expect("dry scale");
    assert_eq!((scaled.value, scaled.applied), (7, false));
    let info = k
        .set_image("fleet-api", "fleet-api", IMG_15, None)
        .await
        .expect("dry set image");
    assert!(!info.applied);
    assert_eq!(
        info.value.images[0].image, IMG_15,
        "the server's answer shows the result"
    );
    let restarted = k
        .rollout_restart("fleet-api", None)
        .await
        .expect("dry restart");
    assert!(!restarted.applied);
    let step = ContainerResources::default().with_memory_limit("1Gi");
    let resized = k
        .update_resources("fleet-api", "fleet-api", &step, None)
        .await
        .expect("dry resources");
    assert!(!resized.applied);
    let after = c
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("deploy");
    assert_eq!(before, after);
    assert!(
        c.requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .all(|r| r.query.contains("dryRun=All"))
    );
    let text = logs.text();
    for would in [
        "would scale",
        "would set image",
        "would restart",
        "would change resources",
    ] {
        assert!(text.contains(would), "{would} missing from:\n{text}");
    }
    for done in [
        ": scaled",
        ": image set",
        ": restarted ",
        ": resources changed",
    ] {
        assert!(!text.contains(done), "{done:?} in a dry run:\n{text}");
    }
}

/// Each write takes `dry_run` in its own options too, on a handle that writes for real.
#[tokio::test]
async fn per_call_dry_runs_change_nothing() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    deploy(&k, IMG_15).await;
    let before = c
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("deploy");
    let scaled = k
        .scale(
            "fleet-api",
            6,
            Some(ScaleOptions::default().with_dry_run(true)),
        )
        .await
        .expect("scale");
    assert!(!scaled.applied);
    let set = k
        .set_image(
            "fleet-api",
            "fleet-api",
            IMG_16,
            Some(SetImageOptions::default().with_dry_run(true)),
        )
        .await
        .expect("set image");
    assert!(!set.applied);
    let restarted = k
        .rollout_restart(
            "fleet-api",
            Some(RolloutRestartOptions::default().with_dry_run(true)),
        )
        .await
        .expect("restart");
    assert!(!restarted.applied);
    let resized = k
        .update_resources(
            "fleet-api",
            "fleet-api",
            &ContainerResources::default().with_memory_limit("2Gi"),
            Some(UpdateResourcesOptions::default().with_dry_run(true)),
        )
        .await
        .expect("resources");
    assert!(!resized.applied);
    let undone = k
        .rollout_undo(
            "fleet-api",
            Some(RolloutUndoOptions::default().with_dry_run(true)),
        )
        .await
        .expect("undo");
    assert_eq!(
        undone,
        UndoOutcome::RolledBack {
            to_revision: 1,
            applied: false
        }
    );
    let after = c
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("deploy");
    assert_eq!(before, after);
}
