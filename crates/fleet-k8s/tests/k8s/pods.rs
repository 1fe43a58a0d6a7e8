//! Pods and diagnosis against FakeCluster, compared with the real kubectl where it prints the
//! same thing; retries, budgets and typed errors.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{self, fleet, kube_cluster, kubectl, selector};
use fleet_k8s::{Cause, ConfigKind, Error, Pods};
use fleet_testkit::k8s::{FLEET_API_IMAGE, FLEET_FRONTEND_IMAGE, FLEET_NAMESPACE, Op, Scenario};

/// NAME -> (READY, STATUS, RESTARTS without the "(Xm ago)") from `kubectl get pods`.
fn kubectl_pods(out: &str) -> BTreeMap<String, (String, String, String)> {
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() >= 4).then(|| {
                (
                    cols[0].to_string(),
                    (
                        cols[1].to_string(),
                        cols[2].to_string(),
                        cols[3].to_string(),
                    ),
                )
            })
        })
        .collect()
}

async fn assert_columns_match_kubectl(
    c: &fleet_testkit::k8s::FakeCluster,
    k: &fleet_k8s::KubeCluster,
) {
    let ours: BTreeMap<String, (String, String, String)> = k
        .list_pods()
        .await
        .expect("list pods")
        .into_iter()
        .map(|p| {
            (
                p.name.clone(),
                (p.ready_column(), p.status.clone(), p.restarts.to_string()),
            )
        })
        .collect();
    let (ok, out, err) = kubectl(c, &["get", "pods"]).await;
    assert!(ok, "{err}");
    assert_eq!(ours, kubectl_pods(&out), "kubectl printed:\n{out}");
}

#[tokio::test]
async fn lists_pods_with_kubectl_columns() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let pods = k.list_pods().await.expect("list pods");
    assert_eq!(pods.len(), 6, "{pods:#?}");
    assert!(pods.iter().all(|p| p.is_healthy()), "{pods:#?}");
    assert_columns_match_kubectl(&c, &k).await;
    let api = k
        .list_pods_by_selector(&selector("app=fleet-api"))
        .await
        .expect("by selector");
    assert_eq!(api.len(), 3);
    assert!(
        api.iter()
            .all(|p| p.labels.get("app").map(String::as_str) == Some("fleet-api"))
    );
    let pg = k.get_pod("fleet-postgres-0").await.expect("get pod");
    assert_eq!(
        (pg.status.as_str(), pg.ready_column().as_str()),
        ("Running", "1/1")
    );
}

#[tokio::test]
async fn crash_loop_and_oom_are_diagnosed_and_match_kubectl() {
    let c = fleet().await;
    let k = kube_cluster(&c);
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
            let pods = s.list("pods", Some(FLEET_NAMESPACE));
            pods.iter()
                .filter(|p| p["status"]["containerStatuses"][0]["restartCount"] == 4)
                .count()
                == 3
                && pods
                    .iter()
                    .any(|p| p["status"]["containerStatuses"][0]["restartCount"] == 3)
        })
        .await
    );
    assert_columns_match_kubectl(&c, &k).await;

    let api_pod = common::pod_named(&c, "fleet-api-").expect("an api pod");
    let d = k.diagnose_pod(&api_pod).await.expect("diagnose");
    assert_eq!(d.pod.status, "CrashLoopBackOff");
    match d.causes.as_slice() {
        [
            Cause::CrashLoopBackOff {
                container,
                restarts,
                last_termination: Some(t),
            },
        ] => {
            assert_eq!(
                (container.as_str(), *restarts, t.exit_code),
                ("fleet-api", 4, 2)
            );
            assert!(t.finished_at.is_some());
            assert!(
                d.causes[0].summary().contains("code 2"),
                "{}",
                d.causes[0].summary()
            );
        }
        other => panic!("{other:#?}"),
    }
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == "BackOff" && e.is_warning()),
        "{:#?}",
        d.events
    );

    let d = k.diagnose_pod("fleet-postgres-0").await.expect("diagnose");
    match d.causes.as_slice() {
        [
            cause @ Cause::OomKilled {
                container,
                memory_limit,
                restarts,
                ..
            },
        ] => {
            assert_eq!(
                (container.as_str(), memory_limit.as_deref(), *restarts),
                ("postgres", Some("2Gi"), 3)
            );
            assert!(cause.action().contains("vertical"), "{}", cause.action());
        }
        other => panic!("{other:#?}"),
    }
}

#[tokio::test]
async fn image_pull_missing_secret_and_unschedulable() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    // fleet-api reads the Secret through env; a new pod without it cannot start.
    c.store()
        .delete("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
        .expect("delete secret");
    let victim = common::pod_named(&c, "fleet-api-").expect("api pod");
    c.store()
        .delete("pods", FLEET_NAMESPACE, &victim)
        .expect("delete pod");
    c.set_scenario(FLEET_FRONTEND_IMAGE, Scenario::ImagePullFailure);
    c.set_pod_scenario(
        FLEET_NAMESPACE,
        "fleet-postgres-0",
        Scenario::Unschedulable {
            message: "0/3 nodes are available: 3 Insufficient cpu.".into(),
        },
    );
    c.store()
        .delete("pods", FLEET_NAMESPACE, "fleet-postgres-0")
        .ok();
    let done = c
        .wait_until(Duration::from_secs(5), |s| {
            let pods = s.list("pods", Some(FLEET_NAMESPACE));
            let reason = |p: &serde_json::Value| {
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].clone()
            };
            pods.iter()
                .any(|p| reason(p) == "CreateContainerConfigError")
                && pods
                    .iter()
                    .filter(|p| reason(p) == "ImagePullBackOff" || reason(p) == "ErrImagePull")
                    .count()
                    == 2
        })
        .await;
    assert!(done);

    let broken = k
        .list_pods_by_selector(&selector("app=fleet-api"))
        .await
        .expect("list")
        .into_iter()
        .find(|p| p.status == "CreateContainerConfigError")
        .expect("a pod without its secret");
    let d = k.diagnose_pod(&broken.name).await.expect("diagnose");
    assert_eq!(
        d.causes,
        vec![Cause::MissingConfig {
            container: "fleet-api".into(),
            kind: ConfigKind::Secret,
            name: "fleet-db-credentials".into()
        }]
    );
    // The existence check reads metadata only and finds the ConfigMap present.
    let fe = k
        .list_pods_by_selector(&selector("app=fleet-frontend"))
        .await
        .expect("list");
    let d = k.diagnose_pod(&fe[0].name).await.expect("diagnose");
    assert!(
        matches!(d.causes.as_slice(), [Cause::ImagePull { image, .. }] if image == FLEET_FRONTEND_IMAGE),
        "{:#?}",
        d.causes
    );
    assert_columns_match_kubectl(&c, &k).await;
}

#[tokio::test]
async fn unschedulable_from_events() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    c.set_scenario(
        FLEET_FRONTEND_IMAGE,
        Scenario::Unschedulable {
            message: "0/3 nodes are available: 3 Insufficient cpu.".into(),
        },
    );
    c.store()
        .modify("deploy", FLEET_NAMESPACE, "fleet-frontend", |d| {
            d["spec"]["replicas"] = serde_json::json!(3);
        })
        .expect("scale");
    assert!(
        c.wait_until(Duration::from_secs(5), |s| s
            .list("events", Some(FLEET_NAMESPACE))
            .iter()
            .any(|e| e["reason"] == "FailedScheduling"))
            .await
    );
    let pending = k
        .list_pods_by_selector(&selector("app=fleet-frontend"))
        .await
        .expect("list")
        .into_iter()
        .find(|p| p.status == "Pending")
        .expect("a pending pod");
    let d = k.diagnose_pod(&pending.name).await.expect("diagnose");
    assert!(
        matches!(d.causes.as_slice(), [Cause::Unschedulable { message }] if message.contains("Insufficient cpu")),
        "{:#?}",
        d.causes
    );
}

#[tokio::test]
async fn transient_failures_are_retried_and_budgets_end_with_a_typed_error() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    c.clear_requests();
    c.fail_next(Op::List, 503, 2);
    assert_eq!(k.list_pods().await.expect("retried").len(), 6);
    assert_eq!(c.request_count(Op::List), 3);

    c.fail_next(Op::Get, 429, 1);
    let started = std::time::Instant::now();
    k.get_pod("fleet-postgres-0").await.expect("after 429");
    // Retry-After: 1 is honoured but capped by the policy (30 ms here).
    let took = started.elapsed();
    assert!(took < Duration::from_millis(900), "{took:?}");

    c.fail_next(Op::List, 500, 10);
    let e = k.list_pods().await.expect_err("gives up");
    assert!(
        matches!(e, Error::RetriesExhausted { attempts: 4, .. }),
        "{e}"
    );
    assert!(e.is_transient());
    assert_eq!(e.status_code(), Some(500));
}

#[tokio::test]
async fn bad_input_and_missing_objects_are_typed_and_send_nothing() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    c.clear_requests();
    let e = k.get_pod("Not_A_Name").await.expect_err("invalid");
    assert!(e.is_invalid_input(), "{e}");
    assert_eq!(c.request_count(Op::Any), 0);
    let e = k.get_pod("no-such-pod").await.expect_err("missing");
    assert!(e.is_not_found(), "{e}");
    assert_eq!(c.request_count(Op::Get), 1, "404 is not retried");
    c.fail_next(Op::Get, 403, 1);
    assert!(
        k.get_pod("fleet-postgres-0")
            .await
            .expect_err("forbidden")
            .is_forbidden()
    );
    c.fail_next(Op::Get, 401, 1);
    assert!(
        k.get_pod("fleet-postgres-0")
            .await
            .expect_err("unauthorized")
            .is_unauthorized()
    );
}

#[tokio::test]
async fn slow_answers_time_out_per_attempt_and_are_retried() {
    let c = fleet().await;
    let policy = common::fast_retry()
        .with_max_attempts(3)
        .with_attempt_timeout(Some(Duration::from_millis(100)));
    let k = fleet_k8s::KubeCluster::from_config(
        common::config(&c),
        fleet_k8s::ClusterOptions::default().with_retry(policy),
    )
    .expect("cluster");
    c.set_latency(Duration::from_millis(400));
    c.clear_requests();
    let e = k.get_pod("fleet-postgres-0").await.expect_err("too slow");
    assert!(
        matches!(e, Error::RetriesExhausted { attempts: 3, .. }),
        "{e}"
    );
    assert!(e.is_timeout(), "{e}");
    c.set_latency(Duration::ZERO);
    assert!(k.get_pod("fleet-postgres-0").await.is_ok());
}
