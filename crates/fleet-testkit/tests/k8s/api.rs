//! The fake cluster's HTTP API spoken to directly (plain HTTP/1.1 over TCP), checking the wire
//! behaviour that clients rely on: Status error bodies, patches, dry run, paging, watch and the
//! fault knobs.

use std::time::{Duration, Instant};

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op};
use serde_json::{Value, json};

use crate::common::{assert_status, fleet, http};

const DEPLOYS: &str = "/apis/apps/v1/namespaces/fleet-management/deployments";
const PODS: &str = "/api/v1/namespaces/fleet-management/pods";

#[tokio::test]
async fn starts_fast_side_by_side_and_serves_discovery() {
    let t = Instant::now();
    let a = FakeCluster::start().await.unwrap();
    let b = FakeCluster::start().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_ne!(a.addr(), b.addr());
    assert!(a.kubeconfig_yaml().contains(&a.url()));
    assert_eq!(
        std::fs::read_to_string(a.kubeconfig_path()).unwrap(),
        a.kubeconfig_yaml()
    );
    let v = http(&a, "GET", "/version", None, "").await.json();
    assert_eq!(v["major"], "1");
    let apis = http(&a, "GET", "/apis", None, "").await.json();
    let metrics = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "metrics.k8s.io")
        .unwrap();
    let versions: Vec<&str> = metrics["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1", "v1beta1"]);
    let core = http(&a, "GET", "/api/v1", None, "").await.json();
    let names: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for n in [
        "pods",
        "pods/log",
        "pods/status",
        "events",
        "services",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "persistentvolumeclaims",
        "namespaces",
        "nodes",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let apps = http(&a, "GET", "/apis/apps/v1", None, "").await.json();
    assert!(
        apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "deployments/scale" && r["group"] == "autoscaling")
    );
    assert_eq!(
        http(&a, "GET", "/apis/nope.example.com/v1", None, "")
            .await
            .status,
        404
    );
    // Shutting down with a watch open does not wait for the client.
    let addr = a.addr();
    let w = tokio::spawn(async move {
        http(
            &addr,
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true",
            None,
            "",
        )
        .await
        .body
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    a.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(w.await.unwrap(), "");
    drop(b);
}

#[tokio::test]
async fn error_bodies_carry_real_reasons_and_codes() {
    let c = fleet().await;
    assert_status(
        &http(&c, "GET", &format!("{DEPLOYS}/nope"), None, "").await,
        404,
        "NotFound",
    );
    let r = http(&c, "GET", &format!("{DEPLOYS}/nope"), None, "")
        .await
        .json();
    assert_eq!(r["message"], "deployments.apps \"nope\" not found");
    assert_eq!(
        r["details"],
        json!({"name": "nope", "group": "apps", "kind": "deployments"})
    );

    let existing = http(&c, "GET", &format!("{DEPLOYS}/fleet-api"), None, "")
        .await
        .json();
    let mut dup = existing.clone();
    dup["metadata"] = json!({"name": "fleet-api"});
    assert_status(
        &http(
            &c,
            "POST",
            DEPLOYS,
            Some("application/json"),
            &dup.to_string(),
        )
        .await,
        409,
        "AlreadyExists",
    );

    // A write with a stale resourceVersion conflicts.
    let mut stale = existing.clone();
    stale["spec"]["replicas"] = json!(4);
    let ok = http(
        &c,
        "PUT",
        &format!("{DEPLOYS}/fleet-api"),
        Some("application/json"),
        &stale.to_string(),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.json()["metadata"]["generation"],
        existing["metadata"]["generation"].as_i64().unwrap() + 1
    );
    stale["spec"]["replicas"] = json!(5);
    let r = http(
        &c,
        "PUT",
        &format!("{DEPLOYS}/fleet-api"),
        Some("application/json"),
        &stale.to_string(),
    )
    .await;
    assert_status(&r, 409, "Conflict");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified")
    );

    // Invalid objects get 422 with causes.
    let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Bad_Name"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "x"}]}}}});
    let r = http(
        &c,
        "POST",
        DEPLOYS,
        Some("application/json"),
        &bad.to_string(),
    )
    .await;
    assert_status(&r, 422, "Invalid");
    let fields: Vec<String> = r.json()["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        [
            "metadata.name",
            "spec.template.metadata.labels",
            "spec.template.spec.containers[0].image"
        ]
    );

    // Missing namespace.
    let r = http(
        &c,
        "POST",
        "/api/v1/namespaces/ghost/configmaps",
        Some("application/json"),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#,
    )
    .await;
    assert_status(&r, 404, "NotFound");
    assert_eq!(r.json()["message"], "namespaces \"ghost\" not found");
}

#[tokio::test]
async fn three_patch_kinds_and_dry_run() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .without_controllers()
        .start()
        .await
        .unwrap();
    let path = format!("{DEPLOYS}/fleet-frontend");
    let before = http(&c, "GET", &path, None, "").await.json();
    let gen0 = before["metadata"]["generation"].as_i64().unwrap();

    let jp = r#"[{"op":"test","path":"/spec/replicas","value":2},{"op":"replace","path":"/spec/replicas","value":3}]"#;
    let r = http(&c, "PATCH", &path, Some("application/json-patch+json"), jp).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["spec"]["replicas"], 3);
    assert_eq!(r.json()["metadata"]["generation"], gen0 + 1);
    let failing = r#"[{"op":"test","path":"/spec/replicas","value":99}]"#;
    assert_eq!(
        http(
            &c,
            "PATCH",
            &path,
            Some("application/json-patch+json"),
            failing
        )
        .await
        .status,
        422
    );

    let mp = r#"{"metadata":{"annotations":{"team":"fleet"}}}"#;
    let r = http(&c, "PATCH", &path, Some("application/merge-patch+json"), mp)
        .await
        .json();
    assert_eq!(r["metadata"]["annotations"]["team"], "fleet");
    assert_eq!(
        r["metadata"]["generation"],
        gen0 + 1,
        "metadata changes do not bump generation"
    );

    // Strategic merge keeps the other container fields (merge by name).
    let smp = r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"fleet-frontend"}],"containers":[{"name":"fleet-frontend","image":"fe:9"}]}}}}"#;
    let r = http(
        &c,
        "PATCH",
        &path,
        Some("application/strategic-merge-patch+json"),
        smp,
    )
    .await
    .json();
    let ct = &r["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(ct["image"], "fe:9");
    assert_eq!(ct["ports"][0]["containerPort"], 3000);
    // A merge patch replaces the list instead.
    let mp = r#"{"spec":{"template":{"spec":{"containers":[{"name":"fleet-frontend","image":"fe:10"}]}}}}"#;
    let r = http(&c, "PATCH", &path, Some("application/merge-patch+json"), mp)
        .await
        .json();
    assert!(
        r["spec"]["template"]["spec"]["containers"][0]
            .get("ports")
            .is_none()
    );

    assert_eq!(
        http(&c, "PATCH", &path, Some("application/yaml"), "{}")
            .await
            .status,
        415
    );

    // dryRun=All answers as if done, but nothing changes.
    let rv = c.store().resource_version();
    let r = http(
        &c,
        "PATCH",
        &format!("{path}?dryRun=All"),
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":7}}"#,
    )
    .await;
    assert_eq!(r.json()["spec"]["replicas"], 7);
    let r = http(&c, "DELETE", &format!("{path}?dryRun=All"), None, "").await;
    assert_eq!(r.status, 200);
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"}}"#;
    assert_eq!(
        http(
            &c,
            "POST",
            "/api/v1/namespaces/fleet-management/configmaps?dryRun=All",
            Some("application/json"),
            cm
        )
        .await
        .status,
        201
    );
    assert_eq!(c.store().resource_version(), rv);
    assert!(
        c.store()
            .get("configmaps", FLEET_NAMESPACE, "dry")
            .is_none()
    );
    assert_eq!(
        c.store()
            .get("deploy", FLEET_NAMESPACE, "fleet-frontend")
            .unwrap()["spec"]["replicas"],
        3
    );
}

#[tokio::test]
async fn selectors_paging_and_expired_continue() {
    let c = fleet().await;
    let all = http(&c, "GET", PODS, None, "").await.json();
    assert_eq!(all["kind"], "PodList");
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    let api = http(
        &c,
        "GET",
        &format!("{PODS}?labelSelector=app%3Dfleet-api"),
        None,
        "",
    )
    .await
    .json();
    assert_eq!(api["items"].as_array().unwrap().len(), 3);
    let notin = http(
        &c,
        "GET",
        &format!("{PODS}?labelSelector=app%20notin%20(fleet-api,fleet-frontend)"),
        None,
        "",
    )
    .await
    .json();
    assert_eq!(notin["items"][0]["metadata"]["name"], "fleet-postgres-0");
    let by_field = http(
        &c,
        "GET",
        &format!("{PODS}?fieldSelector=metadata.name%3Dfleet-postgres-0"),
        None,
        "",
    )
    .await
    .json();
    assert_eq!(by_field["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        http(
            &c,
            "GET",
            &format!("{PODS}?labelSelector=a%3D%3D%3Db%2C"),
            None,
            ""
        )
        .await
        .status,
        400
    );

    // Paging: 6 pods, 4 per page.
    let p1 = http(&c, "GET", &format!("{PODS}?limit=4"), None, "")
        .await
        .json();
    assert_eq!(p1["items"].as_array().unwrap().len(), 4);
    assert_eq!(p1["metadata"]["remainingItemCount"], 2);
    let token = p1["metadata"]["continue"].as_str().unwrap().to_string();
    let p2 = http(
        &c,
        "GET",
        &format!("{PODS}?limit=4&continue={token}"),
        None,
        "",
    )
    .await
    .json();
    assert_eq!(p2["items"].as_array().unwrap().len(), 2);
    assert!(p2["metadata"].get("continue").is_none());
    let mut names: Vec<Value> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["items"].as_array().unwrap())
        .map(|p| p["metadata"]["name"].clone())
        .collect();
    names.dedup();
    assert_eq!(names.len(), 6);

    // Later pages come from the first page's snapshot, whatever changed since.
    let first_rv = p1["metadata"]["resourceVersion"].clone();
    let last_two: Vec<String> = p2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    c.store()
        .delete("pods", FLEET_NAMESPACE, &last_two[1])
        .unwrap();
    c.store()
        .modify("pods", FLEET_NAMESPACE, &last_two[0], |p| {
            p["metadata"]["labels"]["touched"] = json!("yes");
        })
        .unwrap();
    let again = http(
        &c,
        "GET",
        &format!("{PODS}?limit=4&continue={token}"),
        None,
        "",
    )
    .await
    .json();
    assert_eq!(again["metadata"]["resourceVersion"], first_rv);
    let names: Vec<&str> = again["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        last_two.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        again["items"][0]["metadata"]["labels"]
            .get("touched")
            .is_none()
    );

    c.expire_continue_tokens();
    let r = http(
        &c,
        "GET",
        &format!("{PODS}?limit=4&continue={token}"),
        None,
        "",
    )
    .await;
    assert_status(&r, 410, "Expired");
}

#[tokio::test]
async fn watch_streams_frames_resumes_and_expires() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .without_controllers()
        .history_limit(50)
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let cms = "/api/v1/namespaces/fleet-management/configmaps";
    let list = http(&c, "GET", cms, None, "").await.json();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let watch = {
        let c2 = c.addr();
        let path = format!(
            "{cms}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1"
        );
        tokio::spawn(async move { http(&c2, "GET", &path, None, "").await.body })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    c.store().insert(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w1", "namespace": FLEET_NAMESPACE}})).unwrap();
    c.store()
        .modify("configmaps", FLEET_NAMESPACE, "w1", |v| {
            v["data"] = json!({"k": "v"});
        })
        .unwrap();
    c.store()
        .delete("configmaps", FLEET_NAMESPACE, "w1")
        .unwrap();
    let t = Instant::now();
    let body = watch.await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "timeoutSeconds ends the stream"
    );
    let frames: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = frames
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .filter(|t| *t != "BOOKMARK")
        .collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "BOOKMARK" && f["object"]["kind"] == "ConfigMap")
    );
    let rvs: Vec<u64> = frames
        .iter()
        .filter(|f| f["type"] != "BOOKMARK")
        .map(|f| {
            f["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");

    // Resuming from the first change's rv replays the rest.
    let r = http(
        &c,
        "GET",
        &format!(
            "{cms}?watch=true&resourceVersion={}&timeoutSeconds=1",
            rvs[0]
        ),
        None,
        "",
    )
    .await;
    let replay: Vec<String> = r
        .frames()
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(replay, ["MODIFIED", "DELETED"]);

    // Initial events and the end-of-initial-events bookmark.
    let r = http(&c, "GET", &format!("{cms}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"), None, "").await;
    let f = r.frames();
    assert_eq!(f[0]["type"], "ADDED");
    let bm = f.iter().find(|x| x["type"] == "BOOKMARK").unwrap();
    assert_eq!(
        bm["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );

    // A compacted position gets an ERROR frame with 410 Expired.
    c.expire_continue_tokens();
    let r = http(
        &c,
        "GET",
        &format!("{cms}?watch=true&resourceVersion=1"),
        None,
        "",
    )
    .await;
    let f = r.frames();
    assert_eq!(f[0]["type"], "ERROR");
    assert_eq!(f[0]["object"]["code"], 410);
    assert_eq!(f[0]["object"]["reason"], "Expired");
}

#[tokio::test]
async fn fault_knobs_and_request_log() {
    let c = fleet().await;
    c.fail_next(Op::List, 429, 1);
    let r = http(&c, "GET", PODS, None, "").await;
    assert_status(&r, 429, "TooManyRequests");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 1);
    assert_eq!(
        http(&c, "GET", PODS, None, "").await.status,
        200,
        "the fault fires once"
    );

    c.fail_next_on(Op::Get, Some("deployments"), 503, 2);
    assert_eq!(http(&c, "GET", PODS, None, "").await.status, 200);
    assert_status(
        &http(&c, "GET", &format!("{DEPLOYS}/fleet-api"), None, "").await,
        503,
        "ServiceUnavailable",
    );
    assert_status(
        &http(&c, "GET", &format!("{DEPLOYS}/fleet-api"), None, "").await,
        503,
        "ServiceUnavailable",
    );
    assert_eq!(
        http(&c, "GET", &format!("{DEPLOYS}/fleet-api"), None, "")
            .await
            .status,
        200
    );
    c.fail_next(Op::Any, 500, 1);
    assert_status(
        &http(&c, "GET", "/api/v1", None, "").await,
        500,
        "InternalError",
    );

    c.set_latency(Duration::from_millis(120));
    let t = Instant::now();
    http(&c, "GET", "/version", None, "").await;
    assert!(t.elapsed() >= Duration::from_millis(120));
    c.set_latency(Duration::ZERO);

    // Dropped watches end at once.
    let addr = c.addr();
    let w = tokio::spawn(async move {
        http(&addr, "GET", &format!("{PODS}?watch=true"), None, "")
            .await
            .body
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t = Instant::now();
    c.drop_watches();
    let body = w.await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(body.lines().count(), 6, "initial ADDED frames then the end");

    let reqs = c.requests();
    assert_eq!(c.request_count(Op::Watch), 1);
    let counts = c.request_counts();
    assert_eq!(counts.get(&Op::Watch), Some(&1));
    assert_eq!(counts.values().sum::<usize>(), reqs.len());
    assert!(c.request_count(Op::List) >= 3);
    assert_eq!(reqs.iter().filter(|r| r.status == 503).count(), 2);
    assert!(
        reqs.iter()
            .all(|r| r.op != Op::Get || r.resource.as_deref() == Some("deployments"))
    );
}

#[tokio::test]
async fn scale_subresource_and_metrics() {
    let c = fleet().await;
    let s = http(&c, "GET", &format!("{DEPLOYS}/fleet-api/scale"), None, "")
        .await
        .json();
    assert_eq!(s["kind"], "Scale");
    assert_eq!(s["apiVersion"], "autoscaling/v1");
    assert_eq!(s["spec"]["replicas"], 3);
    assert_eq!(s["status"]["selector"], "app=fleet-api");
    let r = http(
        &c,
        "PATCH",
        &format!("{DEPLOYS}/fleet-api/scale"),
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":-1}}"#,
    )
    .await;
    assert_status(&r, 422, "Invalid");
    let pm = http(
        &c,
        "GET",
        "/apis/metrics.k8s.io/v1/namespaces/fleet-management/pods",
        None,
        "",
    )
    .await
    .json();
    assert_eq!(pm["kind"], "PodMetricsList");
    assert_eq!(pm["items"].as_array().unwrap().len(), 6);
    assert!(
        pm["items"][0]["containers"][0]["usage"]["cpu"]
            .as_str()
            .unwrap()
            .ends_with('n')
    );
    let nm = http(
        &c,
        "GET",
        "/apis/metrics.k8s.io/v1beta1/nodes/aks-nodepool1-0",
        None,
        "",
    )
    .await
    .json();
    assert_eq!(nm["kind"], "NodeMetrics");
    assert!(nm["usage"]["memory"].as_str().unwrap().ends_with("Ki"));
}

#[tokio::test]
async fn scenarios_missing_secret_unschedulable_oom() {
    use fleet_testkit::k8s::Scenario;
    let c = fleet().await;
    // fleet-api reads a Secret and a ConfigMap through env: remove the Secret.
    c.store()
        .delete("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
        .unwrap();
    let pod = c
        .store()
        .list("pods", Some(FLEET_NAMESPACE))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app"] == "fleet-api")
        .unwrap();
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    c.store().delete("pods", FLEET_NAMESPACE, &name).unwrap();
    assert!(
        c.wait_until(Duration::from_secs(5), |s| s
            .list("pods", Some(FLEET_NAMESPACE))
            .iter()
            .any(|p| {
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    == "CreateContainerConfigError"
                    && p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
                        == "secret \"fleet-db-credentials\" not found"
            }))
        .await
    );

    c.set_pod_scenario(
        FLEET_NAMESPACE,
        "fleet-postgres-0",
        Scenario::OomKilled { restarts: 3 },
    );
    assert!(
        c.wait_until(Duration::from_secs(5), |s| s
            .get("pods", FLEET_NAMESPACE, "fleet-postgres-0")
            .is_some_and(|p| {
                let cs = &p["status"]["containerStatuses"][0];
                cs["lastState"]["terminated"]["reason"] == "OOMKilled"
                    && cs["lastState"]["terminated"]["exitCode"] == 137
                    && cs["restartCount"] == 3
            }))
        .await
    );

    c.set_scenario(
        fleet_testkit::k8s::FLEET_FRONTEND_IMAGE,
        Scenario::Unschedulable {
            message: "0/3 nodes are available: 3 Insufficient cpu.".into(),
        },
    );
    c.store()
        .modify("deploy", FLEET_NAMESPACE, "fleet-frontend", |d| {
            d["spec"]["replicas"] = json!(3);
        })
        .unwrap();
    assert!(
        c.wait_until(Duration::from_secs(5), |s| s
            .list("events", Some(FLEET_NAMESPACE))
            .iter()
            .any(|e| e["reason"] == "FailedScheduling" && e["type"] == "Warning"))
            .await
    );
}

fn rs_of(c: &FakeCluster, app: &str) -> Vec<Value> {
    c.store()
        .list("replicasets", Some(FLEET_NAMESPACE))
        .into_iter()
        .filter(|r| r["metadata"]["labels"]["app"] == app)
        .collect()
}

#[tokio::test]
async fn recreate_strategy_and_revision_history_limit() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    c.store()
        .modify("deploy", FLEET_NAMESPACE, "fleet-frontend", |d| {
            d["spec"]["strategy"] = json!({"type": "Recreate"});
            d["spec"]["revisionHistoryLimit"] = json!(1);
        })
        .unwrap();
    let set_image = |tag: &str| {
        c.store()
            .modify("deploy", FLEET_NAMESPACE, "fleet-frontend", |d| {
                d["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!(format!("fe:{tag}"));
            })
            .unwrap();
    };
    set_image("2");
    // Recreate: the old pods all go before any new one exists.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        let pods: Vec<Value> = c
            .store()
            .list("pods", Some(FLEET_NAMESPACE))
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app"] == "fleet-frontend")
            .collect();
        let old = pods
            .iter()
            .filter(|p| p["spec"]["containers"][0]["image"] != "fe:2")
            .count();
        let new = pods.len() - old;
        assert!(
            old == 0 || new == 0,
            "old and new pods side by side under Recreate"
        );
        if new == 2
            && c.store()
                .get("deploy", FLEET_NAMESPACE, "fleet-frontend")
                .unwrap()["status"]["availableReplicas"]
                == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The controller's own account: all old replicas went before new ones came.
    let mut scaling: Vec<(u64, String)> = c
        .store()
        .list("events", Some(FLEET_NAMESPACE))
        .into_iter()
        .filter(|e| {
            e["reason"] == "ScalingReplicaSet" && e["involvedObject"]["name"] == "fleet-frontend"
        })
        .map(|e| {
            (
                e["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    scaling.sort();
    let messages: Vec<&str> = scaling.iter().map(|(_, m)| m.as_str()).skip(1).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("Scaled down replica set fleet-frontend-")
            && messages[0].ends_with("from 2 to 0"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("Scaled up replica set fleet-frontend-")
            && messages[1].ends_with("from 0 to 2"),
        "{messages:?}"
    );
    set_image("3");
    assert!(
        c.wait_until(Duration::from_secs(5), |s| s
            .get("deploy", FLEET_NAMESPACE, "fleet-frontend")
            .unwrap()["status"]["availableReplicas"]
            == 2
            && s.get("deploy", FLEET_NAMESPACE, "fleet-frontend").unwrap()["metadata"]
                ["annotations"]["deployment.kubernetes.io/revision"]
                == "3")
            .await
    );
    // One old revision kept: revisions 2 and 3 remain.
    assert!(
        c.wait_until(Duration::from_secs(5), |_| rs_of(&c, "fleet-frontend")
            .len()
            == 2)
            .await
    );
    let mut revs: Vec<String> = rs_of(&c, "fleet-frontend")
        .iter()
        .map(|r| {
            r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    revs.sort();
    assert_eq!(revs, ["2", "3"]);
}

// Two threads: the observer is not starved by the controllers' passes on a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_respects_surge_and_unavailability() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    // fleet-api: 3 replicas, maxSurge 25% (1), maxUnavailable 25% (0).
    c.store()
        .modify("deploy", FLEET_NAMESPACE, "fleet-api", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("api:2");
        })
        .unwrap();
    let t = Instant::now();
    let mut max_total = 0;
    loop {
        let pods: Vec<Value> = c
            .store()
            .list("pods", Some(FLEET_NAMESPACE))
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app"] == "fleet-api")
            .collect();
        let ready = pods
            .iter()
            .filter(|p| {
                p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
            .count();
        max_total = max_total.max(pods.len());
        assert!(pods.len() <= 4, "never more than replicas + maxSurge pods");
        assert!(
            ready >= 3,
            "maxUnavailable 0 keeps all 3 replicas ready: {ready} ready of {}: {:?} {:?}",
            pods.len(),
            {
                let mut ev: Vec<(u64, String)> = c
                    .store()
                    .list("events", Some(FLEET_NAMESPACE))
                    .into_iter()
                    .filter(|e| e["reason"] == "ScalingReplicaSet")
                    .map(|e| {
                        (
                            e["metadata"]["resourceVersion"]
                                .as_str()
                                .unwrap()
                                .parse()
                                .unwrap(),
                            e["message"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
                ev.sort();
                ev
            },
            pods.iter()
                .map(|p| (
                    p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    p["status"]["phase"].clone(),
                    p["status"]["conditions"].as_array().map(|cs| cs
                        .iter()
                        .map(|c| format!(
                            "{}={}",
                            c["type"].as_str().unwrap_or(""),
                            c["status"].as_str().unwrap_or("")
                        ))
                        .collect::<Vec<_>>())
                ))
                .collect::<Vec<_>>()
        );
        let d = c
            .store()
            .get("deploy", FLEET_NAMESPACE, "fleet-api")
            .unwrap();
        // kubectl's test for done: the status describes the current generation and all
        // replicas are updated and available.
        if d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && d["status"]["updatedReplicas"] == 3
            && d["status"]["availableReplicas"] == 3
            && d["status"]["replicas"] == 3
        {
            assert_eq!(
                d["status"]["conditions"][1]["reason"],
                "NewReplicaSetAvailable"
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "rollout finished: {d}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(max_total, 4, "the rollout surged by one pod");
}

/// The controllers write only when something changed: an idle cluster stays at one
/// resourceVersion (a controller that rewrote its status on every pass would spin).
#[tokio::test]
async fn an_idle_cluster_writes_nothing() {
    let c = fleet().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = c.store().resource_version();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = c.store().resource_version();
    let changed: Vec<String> = c.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        before, after,
        "the controllers kept writing while nothing happened: {changed:?}"
    );
}
