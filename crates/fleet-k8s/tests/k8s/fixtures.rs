//! The public readers of raw objects (pod columns, diagnosis, deployments, events, services,
//! ingresses) on recorded fixtures (see `tests/fixtures/README.md`) and small hand-written
//! pods. kubectl's rollout algorithms and the metrics parsers are unit-tested in the crate.

use std::collections::BTreeSet;

use fleet_k8s::{
    Cause, DeploymentInfo, EventRecord, IngressInfo, PodSummary, RolloutState, ServiceInfo,
    diagnose,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The response body of exchange `i` of a replay.
fn replay_body(name: &str, i: usize) -> Value {
    let r = fixture(name);
    let body = r[i]["response_body"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}[{i}]"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{name}[{i}]: {e}"))
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn running_control_plane_pods_print_as_kubectl_does() {
    let list = replay_body("pod-list.json", 0);
    let pods: Vec<Pod> = from(list["items"].clone());
    assert_eq!(pods.len(), 8);
    for p in &pods {
        let s = PodSummary::from_pod(p);
        assert_eq!(
            (s.status.as_str(), s.ready_column().as_str(), s.restarts),
            ("Running", "1/1", 0),
            "{}",
            s.name
        );
        assert!(diagnose(p, &[], &BTreeSet::new()).is_empty(), "{}", s.name);
    }
    let p: Pod = from(fixture("k9s-pod-running.json"));
    assert_eq!(PodSummary::from_pod(&p).status, "Running");
}

#[test]
fn a_failed_job_pod_shows_its_terminated_reason() {
    let list = replay_body("job-create.json", 7);
    let pods: Vec<Pod> = from(list["items"].clone());
    let s = PodSummary::from_pod(&pods[0]);
    assert_eq!(s.status, "Error");
    assert_eq!(s.ready_column(), "0/1");
    match diagnose(&pods[0], &[], &BTreeSet::new()).as_slice() {
        [Cause::Terminated { termination, .. }] => assert_eq!(
            (termination.exit_code, termination.reason.as_str()),
            (5, "Error")
        ),
        other => panic!("{other:#?}"),
    }
}

#[test]
fn a_complete_deployment_is_complete() {
    let list = replay_body("deployment-list.json", 0);
    let d: Deployment = from(list["items"][0].clone());
    let info = DeploymentInfo::from_deployment(&d);
    assert_eq!(info.revision, Some(1));
    assert_eq!(
        info.rollout,
        RolloutState::Complete {
            message: "deployment \"coredns\" successfully rolled out".into()
        }
    );
    assert!(info.created.is_some());
}

#[test]
fn events_services_ingresses() {
    let e: Event = from(fixture("k9s-event-pulled.json"));
    let r = EventRecord::from_event(&e);
    assert_eq!(
        (r.type_.as_str(), r.reason.as_str(), r.object_kind.as_str()),
        ("Normal", "Pulled", "Pod")
    );
    assert!(r.field_path.as_deref().is_some_and(|f| f.contains("{c1}")));
    assert!(!r.is_warning());

    let s: Service = from(fixture("k9s-service-clusterip.json"));
    let s = ServiceInfo::from_service(&s);
    assert_eq!(
        (s.type_.as_str(), s.external_ip.as_str()),
        ("ClusterIP", "<none>")
    );

    let i: Ingress = from(fixture("k9s-ingress.json"));
    let i = IngressInfo::from_ingress(&i);
    assert!(i.annotations.keys().any(|k| k.contains("rewrite-target")));
    assert!(i.denylist().is_empty());
}

fn pod(status: Value) -> Pod {
    from(json!({
        "metadata": {"name": "p", "namespace": "fleet-management"},
        "spec": {"containers": [{"name": "app", "image": "a:1", "resources": {"limits": {"memory": "512Mi"}}}, {"name": "side", "image": "s:1"}],
                 "initContainers": [{"name": "init", "image": "i:1"}]},
        "status": status
    }))
}

#[test]
fn status_column_edge_cases() {
    let running = json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}});
    let cs = |name: &str, state: Value, ready: bool, restarts: i32| json!({"name": name, "image": "x", "imageID": "", "ready": ready, "restartCount": restarts, "state": state});
    // Init container still running.
    let p = pod(
        json!({"phase": "Pending", "initContainerStatuses": [cs("init", running.clone(), false, 0)]}),
    );
    assert_eq!(PodSummary::from_pod(&p).status, "Init:0/1");
    // Init container crash-looping.
    let p = pod(
        json!({"phase": "Pending", "initContainerStatuses": [cs("init", json!({"waiting": {"reason": "CrashLoopBackOff"}}), false, 3)]}),
    );
    let s = PodSummary::from_pod(&p);
    assert_eq!(
        (s.status.as_str(), s.restarts),
        ("Init:CrashLoopBackOff", 3)
    );
    // First container in spec order wins over a later one.
    let p = pod(
        json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [cs("init", json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), false, 0)],
        "containerStatuses": [
            cs("app", json!({"waiting": {"reason": "CrashLoopBackOff"}}), false, 4)
                .as_object().cloned().map(|mut m| { m.insert("lastState".into(), json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-01-01T00:05:00Z"}})); Value::Object(m) }).unwrap_or_default(),
            cs("side", json!({"waiting": {"reason": "ImagePullBackOff"}}), false, 0)]}),
    );
    let s = PodSummary::from_pod(&p);
    assert_eq!(
        (s.status.as_str(), s.ready_column().as_str(), s.restarts),
        ("CrashLoopBackOff", "0/2", 4)
    );
    let now: jiff::Timestamp = "2026-01-01T00:07:30Z".parse().expect("time");
    assert_eq!(s.restarts_column(now), "4 (2m30s ago)");
    assert_eq!(
        s.containers[0]
            .last_termination
            .as_ref()
            .and_then(|t| t.finished_at),
        Some("2026-01-01T00:05:00Z".parse().expect("time"))
    );
    let causes = diagnose(&p, &[], &BTreeSet::new());
    assert!(
        matches!(&causes[0], Cause::OomKilled { memory_limit: Some(m), restarts: 4, .. } if m == "512Mi"),
        "{causes:#?}"
    );
    assert!(
        matches!(&causes[1], Cause::ImagePull { container, .. } if container == "side"),
        "{causes:#?}"
    );
    // A completed container next to a running one reads Running when the pod is ready.
    let p = pod(
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
        "containerStatuses": [cs("app", running.clone(), true, 0), cs("side", json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), false, 0)]}),
    );
    assert_eq!(PodSummary::from_pod(&p).status, "Running");
    // Deleting.
    let mut p = pod(
        json!({"phase": "Running", "containerStatuses": [cs("app", running.clone(), true, 0), cs("side", running, true, 0)]}),
    );
    let raw_now: k8s_openapi::jiff::Timestamp = "2026-01-01T00:07:30Z".parse().expect("time");
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        raw_now,
    ));
    assert_eq!(PodSummary::from_pod(&p).status, "Terminating");
}

#[test]
fn create_container_config_error_names_only_what_is_missing() {
    let p = pod(json!({"phase": "Pending", "containerStatuses": [
        {"name": "app", "image": "a:1", "imageID": "", "ready": false, "restartCount": 0,
         "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"db\" not found"}}}]}));
    let missing: BTreeSet<_> = [(fleet_k8s::ConfigKind::Secret, "db".to_string())].into();
    assert_eq!(
        diagnose(&p, &[], &missing),
        vec![Cause::MissingConfig {
            container: "app".into(),
            kind: fleet_k8s::ConfigKind::Secret,
            name: "db".into()
        }]
    );
    // Checked and present (e.g. created since): reported as a plain config error with the message.
    assert!(
        matches!(diagnose(&p, &[], &BTreeSet::new()).as_slice(), [Cause::ContainerConfig { message, .. }] if message.contains("db"))
    );
}

/// A `CreateContainerConfigError` message names the object to look up; a name that is not an
/// object name is reported with the kubelet's message and never looked up (it would go into a
/// URL path).
#[test]
fn names_from_kubelet_messages_are_reported_not_followed() {
    let msg = "secret \"../../../api/v1/namespaces/kube-system/secrets/admin\" not found";
    let p = pod(json!({"phase": "Pending", "containerStatuses": [
        {"name": "app", "image": "a:1", "imageID": "", "ready": false, "restartCount": 0,
         "state": {"waiting": {"reason": "CreateContainerConfigError", "message": msg}}}]}));
    assert!(
        matches!(diagnose(&p, &[], &BTreeSet::new()).as_slice(), [Cause::ContainerConfig { message, .. }] if message == msg)
    );
}
