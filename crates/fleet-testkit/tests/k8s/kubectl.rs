//! The real `kubectl` (found through `PATH`) against the fake cluster: each test runs kubectl
//! commands of the runbook and asserts the resulting state and, where stable, the output.

use std::time::Duration;

use fleet_testkit::k8s::{FLEET_API_IMAGE, FLEET_NAMESPACE, FakeCluster, Op, Scenario};
use serde_json::Value;

use crate::common::{fleet, kubectl, ok, pods_of, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_pods_shows_the_seeded_world() {
    let c = fleet().await;
    let out = ok(&c, &["get", "pods"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(
        lines[0].contains("READY") && lines[0].contains("STATUS") && lines[0].contains("RESTARTS")
    );
    assert_eq!(lines.len(), 1 + 3 + 2 + 1, "{out}");
    let pg: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("fleet-postgres-0"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        pg[..4],
        ["fleet-postgres-0", "1/1", "Running", "0"],
        "{out}"
    );
    assert_eq!(out.matches("fleet-api-").count(), 3);
    assert!(out.lines().skip(1).all(|l| l.contains("Running")), "{out}");
}

fn deploy(c: &FakeCluster, name: &str) -> Value {
    c.store()
        .get("deployments", FLEET_NAMESPACE, name)
        .expect("deployment exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_deploy_json_has_real_status() {
    let c = fleet().await;
    let out = ok(&c, &["get", "deploy", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let api = items
        .iter()
        .find(|d| d["metadata"]["name"] == "fleet-api")
        .unwrap();
    assert_eq!(api["status"]["availableReplicas"], 3);
    assert_eq!(
        api["status"]["observedGeneration"],
        api["metadata"]["generation"]
    );
    assert_eq!(
        api["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let conds = api["status"]["conditions"].as_array().unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    );
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_pod_and_get_events() {
    let c = fleet().await;
    let out = ok(&c, &["describe", "pod", "fleet-postgres-0"]).await;
    assert!(
        out.contains("Name:") && out.contains("fleet-postgres-0"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("Status:") && l.contains("Running")),
        "{out}"
    );
    assert!(out.contains("Events:") && out.contains("Started"), "{out}");
    let ev = ok(&c, &["get", "events"]).await;
    assert!(
        ev.contains("ScalingReplicaSet") && ev.contains("deployment/fleet-api"),
        "{ev}"
    );
    assert!(
        ev.contains("SuccessfulCreate") && ev.contains("Scheduled"),
        "{ev}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_tail_and_previous() {
    let c = fleet().await;
    c.set_logs(
        FLEET_NAMESPACE,
        "fleet-postgres-0",
        "postgres",
        &["one", "two", "three"],
    );
    assert_eq!(
        ok(&c, &["logs", "fleet-postgres-0", "--tail=2"]).await,
        "two\nthree\n"
    );
    let o = kubectl(&c, &["logs", "fleet-postgres-0", "--previous"]).await;
    assert!(!o.ok);
    assert!(
        o.stderr.contains(
            "previous terminated container \"postgres\" in pod \"fleet-postgres-0\" not found"
        ),
        "{}",
        o.stderr
    );
    c.set_previous_logs(
        FLEET_NAMESPACE,
        "fleet-postgres-0",
        "postgres",
        &["FATAL: out of memory"],
    );
    assert_eq!(
        ok(&c, &["logs", "fleet-postgres-0", "-p"]).await,
        "FATAL: out of memory\n"
    );
    let reqs = c.requests();
    let log_reqs: Vec<_> = reqs.iter().filter(|r| r.op == Op::Logs).collect();
    assert!(
        log_reqs[0].query.contains("tailLines=2"),
        "{:?}",
        log_reqs[0]
    );
    assert!(log_reqs.last().unwrap().query.contains("previous=true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_changes_pods() {
    let c = fleet().await;
    let out = ok(&c, &["scale", "deploy/fleet-api", "--replicas=5"]).await;
    assert_eq!(out.trim(), "deployment.apps/fleet-api scaled");
    let scale_req = c
        .requests()
        .into_iter()
        .find(|r| r.subresource.as_deref() == Some("scale"))
        .unwrap();
    assert_eq!(
        scale_req.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    wait(&c, "5 ready pods", |s| {
        s.get("deployments", FLEET_NAMESPACE, "fleet-api")
            .is_some_and(|d| d["status"]["readyReplicas"] == 5)
    })
    .await;
    assert_eq!(pods_of(&c, "fleet-api").len(), 5);
    ok(&c, &["scale", "deploy/fleet-api", "--replicas=2"]).await;
    wait(&c, "2 pods", |_| pods_of(&c, "fleet-api").len() == 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_pods_and_nodes() {
    let c = fleet().await;
    c.set_usage(FLEET_NAMESPACE, "fleet-postgres-0", "postgres", 321, 700);
    let out = ok(&c, &["top", "pods"]).await;
    assert!(out.starts_with("NAME"), "{out}");
    let pg: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("fleet-postgres-0"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(pg, ["fleet-postgres-0", "321m", "700Mi"]);
    assert_eq!(out.lines().count(), 7, "{out}");
    let nodes = ok(&c, &["top", "nodes"]).await;
    assert!(
        nodes.contains("aks-nodepool1-0") && nodes.contains("CPU(cores)"),
        "{nodes}"
    );
    // kubectl up to 1.33 reads metrics.k8s.io/v1beta1, newer kubectl v1; both are served.
    assert!(c.requests().iter().any(|r| {
        r.path.starts_with("/apis/metrics.k8s.io/v1beta1/")
            || r.path.starts_with("/apis/metrics.k8s.io/v1/")
    }));
}

fn revisions(c: &FakeCluster, app: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = c
        .store()
        .list("replicasets", Some(FLEET_NAMESPACE))
        .into_iter()
        .filter(|r| r["metadata"]["labels"]["app"] == app)
        .map(|r| {
            (
                r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                r["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_image_rollout_status_history_undo_restart() {
    // Slow enough that a kubectl started on a loaded machine still sees the rollout underway.
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(400))
        .start()
        .await
        .unwrap();
    let v2 = "registry.example.com/fleet/fleet-api:1.5.0";
    let v3 = "registry.example.com/fleet/fleet-api:1.6.0";
    ok(
        &c,
        &[
            "set",
            "image",
            "deployment/fleet-api",
            &format!("fleet-api={v2}"),
        ],
    )
    .await;
    let status = ok(
        &c,
        &["rollout", "status", "deployment/fleet-api", "--timeout=20s"],
    )
    .await;
    assert!(
        status.contains("deployment \"fleet-api\" successfully rolled out"),
        "{status}"
    );
    assert!(
        status.contains("Waiting for deployment"),
        "rollout should have been observed in progress: {status}"
    );
    let d = deploy(&c, "fleet-api");
    assert_eq!(d["status"]["updatedReplicas"], 3);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert!(
        pods_of(&c, "fleet-api")
            .iter()
            .all(|p| p["spec"]["containers"][0]["image"] == v2)
    );

    ok(
        &c,
        &[
            "set",
            "image",
            "deployment/fleet-api",
            &format!("fleet-api={v3}"),
        ],
    )
    .await;
    ok(
        &c,
        &["rollout", "status", "deployment/fleet-api", "--timeout=20s"],
    )
    .await;
    let hist = ok(&c, &["rollout", "history", "deployment/fleet-api"]).await;
    let revs: Vec<&str> = hist
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revs, ["1", "2", "3"], "{hist}");

    // Undo goes back to revision 2's template, which becomes revision 4.
    let out = ok(&c, &["rollout", "undo", "deployment/fleet-api"]).await;
    assert!(out.contains("rolled back"), "{out}");
    ok(
        &c,
        &["rollout", "status", "deployment/fleet-api", "--timeout=20s"],
    )
    .await;
    assert_eq!(
        deploy(&c, "fleet-api")["spec"]["template"]["spec"]["containers"][0]["image"],
        v2
    );
    assert_eq!(
        revisions(&c, "fleet-api"),
        [
            ("1".into(), FLEET_API_IMAGE.into()),
            ("3".into(), v3.into()),
            ("4".into(), v2.into())
        ]
    );

    ok(
        &c,
        &["rollout", "undo", "deployment/fleet-api", "--to-revision=1"],
    )
    .await;
    ok(
        &c,
        &["rollout", "status", "deployment/fleet-api", "--timeout=20s"],
    )
    .await;
    assert_eq!(
        deploy(&c, "fleet-api")["spec"]["template"]["spec"]["containers"][0]["image"],
        FLEET_API_IMAGE
    );
    assert_eq!(
        deploy(&c, "fleet-api")["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "5"
    );
    let bad = kubectl(
        &c,
        &[
            "rollout",
            "undo",
            "deployment/fleet-api",
            "--to-revision=99",
        ],
    )
    .await;
    assert!(
        !bad.ok && bad.stderr.contains("unable to find specified revision 99"),
        "{}",
        bad.stderr
    );

    let gen_before = deploy(&c, "fleet-api")["metadata"]["generation"]
        .as_i64()
        .unwrap();
    ok(&c, &["rollout", "restart", "deployment/fleet-api"]).await;
    let d = deploy(&c, "fleet-api");
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    assert_eq!(
        d["metadata"]["generation"].as_i64().unwrap(),
        gen_before + 1
    );
    ok(
        &c,
        &["rollout", "status", "deployment/fleet-api", "--timeout=20s"],
    )
    .await;
    assert_eq!(
        deploy(&c, "fleet-api")["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "6"
    );
}

/// kubectl 1.32's `autoscale` posts an autoscaling/v1 HPA encoded as protobuf; the fake
/// stores it as autoscaling/v2, as a real server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscale_creates_an_hpa() {
    let c = fleet().await;
    let out = ok(
        &c,
        &[
            "autoscale",
            "deployment/fleet-frontend",
            "--min=2",
            "--max=6",
            "--cpu-percent=75",
        ],
    )
    .await;
    assert!(
        out.contains("horizontalpodautoscaler.autoscaling/fleet-frontend autoscaled"),
        "{out}"
    );
    let post = c
        .requests()
        .into_iter()
        .find(|r| r.op == Op::Create)
        .unwrap();
    // kubectl up to 1.32 creates autoscaling/v1, newer kubectl autoscaling/v2 (both protobuf).
    assert!(
        [
            "/apis/autoscaling/v1/namespaces/fleet-management/horizontalpodautoscalers",
            "/apis/autoscaling/v2/namespaces/fleet-management/horizontalpodautoscalers",
        ]
        .contains(&post.path.as_str()),
        "{}",
        post.path
    );
    let hpa = c
        .store()
        .get("hpa", FLEET_NAMESPACE, "fleet-frontend")
        .unwrap();
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["maxReplicas"], 6);
    assert_eq!(hpa["spec"]["minReplicas"], 2);
    assert_eq!(
        hpa["spec"]["scaleTargetRef"],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "fleet-frontend"})
    );
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        75
    );
    let v1: Value = serde_json::from_str(&ok(&c, &["get", "--raw", "/apis/autoscaling/v1/namespaces/fleet-management/horizontalpodautoscalers/fleet-frontend"]).await).unwrap();
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 75);
    // The HPA controller fills in the current utilization from the metrics served (35 % of
    // the pods' CPU requests by default).
    wait(&c, "HPA status", |s| {
        s.get("hpa", FLEET_NAMESPACE, "fleet-frontend")
            .is_some_and(|h| h["status"]["currentMetrics"].is_array())
    })
    .await;
    let table = ok(&c, &["get", "hpa", "fleet-frontend"]).await;
    assert!(table.contains("cpu: 35%/75%"), "{table}");
    c.clear_requests();
    let again = kubectl(&c, &["autoscale", "deployment/fleet-frontend", "--max=6"]).await;
    // kubectl 1.32 prints the AlreadyExists status; newer kubectl retries as autoscaling/v1 and
    // reports that instead. Either way the server answered the create with 409.
    assert!(!again.ok, "{}", again.stdout);
    assert!(
        c.requests()
            .iter()
            .any(|r| r.op == Op::Create && r.status == 409),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_shows_in_get_pods_events_and_previous_logs() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .scenario(
            FLEET_API_IMAGE,
            Scenario::CrashLoop {
                exit_code: 2,
                restarts: 4,
            },
        )
        .start()
        .await
        .unwrap();
    let out = ok(&c, &["get", "pods", "-l", "app=fleet-api"]).await;
    for l in out.lines().skip(1) {
        let cols: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(cols[1..4], ["0/1", "CrashLoopBackOff", "4"], "{out}");
    }
    let pod = pods_of(&c, "fleet-api")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let prev = ok(&c, &["logs", &pod, "--previous"]).await;
    assert!(prev.contains("exiting with code 2"), "{prev}");
    let ev = ok(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={pod}"),
        ],
    )
    .await;
    assert!(ev.contains("BackOff"), "{ev}");
    let d = deploy(&c, "fleet-api");
    assert!(d["status"].get("availableReplicas").is_none());
    assert_eq!(d["status"]["conditions"][0]["status"], "False");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_reports_progress_deadline_exceeded() {
    let bad = "registry.example.com/fleet/fleet-api:broken";
    let c = FakeCluster::builder()
        .seed_fleet()
        .progress_deadline(Duration::from_millis(1500))
        .scenario(bad, Scenario::ImagePullFailure)
        .start()
        .await
        .unwrap();
    ok(
        &c,
        &[
            "set",
            "image",
            "deployment/fleet-api",
            &format!("fleet-api={bad}"),
        ],
    )
    .await;
    let o = kubectl(
        &c,
        &["rollout", "status", "deployment/fleet-api", "--timeout=20s"],
    )
    .await;
    assert!(!o.ok);
    assert!(
        o.stderr
            .contains("deployment \"fleet-api\" exceeded its progress deadline"),
        "{}",
        o.stderr
    );
    let out = ok(&c, &["get", "pods", "-l", "app=fleet-api"]).await;
    assert!(out.contains("ImagePullBackOff"), "{out}");
    // The old ReplicaSet keeps serving.
    assert!(out.matches("Running").count() >= 2, "{out}");
}

/// Runs a long-lived kubectl (a follow or a watch) for `d`, doing `during` meanwhile, and
/// returns what it printed.
async fn run_for(c: &FakeCluster, args: &[&str], d: Duration, during: impl FnOnce()) -> String {
    use std::io::Read;
    let mut cmd = c.kubectl();
    cmd.args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("kubectl runs");
    tokio::time::sleep(d / 2).await;
    during();
    tokio::time::sleep(d / 2).await;
    child.kill().expect("kill kubectl");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let _ = child.wait();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_streams_appended_lines() {
    let c = fleet().await;
    c.set_logs(
        FLEET_NAMESPACE,
        "fleet-postgres-0",
        "postgres",
        &["ready to accept connections"],
    );
    let out = run_for(
        &c,
        &["logs", "-f", "fleet-postgres-0"],
        Duration::from_millis(1600),
        || {
            c.append_log(
                FLEET_NAMESPACE,
                "fleet-postgres-0",
                "postgres",
                "checkpoint starting: time",
            );
            c.append_log(
                FLEET_NAMESPACE,
                "fleet-postgres-0",
                "postgres",
                "checkpoint complete",
            );
        },
    )
    .await;
    assert_eq!(
        out,
        "ready to accept connections\ncheckpoint starting: time\ncheckpoint complete\n"
    );
    assert!(
        c.requests()
            .iter()
            .any(|r| r.op == Op::Logs && r.query.contains("follow=true"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_table_rows_as_things_change() {
    let c = fleet().await;
    let out = run_for(
        &c,
        &["get", "deploy", "fleet-frontend", "--watch"],
        Duration::from_millis(2000),
        || {
            c.store()
                .modify("deploy", FLEET_NAMESPACE, "fleet-frontend", |d| {
                    d["spec"]["replicas"] = serde_json::json!(4);
                })
                .unwrap();
        },
    )
    .await;
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0][..4],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE"],
        "{out}"
    );
    assert_eq!(lines[1][..2], ["fleet-frontend", "2/2"], "{out}");
    assert!(
        lines.iter().any(|l| l.get(1) == Some(&"4/4")),
        "the scaled deployment shows up: {out}"
    );
    assert!(c.requests().iter().any(|r| r.op == Op::Watch));
}

/// The runbook's own kubectl lines, as written there (namespace flag included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_lines() {
    let c = fleet().await;
    let ns = ["-n", FLEET_NAMESPACE];
    let with_ns =
        |args: &[&'static str]| -> Vec<&'static str> { args.iter().copied().chain(ns).collect() };

    // kubectl logs deployment/fleet-api -n fleet-management --tail=100
    for p in pods_of(&c, "fleet-api") {
        let name = p["metadata"]["name"].as_str().unwrap().to_string();
        let lines: Vec<String> = (0..120).map(|i| format!("{name} line {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        c.set_logs(FLEET_NAMESPACE, &name, "fleet-api", &refs);
    }
    let out = ok(
        &c,
        &with_ns(&["logs", "deployment/fleet-api", "--tail=100"]),
    )
    .await;
    assert_eq!(out.lines().count(), 100);
    assert!(out.lines().last().unwrap().ends_with("line 119"));

    // kubectl logs -l app=fleet-api -n fleet-management --tail=50: every pod's tail.
    let out = ok(&c, &with_ns(&["logs", "-l", "app=fleet-api", "--tail=50"])).await;
    assert_eq!(out.lines().count(), 150);

    // kubectl describe ingress -n fleet-management
    let out = ok(&c, &with_ns(&["describe", "ingress"])).await;
    assert!(
        out.contains("fleet.example.com") && out.contains("fleet-api:80"),
        "{out}"
    );

    // kubectl get svc -n fleet-management
    let out = ok(&c, &with_ns(&["get", "svc"])).await;
    let fe: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("fleet-frontend"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!([fe[1], fe[3]], ["LoadBalancer", "20.62.0.11"], "{out}");
    assert!(
        fe[4].starts_with("80:3") && fe[4].ends_with("/TCP"),
        "a node port is allocated: {out}"
    );

    // kubectl get hpa -n fleet-management
    let out = ok(&c, &with_ns(&["get", "hpa"])).await;
    assert!(
        out.contains("Deployment/fleet-api") && out.contains("cpu: 35%/70%"),
        "{out}"
    );

    // kubectl get all -n fleet-management -o yaml; kubectl get secrets ... -o yaml
    let out = ok(&c, &with_ns(&["get", "all", "-o", "yaml"])).await;
    assert!(out.starts_with("apiVersion: v1\nitems:"), "{out}");
    assert!(
        out.contains("kind: Deployment")
            && out.contains("kind: ReplicaSet")
            && out.contains("kind: Pod")
    );
    let out = ok(&c, &with_ns(&["get", "secrets", "-o", "yaml"])).await;
    assert!(
        out.contains("password: bm90LWEtcmVhbC1wYXNzd29yZA=="),
        "{out}"
    );

    // kubectl edit deployment fleet-api -n fleet-management (the editor is a sed script).
    let mut cmd = c.kubectl();
    cmd.args(with_ns(&["edit", "deployment", "fleet-api"]))
        .env("KUBE_EDITOR", "sed -i s/replicas:\\ 3/replicas:\\ 4/");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "deployment.apps/fleet-api edited"
    );
    assert_eq!(deploy(&c, "fleet-api")["spec"]["replicas"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_events_watch_shows_new_events() {
    let c = fleet().await;
    let out = run_for(
        &c,
        &["get", "events", "-n", FLEET_NAMESPACE, "--watch"],
        Duration::from_millis(2000),
        || {
            c.set_scenario(
                FLEET_API_IMAGE,
                Scenario::CrashLoop {
                    exit_code: 1,
                    restarts: 2,
                },
            );
        },
    )
    .await;
    assert!(
        out.lines().next().unwrap().starts_with("LAST SEEN"),
        "{out}"
    );
    assert!(
        out.contains("BackOff") && out.contains("Back-off restarting failed container fleet-api"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_the_handler_with_argv_stdin_and_exit_code() {
    use fleet_testkit::k8s::ExecOutput;
    let c = fleet().await;
    let o = kubectl(
        &c,
        &["exec", "fleet-postgres-0", "--", "psql", "-c", "select 1"],
    )
    .await;
    assert!(
        !o.ok && o.stderr.contains("no exec handler set"),
        "{}",
        o.stderr
    );
    c.on_exec(|req, stdin| {
        match req
            .command
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["psql", "-c", sql] => ExecOutput::ok(format!(
                " ?column? \n----------\n        1\n(1 row)\n\n-- {sql} in {}/{}\n",
                req.pod, req.container
            )),
            ["cat"] => ExecOutput::ok(stdin.to_vec()),
            ["sh", "-c", "exit 3"] => ExecOutput::fail("failing on purpose\n", 3),
            other => ExecOutput::fail(format!("{other:?}: not found\n"), 127),
        }
    });
    // kubectl exec fleet-postgres-0 -n fleet-management -- psql -c "..."
    let out = ok(
        &c,
        &[
            "exec",
            "fleet-postgres-0",
            "-n",
            FLEET_NAMESPACE,
            "--",
            "psql",
            "-c",
            "SELECT count(*) FROM pg_stat_activity;",
        ],
    )
    .await;
    assert!(
        out.contains("(1 row)")
            && out
                .contains("-- SELECT count(*) FROM pg_stat_activity; in fleet-postgres-0/postgres"),
        "{out}"
    );
    let o = kubectl(
        &c,
        &["exec", "fleet-postgres-0", "--", "sh", "-c", "exit 3"],
    )
    .await;
    assert!(!o.ok);
    assert!(
        o.stderr.contains("failing on purpose")
            && o.stderr.contains("command terminated with exit code 3"),
        "{}",
        o.stderr
    );
    // Stdin is streamed to the handler (-i).
    let mut cmd = c.kubectl();
    cmd.args(["exec", "-i", "fleet-postgres-0", "--", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"COPY fleet FROM STDIN;\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "COPY fleet FROM STDIN;\n"
    );
    let execs: Vec<_> = c
        .requests()
        .into_iter()
        .filter(|r| r.op == Op::Exec)
        .collect();
    assert_eq!(execs.len(), 4);
    assert!(execs[1].query.contains("command=psql"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cascades_or_orphans() {
    let c = fleet().await;
    let out = ok(
        &c,
        &["delete", "deployment", "fleet-frontend", "--cascade=orphan"],
    )
    .await;
    assert!(out.contains("deleted"), "{out}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The ReplicaSet and its pods stay, no longer owned.
    let rs = c
        .store()
        .list("rs", Some(FLEET_NAMESPACE))
        .into_iter()
        .find(|r| r["metadata"]["labels"]["app"] == "fleet-frontend")
        .unwrap();
    assert!(rs["metadata"].get("ownerReferences").is_none());
    assert_eq!(pods_of(&c, "fleet-frontend").len(), 2);
    ok(&c, &["delete", "deployment", "fleet-api"]).await;
    c.wait_until(Duration::from_secs(5), |s| {
        s.list("rs", Some(FLEET_NAMESPACE))
            .iter()
            .all(|r| r["metadata"]["labels"]["app"] != "fleet-api")
    })
    .await;
    assert!(
        c.wait_until(Duration::from_secs(5), |_| pods_of(&c, "fleet-api")
            .is_empty())
            .await,
        "background cascade removes the pods"
    );
    // Pods keep generation 1: binding them to a node is not a spec change.
    assert!(
        pods_of(&c, "fleet-frontend")
            .iter()
            .all(|p| p["metadata"]["generation"] == 1)
    );
}
