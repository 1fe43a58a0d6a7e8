//! Client-side `kubectl apply -f` of the kinds a deployment of the runbook's tools uses
//! (ServiceAccount, ConfigMap, Secret, Role, RoleBinding, Deployment, Service, CronJob, Job):
//! create, re-apply unchanged, change, and take fields out, with the real kubectl; on the wire,
//! what kubectl asks of the server (OpenAPI v3 index and group-version documents, a GET, then
//! POST or a strategic merge PATCH with the last-applied annotation).

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op};
use serde_json::Value;

use crate::common::{fleet, ok};

const MANIFESTS: &str = include_str!("manifests/backup.yaml");

/// Writes `text` to a file in a fresh directory and applies it.
async fn apply(c: &FakeCluster, text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("manifests.yaml");
    std::fs::write(&path, text).expect("write");
    ok(c, &["apply", "-f", path.to_str().expect("utf-8 path")]).await
}

fn get(c: &FakeCluster, resource: &str, name: &str) -> Value {
    c.store()
        .get(resource, FLEET_NAMESPACE, name)
        .unwrap_or_else(|| panic!("{resource}/{name}"))
}

fn last_applied(v: &Value) -> Value {
    let text = v["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .expect("last-applied annotation");
    serde_json::from_str(text).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_keeps_and_changes_every_kind() {
    let c = fleet().await;
    let out = apply(&c, MANIFESTS).await;
    for line in [
        "serviceaccount/fleet-backup created",
        "configmap/backup-config created",
        "secret/backup-key created",
        "role.rbac.authorization.k8s.io/fleet-backup created",
        "rolebinding.rbac.authorization.k8s.io/fleet-backup created",
        "deployment.apps/backup-agent created",
        "service/backup-agent created",
        "cronjob.batch/fleet-backup created",
        "job.batch/one-off created",
    ] {
        assert!(out.contains(line), "{line} in\n{out}");
    }
    let d = get(&c, "deploy", "backup-agent");
    assert_eq!(last_applied(&d)["spec"]["replicas"], 1);
    assert!(
        last_applied(&d)["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_null(),
        "the annotation leaves itself out"
    );
    // Creates carry kubectl's field manager and ask the server to validate.
    let posts: Vec<_> = c
        .requests()
        .into_iter()
        .filter(|r| r.op == Op::Create)
        .collect();
    assert!(
        posts
            .iter()
            .all(|r| r.query.contains("fieldValidation=Strict") && r.status == 201),
        "{posts:?}"
    );
    assert!(c.requests().iter().any(|r| r.path == "/openapi/v3"));

    // Re-applied as is: nothing changes (a Secret written with stringData is always
    // "configured", as on a real cluster: the server keeps data, not stringData).
    c.clear_requests();
    let out = apply(&c, MANIFESTS).await;
    for kind in [
        "serviceaccount",
        "configmap",
        "deployment.apps",
        "service",
        "cronjob.batch",
        "job.batch",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{kind}/")) && l.ends_with("unchanged")),
            "{kind}: {out}"
        );
    }
    assert!(c.requests().iter().all(|r| r.op != Op::Create));

    // Changed: a new env value and variable, a ConfigMap key dropped, a Role verb added, a new
    // schedule, a new Service port, a label removed from the Deployment's template.
    let changed = MANIFESTS
        .replace(
            "          value: \"a\"",
            "          value: \"b\"\n        - name: EXTRA\n          value: \"1\"",
        )
        .replace(
            "  retention_days: \"30\"",
            "  retention_days: \"14\"\n  region: westeurope",
        )
        .replace(
            "verbs: [\"get\", \"list\"]",
            "verbs: [\"get\", \"list\", \"watch\"]",
        )
        .replace("schedule: \"0 2 * * *\"", "schedule: \"30 2 * * *\"")
        .replace(
            "    targetPort: 8080",
            "    targetPort: 8080\n  - name: metrics\n    port: 9090",
        );
    let out = apply(&c, &changed).await;
    assert!(
        out.contains("deployment.apps/backup-agent configured"),
        "{out}"
    );
    let patches: Vec<_> = c
        .requests()
        .into_iter()
        .filter(|r| r.op == Op::Patch)
        .collect();
    assert!(
        patches
            .iter()
            .any(|r| r.content_type.as_deref() == Some("application/strategic-merge-patch+json")),
        "{patches:?}"
    );
    let d = get(&c, "deploy", "backup-agent");
    let env = &d["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &serde_json::json!([{"name": "MODE", "value": "b"}, {"name": "EXTRA", "value": "1"}])
    );
    assert_eq!(
        get(&c, "configmap", "backup-config")["data"],
        serde_json::json!({"retention_days": "14", "region": "westeurope"})
    );
    assert_eq!(
        get(&c, "role", "fleet-backup")["rules"][0]["verbs"],
        serde_json::json!(["get", "list", "watch"])
    );
    assert_eq!(
        get(&c, "cronjob", "fleet-backup")["spec"]["schedule"],
        "30 2 * * *"
    );
    assert_eq!(
        get(&c, "service", "backup-agent")["spec"]["ports"][1]["port"],
        9090
    );

    // Taken out again: applying the first version removes what only the second had.
    let out = apply(&c, MANIFESTS).await;
    assert!(
        out.contains("deployment.apps/backup-agent configured"),
        "{out}"
    );
    let d = get(&c, "deploy", "backup-agent");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"],
        serde_json::json!([{"name": "MODE", "value": "a"}])
    );
    assert_eq!(
        get(&c, "configmap", "backup-config")["data"],
        serde_json::json!({"retention_days": "30"})
    );
    let ports = get(&c, "service", "backup-agent")["spec"]["ports"].clone();
    assert_eq!(ports.as_array().map(Vec::len), Some(1), "{ports}");
    assert_eq!(
        last_applied(&get(&c, "role", "fleet-backup"))["rules"][0]["verbs"],
        serde_json::json!(["get", "list"])
    );
}
