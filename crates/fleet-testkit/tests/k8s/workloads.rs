//! The StatefulSet and HorizontalPodAutoscaler controllers, through the real kubectl and the
//! store: pod identity that survives deletion, ordered creation, claims, revisions and rolling
//! updates; autoscaler status from the metrics served, and scaling when asked to.

use std::time::Duration;

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use serde_json::{Value, json};

use crate::common::{fleet, kubectl, ok, pods_of, wait};

fn pod(c: &FakeCluster, name: &str) -> Option<Value> {
    c.store().get("pods", FLEET_NAMESPACE, name)
}

fn running_ready(p: &Value) -> bool {
    p["status"]["phase"] == "Running"
        && p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_pods_keep_their_identity() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(400))
        .start()
        .await
        .unwrap();
    let pg = pod(&c, "fleet-postgres-0").expect("seeded pod");
    let labels = &pg["metadata"]["labels"];
    assert_eq!(
        labels["statefulset.kubernetes.io/pod-name"],
        "fleet-postgres-0"
    );
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "0");
    let rev1 = labels["controller-revision-hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rev1.starts_with("fleet-postgres-"), "{rev1}");
    assert_eq!(pg["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
    assert_eq!(pg["spec"]["hostname"], "fleet-postgres-0");
    assert_eq!(pg["spec"]["subdomain"], "fleet-postgres");
    assert_eq!(
        pg["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data-fleet-postgres-0"
    );
    let pvc = ok(&c, &["get", "pvc", "data-fleet-postgres-0", "--no-headers"]).await;
    let cells: Vec<&str> = pvc.split_whitespace().collect();
    assert_eq!(
        (cells[1], cells[3], cells[4]),
        ("Bound", "10Gi", "RWO"),
        "{pvc}"
    );
    let claim_uid = c
        .store()
        .get("pvc", FLEET_NAMESPACE, "data-fleet-postgres-0")
        .unwrap()["metadata"]["uid"]
        .clone();

    // The runbook's case: the database pod is deleted and comes back under its name.
    let old_uid = pg["metadata"]["uid"].clone();
    ok(&c, &["delete", "pod", "fleet-postgres-0"]).await;
    wait(&c, "fleet-postgres-0 back and ready", |s| {
        s.get("pods", FLEET_NAMESPACE, "fleet-postgres-0")
            .is_some_and(|p| p["metadata"]["uid"] != old_uid && running_ready(&p))
    })
    .await;
    ok(
        &c,
        &["rollout", "status", "sts/fleet-postgres", "--timeout=20s"],
    )
    .await;
    let claim = c
        .store()
        .get("pvc", FLEET_NAMESPACE, "data-fleet-postgres-0")
        .unwrap();
    assert_eq!(claim["metadata"]["uid"], claim_uid, "the claim is kept");
    let events = ok(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.kind=StatefulSet",
        ],
    )
    .await;
    assert!(
        events.contains("create Pod fleet-postgres-0 in StatefulSet fleet-postgres successful"),
        "{events}"
    );

    // Ordered creation: -2 waits for -1 to be Running and Ready.
    ok(&c, &["scale", "sts/fleet-postgres", "--replicas=3"]).await;
    wait(&c, "fleet-postgres-1 created", |s| {
        s.get("pods", FLEET_NAMESPACE, "fleet-postgres-1").is_some()
    })
    .await;
    let one = pod(&c, "fleet-postgres-1").unwrap();
    if !running_ready(&one) {
        assert!(pod(&c, "fleet-postgres-2").is_none(), "-2 must wait for -1");
    }
    ok(
        &c,
        &["rollout", "status", "sts/fleet-postgres", "--timeout=20s"],
    )
    .await;
    let sts = ok(&c, &["get", "sts", "fleet-postgres", "--no-headers"]).await;
    assert!(sts.split_whitespace().nth(1) == Some("3/3"), "{sts}");
    assert_eq!(c.store().list("pvc", Some(FLEET_NAMESPACE)).len(), 3);

    // A rolling restart replaces every pod, highest ordinal first, under a new revision.
    ok(&c, &["rollout", "restart", "sts/fleet-postgres"]).await;
    let out = ok(
        &c,
        &["rollout", "status", "sts/fleet-postgres", "--timeout=30s"],
    )
    .await;
    // With the default partition (0) kubectl reports a partitioned roll-out, as on a real cluster.
    assert!(
        out.contains("partitioned roll out complete: 3 new pods"),
        "{out}"
    );
    let set = c
        .store()
        .get("sts", FLEET_NAMESPACE, "fleet-postgres")
        .unwrap();
    let rev2 = set["status"]["updateRevision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(rev2, rev1);
    assert_eq!(set["status"]["currentRevision"], rev2.as_str());
    assert_eq!(set["status"]["updatedReplicas"], 3);
    for p in pods_of(&c, "fleet-postgres") {
        assert_eq!(
            p["metadata"]["labels"]["controller-revision-hash"],
            rev2.as_str()
        );
    }
    let mut events = c.store().list("events", Some(FLEET_NAMESPACE));
    events.sort_by_key(|e| {
        e["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
    });
    let deletes: Vec<String> = events
        .iter()
        .filter_map(|e| e["message"].as_str().map(String::from))
        .filter(|m| m.starts_with("delete Pod fleet-postgres-"))
        .collect();
    let order: Vec<&str> = deletes.iter().map(|m| &m[11..27]).collect();
    assert_eq!(
        order
            .iter()
            .rev()
            .take(3)
            .rev()
            .copied()
            .collect::<Vec<_>>(),
        ["fleet-postgres-2", "fleet-postgres-1", "fleet-postgres-0"],
        "{deletes:?}"
    );
    let history = ok(&c, &["rollout", "history", "sts/fleet-postgres"]).await;
    assert!(
        history.contains("1 ") && history.contains("2 "),
        "{history}"
    );
    let revs = ok(&c, &["get", "controllerrevisions"]).await;
    assert!(
        revs.starts_with("NAME") && revs.contains("statefulset.apps/fleet-postgres"),
        "{revs}"
    );

    // Undo goes back to the first template, which becomes revision 3.
    ok(&c, &["rollout", "undo", "sts/fleet-postgres"]).await;
    ok(
        &c,
        &["rollout", "status", "sts/fleet-postgres", "--timeout=30s"],
    )
    .await;
    let set = c
        .store()
        .get("sts", FLEET_NAMESPACE, "fleet-postgres")
        .unwrap();
    assert_eq!(set["status"]["updateRevision"], rev1.as_str());
    let r1 = c
        .store()
        .get("controllerrevisions", FLEET_NAMESPACE, &rev1)
        .unwrap();
    assert_eq!(r1["revision"], 3);

    // Scaling down removes the highest ordinals; their claims stay.
    ok(&c, &["scale", "sts/fleet-postgres", "--replicas=1"]).await;
    wait(&c, "back to one pod", |s| {
        s.get("pods", FLEET_NAMESPACE, "fleet-postgres-1").is_none()
            && s.get("pods", FLEET_NAMESPACE, "fleet-postgres-2").is_none()
    })
    .await;
    assert!(pod(&c, "fleet-postgres-0").is_some());
    assert_eq!(c.store().list("pvc", Some(FLEET_NAMESPACE)).len(), 3);

    // Deleting the set takes its pods and revisions.
    ok(&c, &["delete", "sts", "fleet-postgres"]).await;
    wait(&c, "pods and revisions gone", |s| {
        s.get("pods", FLEET_NAMESPACE, "fleet-postgres-0").is_none()
            && s.list("controllerrevisions", Some(FLEET_NAMESPACE))
                .is_empty()
    })
    .await;
}

fn hpa(c: &FakeCluster, name: &str) -> Value {
    c.store().get("hpa", FLEET_NAMESPACE, name).expect("hpa")
}

fn condition<'a>(h: &'a Value, ty: &str) -> &'a Value {
    h["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_status_follows_the_metrics_served() {
    let c = fleet().await;
    wait(&c, "HPA status", |s| {
        s.get("hpa", FLEET_NAMESPACE, "fleet-api")
            .is_some_and(|h| h["status"]["conditions"].is_array())
    })
    .await;
    let h = hpa(&c, "fleet-api");
    assert_eq!(h["status"]["currentReplicas"], 3);
    assert_eq!(h["status"]["desiredReplicas"], 3);
    assert_eq!(
        h["status"]["currentMetrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35, "averageValue": "88m"}}}])
    );
    assert_eq!(condition(&h, "AbleToScale")["reason"], "ReadyForNewScale");
    assert_eq!(condition(&h, "ScalingActive")["reason"], "ValidMetricFound");
    assert_eq!(
        condition(&h, "ScalingActive")["message"],
        "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"
    );
    // 35 % of a 70 % target asks for 2 pods; the minimum is 3.
    assert_eq!(condition(&h, "ScalingLimited")["status"], "True");
    assert_eq!(condition(&h, "ScalingLimited")["reason"], "TooFewReplicas");
    let describe = ok(&c, &["describe", "hpa", "fleet-api"]).await;
    assert!(describe.contains("35% (88m) / 70%"), "{describe}");
    assert!(describe.contains("3 current / 3 desired"), "{describe}");
    assert!(describe.contains("TooFewReplicas"), "{describe}");

    // Load: every pod at its full request (100 % of a 70 % target) asks for 5 pods.
    for p in pods_of(&c, "fleet-api") {
        c.set_usage(
            FLEET_NAMESPACE,
            p["metadata"]["name"].as_str().unwrap(),
            "fleet-api",
            250,
            200,
        );
    }
    wait(&c, "desired 5", |s| {
        s.get("hpa", FLEET_NAMESPACE, "fleet-api")
            .is_some_and(|h| h["status"]["desiredReplicas"] == 5)
    })
    .await;
    let h = hpa(&c, "fleet-api");
    assert_eq!(
        h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
        100
    );
    assert_eq!(
        condition(&h, "ScalingLimited")["reason"],
        "DesiredWithinRange"
    );
    assert_eq!(
        c.store()
            .get("deploy", FLEET_NAMESPACE, "fleet-api")
            .unwrap()["spec"]["replicas"],
        3,
        "not scaled unless asked"
    );
    let table = ok(&c, &["get", "hpa", "fleet-api", "--no-headers"]).await;
    assert!(table.contains("cpu: 100%/70%"), "{table}");

    // Asked to, the autoscaler scales the deployment and says so.
    c.set_autoscaling(true);
    wait(&c, "fleet-api scaled to 5", |s| {
        s.get("deploy", FLEET_NAMESPACE, "fleet-api")
            .is_some_and(|d| d["spec"]["replicas"] == 5 && d["status"]["readyReplicas"] == 5)
    })
    .await;
    let h = hpa(&c, "fleet-api");
    assert!(h["status"]["lastScaleTime"].is_string());
    let events = ok(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            "reason=SuccessfulRescale",
        ],
    )
    .await;
    assert!(
        events.contains(
            "New size: 5; reason: cpu resource utilization (percentage of request) above target"
        ),
        "{events}"
    );
    // New pods use 35 %: (3 x 250m + 2 x 88m) / 5 = 185m, 74 %, within the 10 % tolerance.
    wait(&c, "settled at 5", |s| {
        s.get("hpa", FLEET_NAMESPACE, "fleet-api").is_some_and(|h| {
            h["status"]["currentReplicas"] == 5
                && h["status"]["desiredReplicas"] == 5
                && h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
                    == 74
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_reports_what_stops_it() {
    let c = fleet().await;
    for obj in [
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "ghost", "namespace": FLEET_NAMESPACE},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ghost"}, "minReplicas": 1, "maxReplicas": 3,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "plain", "namespace": FLEET_NAMESPACE},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "plain"}}, "template": {"metadata": {"labels": {"app": "plain"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "plain", "namespace": FLEET_NAMESPACE},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "plain"}, "maxReplicas": 3,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}),
    ] {
        c.store().insert(obj).unwrap();
    }
    // Until its pod is ready the HPA has no metrics; then it finds the request missing.
    wait(&c, "both HPAs reported", |s| {
        s.get("hpa", FLEET_NAMESPACE, "ghost")
            .is_some_and(|h| h["status"]["conditions"].is_array())
            && s.get("hpa", FLEET_NAMESPACE, "plain").is_some_and(|h| {
                condition(&h, "ScalingActive")["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("missing request"))
            })
    })
    .await;
    let ghost = hpa(&c, "ghost");
    assert_eq!(condition(&ghost, "AbleToScale")["status"], "False");
    assert_eq!(condition(&ghost, "AbleToScale")["reason"], "FailedGetScale");
    assert_eq!(
        condition(&ghost, "AbleToScale")["message"],
        "the HPA controller was unable to get the target's current scale: deployments.apps \"ghost\" not found"
    );
    let plain = hpa(&c, "plain");
    assert_eq!(condition(&plain, "ScalingActive")["status"], "False");
    assert_eq!(
        condition(&plain, "ScalingActive")["reason"],
        "FailedGetResourceMetric"
    );
    let msg = condition(&plain, "ScalingActive")["message"]
        .as_str()
        .unwrap();
    assert!(
        msg.starts_with("the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container web of Pod plain-"),
        "{msg}"
    );
    let out = kubectl(&c, &["get", "hpa", "plain", "--no-headers"]).await;
    assert!(out.stdout.contains("cpu: <unknown>/50%"), "{}", out.stdout);
}
