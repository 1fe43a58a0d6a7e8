//! Logs, events, networking, autoscaling, metrics, exec and export against FakeCluster, with
//! kubectl's output as the reference where it prints the same columns.

use std::time::Duration;

use fleet_k8s::{
    ApplyAutoscalerOptions, AutoscalerSpec, Autoscaling, DenylistOptions, EventOptions, Events,
    Exec, ExecOptions, Export, ExportOptions, LogOptions, Logs, Metrics, Networking, Pods,
};

use crate::common::{fleet, kube_cluster, kubectl, selector};

fn warnings() -> Option<EventOptions> {
    Some(EventOptions::default().with_warnings_only(true))
}

/// The runbook's autoscaler, as a caller takes it from `fleet_policy::scaling::default_hpa`.
fn hpa(deployment: &str) -> AutoscalerSpec {
    AutoscalerSpec::new(deployment, 3, 10).with_cpu(70)
}
use fleet_testkit::k8s::{FLEET_NAMESPACE, MetricsApi, Op, Scenario};
use futures::StreamExt;

#[tokio::test]
async fn logs_tail_previous_selector_grep_and_follow() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let pods = k
        .list_pods_by_selector(&selector("app=fleet-api"))
        .await
        .expect("pods");
    let lines: Vec<String> = (1..=30)
        .map(|i| {
            if i % 5 == 0 {
                format!("ERROR request {i} failed")
            } else {
                format!("INFO request {i}")
            }
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    for p in &pods {
        c.set_logs(FLEET_NAMESPACE, &p.name, "fleet-api", &refs);
    }
    c.set_previous_logs(
        FLEET_NAMESPACE,
        &pods[0].name,
        "fleet-api",
        &["panic: out of memory"],
    );

    let tail = k
        .pod_logs(&pods[0].name, Some(LogOptions::default().with_tail(3)))
        .await
        .expect("tail");
    assert_eq!(
        tail,
        vec![
            "INFO request 28",
            "INFO request 29",
            "ERROR request 30 failed"
        ]
    );
    let (ok, out, _) = kubectl(&c, &["logs", &pods[0].name, "--tail=3"]).await;
    assert!(ok);
    assert_eq!(out.lines().collect::<Vec<_>>(), tail);

    let prev = k
        .pod_logs(
            &pods[0].name,
            Some(LogOptions::default().with_previous(true)),
        )
        .await
        .expect("previous");
    assert_eq!(prev, vec!["panic: out of memory"]);

    let errors = k
        .pod_logs(
            &pods[0].name,
            Some(LogOptions::default().with_pattern("ERROR")),
        )
        .await
        .expect("grep");
    assert_eq!(errors.len(), 6);

    // Across the selector: kubectl's default of 10 lines per pod.
    c.clear_requests();
    let all = k
        .logs_by_selector(&selector("app=fleet-api"), None)
        .await
        .expect("selector");
    assert_eq!(all.len(), 30);
    assert_eq!(c.request_count(Op::Logs), 3);
    let (ok, out, _) = kubectl(&c, &["logs", "-l", "app=fleet-api"]).await;
    assert!(ok);
    assert_eq!(out.lines().count(), all.len());
    assert!(
        all[0]
            .to_string()
            .starts_with(&format!("[pod/{}/fleet-api] ", pods[0].name))
    );

    let d = k
        .deployment_logs(
            "fleet-api",
            Some(LogOptions::default().with_tail(100).with_pattern("ERROR")),
        )
        .await
        .expect("deployment logs");
    assert_eq!(d.len(), 6);

    // Follow: appended lines arrive.
    let mut stream = k
        .follow_logs(
            &pods[1].name,
            Some(LogOptions::default().with_tail(1).with_pattern("ERROR")),
        )
        .await
        .expect("follow");
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("line in time");
    assert_eq!(
        first.map(|r| r.expect("ok")),
        Some("ERROR request 30 failed".to_string())
    );
    c.append_log(FLEET_NAMESPACE, &pods[1].name, "fleet-api", "INFO ignored");
    c.append_log(
        FLEET_NAMESPACE,
        &pods[1].name,
        "fleet-api",
        "ERROR database connection refused",
    );
    let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("line in time");
    assert_eq!(
        next.map(|r| r.expect("ok")),
        Some("ERROR database connection refused".to_string())
    );

    assert!(
        k.pod_logs(
            &pods[0].name,
            Some(LogOptions::default().with_limit_bytes(0))
        )
        .await
        .expect_err("no bytes")
        .is_invalid_input()
    );
}

#[tokio::test]
async fn events_list_warnings_and_watch_resumes_after_a_drop() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let mut stream = k.watch_events(warnings()).await.expect("watch");
    c.set_scenario(
        fleet_testkit::k8s::FLEET_FRONTEND_IMAGE,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 2,
        },
    );
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event")
        .expect("open")
        .expect("ok");
    assert!(first.is_warning(), "{first:?}");
    let watches = c.request_count(Op::Watch);
    c.drop_watches();
    // New warnings after the drop still arrive, and nothing is repeated.
    c.set_scenario(
        fleet_testkit::k8s::FLEET_API_IMAGE,
        Scenario::ImagePullFailure,
    );
    let mut seen = vec![(first.name.clone(), first.count)];
    // Generous: the machine may be busy; the assertions are about order and repeats.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut got_pull = false;
    while tokio::time::Instant::now() < deadline && !got_pull {
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), stream.next()).await
        {
            let ev = ev.expect("ok");
            assert!(ev.is_warning());
            assert!(
                !seen.contains(&(ev.name.clone(), ev.count)),
                "repeated {ev:?}"
            );
            seen.push((ev.name.clone(), ev.count));
            got_pull |= ev.reason == "Failed" || ev.message.contains("pull");
        }
    }
    assert!(got_pull, "{seen:?}");
    assert!(c.request_count(Op::Watch) > watches, "re-watched");

    let warnings = k.list_events(warnings()).await.expect("list");
    assert!(!warnings.is_empty() && warnings.iter().all(|e| e.is_warning()));
    let all = k.list_events(None).await.expect("list");
    assert!(all.len() >= warnings.len());
    let (ok, out, _) = kubectl(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            "type=Warning",
            "--no-headers",
        ],
    )
    .await;
    assert!(ok);
    assert_eq!(out.lines().count(), warnings.len());
}

#[tokio::test]
async fn event_watch_relists_after_an_expired_position() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let mut stream = k.watch_events(warnings()).await.expect("watch");
    c.set_scenario(
        fleet_testkit::k8s::FLEET_FRONTEND_IMAGE,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 2,
        },
    );
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("ok");
    // Slow the server so the re-watch arrives after new events and a compaction: its position
    // is then older than the server keeps (410 Expired) and the stream must re-list.
    c.set_latency(Duration::from_millis(600));
    c.drop_watches();
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.set_scenario(
        fleet_testkit::k8s::FLEET_API_IMAGE,
        Scenario::ImagePullFailure,
    );
    assert!(
        c.wait_until(Duration::from_secs(3), |s| s
            .list("events", Some(FLEET_NAMESPACE))
            .iter()
            .any(|e| e["reason"] == "Failed"))
            .await
    );
    c.expire_continue_tokens();
    tokio::time::sleep(Duration::from_millis(700)).await;
    c.set_latency(Duration::ZERO);
    let mut seen = vec![(first.name.clone(), first.count)];
    let mut got_pull = false;
    // Generous: the machine may be busy; the assertions are about order and repeats.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline && !got_pull {
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), stream.next()).await
        {
            let ev = ev.expect("ok");
            assert!(ev.is_warning());
            assert!(
                !seen.contains(&(ev.name.clone(), ev.count)),
                "repeated {ev:?}"
            );
            seen.push((ev.name.clone(), ev.count));
            got_pull |= ev.reason == "Failed";
        }
    }
    assert!(got_pull, "events from the gap arrive: {seen:?}");
    let event_lists = c
        .requests()
        .iter()
        .filter(|r| r.op == Op::List && r.resource.as_deref() == Some("events"))
        .count();
    assert!(
        event_lists >= 2,
        "re-listed after 410 ({event_lists} lists)"
    );
}

#[tokio::test]
async fn ingress_services_and_denylist() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let ing = k.describe_ingress("fleet-ingress").await.expect("ingress");
    assert_eq!(ing.class.as_deref(), Some("nginx"));
    assert_eq!(ing.addresses, vec!["20.62.0.10"]);
    assert_eq!(
        ing.paths
            .iter()
            .map(|p| (p.path.as_str(), p.backend.as_str()))
            .collect::<Vec<_>>(),
        vec![("/api", "fleet-api:80"), ("/", "fleet-frontend:80")]
    );
    assert_eq!(k.list_ingresses().await.expect("list").len(), 1);

    let svcs = k.list_services().await.expect("services");
    let (ok, out, _) = kubectl(&c, &["get", "svc", "--no-headers"]).await;
    assert!(ok);
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let s = svcs
            .iter()
            .find(|s| s.name == cols[0])
            .expect("same services");
        assert_eq!(
            (
                s.type_.as_str(),
                s.cluster_ip.as_str(),
                s.external_ip.as_str(),
                s.ports.as_str()
            ),
            (cols[1], cols[2], cols[3], cols[4]),
            "{line}"
        );
    }
    assert_eq!(svcs.len(), out.lines().count());

    c.store()
        .modify("ingress", FLEET_NAMESPACE, "fleet-ingress", |i| {
            i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"] =
                serde_json::json!("10.0.0.0/8");
        })
        .expect("seed denylist");
    let ch = k
        .block_cidrs(
            "fleet-ingress",
            &["203.0.113.7".into(), "198.51.100.0/24".into()],
            None,
        )
        .await
        .expect("block");
    assert_eq!(
        ch.after,
        vec!["10.0.0.0/8", "203.0.113.7/32", "198.51.100.0/24"]
    );
    c.clear_requests();
    let again = k
        .block_cidrs("fleet-ingress", &["203.0.113.7/32".into()], None)
        .await
        .expect("idempotent");
    assert!(!again.changed());
    assert_eq!(c.request_count(Op::Patch), 0);
    let e = k
        .block_cidrs("fleet-ingress", &["203.0.113.7/33".into()], None)
        .await
        .expect_err("bad CIDR");
    assert!(e.is_invalid_input(), "{e}");
    let ch = k
        .unblock_cidrs("fleet-ingress", &["203.0.113.7/32".into()], None)
        .await
        .expect("unblock");
    assert_eq!(ch.after, vec!["10.0.0.0/8", "198.51.100.0/24"]);
    assert!(ch.applied);
    let dry = k
        .block_cidrs(
            "fleet-ingress",
            &["192.0.2.0/24".into()],
            Some(DenylistOptions::default().with_dry_run(true)),
        )
        .await
        .expect("dry block");
    assert!(dry.changed() && !dry.applied, "{dry:?}");
    let stored = c
        .store()
        .get("ingresses", FLEET_NAMESPACE, "fleet-ingress")
        .expect("ingress");
    assert_eq!(
        stored["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"],
        "10.0.0.0/8,198.51.100.0/24"
    );
}

#[tokio::test]
async fn autoscaler_create_update_and_status() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let st = k
        .apply_autoscaler(&hpa("fleet-frontend"), None)
        .await
        .expect("create")
        .value;
    assert_eq!(
        (st.min_replicas, st.max_replicas, st.cpu_target),
        (3, 10, Some(70))
    );
    assert_eq!(st.reference, "Deployment/fleet-frontend");
    let st = k
        .apply_autoscaler(
            &hpa("fleet-frontend").with_replicas(2, 6).with_memory(80),
            None,
        )
        .await
        .expect("update")
        .value;
    assert_eq!(
        (st.min_replicas, st.max_replicas, st.memory_target),
        (2, 6, Some(80))
    );
    let st = k.get_autoscaler("fleet-api").await.expect("seeded");
    assert_eq!(
        (st.cpu_target, st.cpu_current, st.current_replicas),
        (Some(70), Some(35), 3)
    );
    let (ok, out, err) = kubectl(&c, &["get", "hpa", "fleet-frontend", "--no-headers"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("Deployment/fleet-frontend") && out.contains(" 2 ") && out.contains(" 6 "),
        "{out}"
    );
    let dry = k
        .apply_autoscaler(
            &hpa("fleet-frontend").with_replicas(4, 8),
            Some(ApplyAutoscalerOptions::default().with_dry_run(true)),
        )
        .await
        .expect("dry update");
    assert!(!dry.applied);
    assert_eq!(
        dry.value.max_replicas, 8,
        "the server's answer shows the result"
    );
    let kept = k.get_autoscaler("fleet-frontend").await.expect("read");
    assert_eq!((kept.min_replicas, kept.max_replicas), (2, 6));
    let bad = hpa("fleet-api").with_replicas(5, 2);
    assert!(
        k.apply_autoscaler(&bad, None)
            .await
            .expect_err("max < min")
            .is_invalid_input()
    );
}

#[tokio::test]
async fn top_pods_and_nodes_agree_with_kubectl() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let api = k
        .list_pods_by_selector(&selector("app=fleet-api"))
        .await
        .expect("pods");
    c.set_usage(FLEET_NAMESPACE, &api[0].name, "fleet-api", 412, 300);
    let top = k.top_pods().await.expect("top pods");
    let p = top.iter().find(|p| p.name == api[0].name).expect("pod");
    assert_eq!((p.cpu_millicores, p.memory_bytes), (412, 300 * 1024 * 1024));
    let (ok, out, err) = kubectl(&c, &["top", "pods", "--no-headers"]).await;
    assert!(ok, "{err}");
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let ours = top.iter().find(|p| p.name == cols[0]).expect("same pods");
        assert_eq!(format!("{}m", ours.cpu_millicores), cols[1]);
        assert_eq!(format!("{}Mi", ours.memory_bytes / (1024 * 1024)), cols[2]);
    }
    let sel = k
        .top_pods_by_selector(&selector("app=fleet-api"))
        .await
        .expect("by selector");
    assert_eq!(sel.len(), 3);
    let nodes = k.top_nodes().await.expect("top nodes");
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.cpu_percent.is_some()));
}

#[tokio::test]
async fn metrics_fall_back_to_v1beta1_and_say_so_when_absent() {
    let c = fleet().await;
    let k = kube_cluster(&c);

    // A metrics-server that serves only v1beta1: we follow it, as kubectl does.
    c.set_metrics_api(MetricsApi::V1beta1Only);
    c.clear_requests();
    let top = k.top_pods().await.expect("top pods through v1beta1");
    assert!(!top.is_empty());
    let paths: Vec<String> = c.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("/apis/metrics.k8s.io/v1beta1/")),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("/apis/metrics.k8s.io/v1/")),
        "{paths:?}"
    );
    assert_eq!(k.top_nodes().await.expect("top nodes").len(), 3);

    // No metrics-server: a typed error that says so, and kubectl agrees the API is missing.
    c.set_metrics_api(MetricsApi::Absent);
    for result in [
        k.top_pods().await.map(|_| ()),
        k.top_nodes().await.map(|_| ()),
    ] {
        let e = result.expect_err("no metrics API");
        assert!(matches!(e, fleet_k8s::Error::MetricsUnavailable), "{e:?}");
        assert!(e.to_string().contains("Metrics API not available"), "{e}");
    }
    let (ok, _, err) = kubectl(&c, &["top", "pods"]).await;
    assert!(!ok);
    assert!(err.contains("Metrics API not available"), "{err}");
}

#[tokio::test]
async fn exec_runs_the_argument_vector_and_returns_output_and_exit_code() {
    use fleet_testkit::k8s::ExecOutput as Out;
    use std::sync::{Arc, Mutex};
    let c = fleet().await;
    let k = kube_cluster(&c);
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let log = seen.clone();
    c.on_exec(move |req, _stdin| {
        log.lock().map(|mut v| v.push(req.command.clone())).ok();
        match req.command.last().map(String::as_str) {
            Some("SELECT count(*) FROM pg_stat_activity;") if req.container == "postgres" => {
                Out::ok(" count \n-------\n    42\n")
            }
            _ => Out::fail("ERROR:  syntax error\n", 3),
        }
    });
    let argv = |sql: &str| -> Vec<String> {
        ["psql", "-U", "fleet", "-c", sql]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let out = k
        .exec(
            "fleet-postgres-0",
            "postgres",
            &argv("SELECT count(*) FROM pg_stat_activity;"),
            None,
        )
        .await
        .expect("exec");
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.exit_code),
        (" count \n-------\n    42\n", "", 0)
    );
    // A hostile-looking argument stays one argument: no shell is involved.
    let out = k
        .exec(
            "fleet-postgres-0",
            "postgres",
            &argv("x'; DROP TABLE vehicles; --"),
            None,
        )
        .await
        .expect("exec");
    assert_eq!(
        (out.exit_code, out.stderr.as_str()),
        (3, "ERROR:  syntax error\n")
    );
    assert!(!out.success());
    let commands = seen.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(commands[1], argv("x'; DROP TABLE vehicles; --"));
    // kubectl agrees on the output and the exit code.
    let (ok, stdout, _) = kubectl(
        &c,
        &[
            "exec",
            "fleet-postgres-0",
            "-c",
            "postgres",
            "--",
            "psql",
            "-U",
            "fleet",
            "-c",
            "SELECT count(*) FROM pg_stat_activity;",
        ],
    )
    .await;
    assert!(ok);
    assert_eq!(stdout, " count \n-------\n    42\n");
    assert!(
        k.exec("fleet-postgres-0", "postgres", &[], None)
            .await
            .expect_err("empty")
            .is_invalid_input()
    );
    assert!(
        k.exec("fleet-postgres-0", "Bad_Name", &argv("x"), None)
            .await
            .expect_err("bad container")
            .is_invalid_input()
    );
}

/// Exec under a dry run does not run: before, `as_dry_run()` ran the command for real.
#[tokio::test]
async fn exec_is_refused_in_a_dry_run() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let c = fleet().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    c.on_exec(move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        fleet_testkit::k8s::ExecOutput::ok("done\n")
    });
    let argv: Vec<String> = ["psql", "-c", "ALTER ROLE fleet PASSWORD 'hunter2'"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let k = kube_cluster(&c);
    c.clear_requests();
    for (handle, options) in [
        (k.as_dry_run(), None),
        (k.clone(), Some(ExecOptions::default().with_dry_run(true))),
    ] {
        let e = handle
            .exec("fleet-postgres-0", "postgres", &argv, options)
            .await
            .expect_err("refused");
        assert!(e.is_dry_run() && e.is_refused(), "{e}");
        let text = e.to_string();
        assert!(text.contains("\"psql\" with 2 argument(s)"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(c.request_count(fleet_testkit::k8s::Op::Exec), 0);
    // The same handle runs it when not a dry run.
    let out = k
        .exec("fleet-postgres-0", "postgres", &argv, None)
        .await
        .expect("runs");
    assert_eq!(out.stdout, "done\n");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// A command that runs too long ends with a timeout, and output past the cap with a typed
/// error: before, exec had neither a deadline nor a cap.
#[tokio::test]
async fn exec_has_a_deadline_and_an_output_cap() {
    let c = fleet().await;
    c.on_exec(|req, _| match req.command[0].as_str() {
        "sleep" => {
            std::thread::sleep(Duration::from_secs(3));
            fleet_testkit::k8s::ExecOutput::ok("late\n")
        }
        _ => fleet_testkit::k8s::ExecOutput::ok(vec![b'x'; 100_000]),
    });
    let k = kube_cluster(&c);
    let started = std::time::Instant::now();
    let e = k
        .exec(
            "fleet-postgres-0",
            "postgres",
            &["sleep".to_string(), "3".to_string()],
            Some(ExecOptions::default().with_timeout(Duration::from_millis(300))),
        )
        .await
        .expect_err("deadline");
    assert!(e.is_timeout(), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let e = k
        .exec(
            "fleet-postgres-0",
            "postgres",
            &["cat".to_string(), "big".to_string()],
            Some(ExecOptions::default().with_max_output_bytes(10_000)),
        )
        .await
        .expect_err("too much output");
    assert!(e.is_limit_exceeded(), "{e}");
    assert!(e.to_string().contains("stdout"), "{e}");
    let out = k
        .exec(
            "fleet-postgres-0",
            "postgres",
            &["cat".to_string(), "big".to_string()],
            Some(ExecOptions::default().with_max_output_bytes(100_000)),
        )
        .await
        .expect("exactly at the cap");
    assert_eq!(out.stdout.len(), 100_000);
}

#[tokio::test]
async fn export_streams_every_namespaced_kind_in_pages() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let kinds = k.export_kinds(None).await.expect("kinds");
    let names: Vec<String> = kinds.iter().map(|k| k.qualified()).collect();
    for want in [
        "pods",
        "services",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "persistentvolumeclaims",
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "ingresses.networking.k8s.io",
        "horizontalpodautoscalers.autoscaling",
        "roles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
        "networkpolicies.networking.k8s.io",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n == "events" || n == "nodes"));
    c.clear_requests();
    let objs: Vec<_> = k
        .export_namespace(Some(ExportOptions::default().with_page_size(2)))
        .await
        .expect("export")
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("all ok");
    let count = |kind: &str| objs.iter().filter(|o| o.kind == kind).count();
    assert_eq!(count("Pod"), 6);
    assert_eq!(count("Deployment"), 2);
    assert_eq!(count("Secret"), 1);
    assert!(
        objs.iter()
            .all(|o| o.object["apiVersion"].is_string() && o.object["kind"].is_string())
    );
    // Six pods in pages of two: three list requests for pods (FakeCluster may answer a full last
    // page with a continue token, which costs one more, empty page).
    let pod_lists = c
        .requests()
        .iter()
        .filter(|r| r.op == Op::List && r.resource.as_deref() == Some("pods"))
        .count();
    assert!((3..=4).contains(&pod_lists), "{pod_lists}");
    let all_pods = k.list_pods().await.expect("pods");
    assert_eq!(all_pods.len(), count("Pod"));
}

#[tokio::test]
async fn an_include_list_exports_only_those_kinds_and_refuses_names_not_served() {
    let c = fleet().await;
    let k = kube_cluster(&c);
    let only = ExportOptions::default()
        .with_include("configmaps")
        .with_include("deployments.apps");
    let kinds: Vec<String> = k
        .export_kinds(Some(only.clone()))
        .await
        .expect("kinds")
        .iter()
        .map(|k| k.qualified())
        .collect();
    assert_eq!(kinds, ["configmaps", "deployments.apps"]);
    c.clear_requests();
    let objs: Vec<_> = k
        .export_namespace(Some(only))
        .await
        .expect("export")
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("all ok");
    assert!(objs.iter().any(|o| o.kind == "Deployment"));
    assert!(
        objs.iter()
            .all(|o| o.kind == "Deployment" || o.kind == "ConfigMap"),
        "{:?}",
        objs.iter().map(|o| &o.kind).collect::<Vec<_>>()
    );
    // Nothing but those two kinds was listed.
    let listed: Vec<_> = c
        .requests()
        .iter()
        .filter(|r| r.op == Op::List)
        .filter_map(|r| r.resource.clone())
        .collect();
    assert!(
        listed
            .iter()
            .all(|r| r == "configmaps" || r == "deployments"),
        "{listed:?}"
    );

    // A typo is an error naming it, not a backup without that kind.
    let err = k
        .export_kinds(Some(
            ExportOptions::default()
                .with_include("configmaps")
                .with_include("deployments"),
        ))
        .await
        .expect_err("`deployments` is in group apps");
    assert!(err.is_invalid_input(), "{err}");
    assert!(err.to_string().contains("deployments"), "{err}");
}
