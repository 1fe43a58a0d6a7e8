//! Pure rules of Kubernetes configuration backups: what is left out, which server-populated
//! fields are stripped (Velero's list and kind actions), the restore order (Velero's
//! priorities, then alphabetical), moving objects to another namespace, carrying server-assigned
//! fields over on update, and diffs that name paths but never values.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The annotation every restored object gets, naming the backup.
pub const RESTORED_FROM: &str = "fleet-backup/restored-from";

/// Why an exported object is not backed up.
pub(crate) fn skip_reason(resource: &str, obj: &Value) -> Option<&'static str> {
    // History and computed state, never restored (Velero's nonRestorableResources, plus
    // the metrics API which is computed on every read).
    const NEVER: &[&str] = &[
        "events",
        "events.events.k8s.io",
        "nodes",
        "csinodes.storage.k8s.io",
        "volumeattachments.storage.k8s.io",
    ];
    if NEVER.contains(&resource) || resource.ends_with(".metrics.k8s.io") {
        return Some("never restored");
    }
    let controlled = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        });
    if controlled {
        return Some("controller-owned");
    }
    if resource == "configmaps"
        && obj.pointer("/metadata/name").and_then(Value::as_str) == Some("kube-root-ca.crt")
    {
        return Some("published by the cluster");
    }
    None
}

/// Removes what the server fills in (Velero's `resetMetadata`/`resetStatus` and kind
/// actions), so that the object can be created again, anywhere.
pub(crate) fn strip(resource: &str, obj: &mut Value, keep_managed_fields: bool) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "generateName",
            "ownerReferences",
        ] {
            meta.remove(key);
        }
        if !keep_managed_fields {
            meta.remove("managedFields");
        }
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            // Server bookkeeping that would be wrong on a new object.
            for key in [
                "deployment.kubernetes.io/revision",
                "pv.kubernetes.io/bind-completed",
                "pv.kubernetes.io/bound-by-controller",
                "volume.kubernetes.io/selected-node",
                "volume.beta.kubernetes.io/storage-provisioner",
                "volume.kubernetes.io/storage-provisioner",
            ] {
                ann.remove(key);
            }
            if ann.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    match resource {
        "services" => strip_service(obj),
        "pods" => strip_pod(obj),
        "jobs.batch" => strip_job(obj),
        "persistentvolumeclaims" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("volumeName");
            }
        }
        "secrets" => {
            // A service-account token is issued again by the token controller.
            if obj.get("type").and_then(Value::as_str)
                == Some("kubernetes.io/service-account-token")
                && let Some(o) = obj.as_object_mut()
            {
                o.remove("data");
            }
        }
        _ => {}
    }
}

/// The node ports a user asked for, from `kubectl apply`'s record of the object.
fn requested_node_ports(obj: &Value) -> BTreeSet<i64> {
    let applied = obj
        .pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    applied
        .as_ref()
        .and_then(|a| a.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
                .collect()
        })
        .unwrap_or_default()
}

fn strip_service(obj: &mut Value) {
    let keep = requested_node_ports(obj);
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if !headless {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            let requested = p
                .get("nodePort")
                .and_then(Value::as_i64)
                .is_some_and(|n| keep.contains(&n));
            if !requested && let Some(p) = p.as_object_mut() {
                p.remove("nodePort");
            }
        }
    }
    if !keep.is_empty() {
        return;
    }
    spec.remove("healthCheckNodePort");
}

fn strip_pod(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.remove("nodeName");
    let mut dropped = Vec::new();
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        vols.retain(|v| {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            let token = name.starts_with("kube-api-access-") && v.get("projected").is_some();
            if token {
                dropped.push(name.to_owned());
            }
            !token
        });
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                if let Some(mounts) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                    mounts.retain(|m| {
                        !dropped
                            .iter()
                            .any(|d| m.get("name").and_then(Value::as_str) == Some(d))
                    });
                }
            }
        }
    }
}

fn strip_job(obj: &mut Value) {
    const UID_LABELS: &[&str] = &["controller-uid", "batch.kubernetes.io/controller-uid"];
    let manual = obj
        .pointer("/spec/manualSelector")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if manual {
        return;
    }
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("selector");
    }
    if let Some(labels) = obj
        .pointer_mut("/spec/template/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        for l in UID_LABELS {
            labels.remove(*l);
        }
    }
}

/// Velero's restore priorities (`defaultRestorePriorities`), as qualified resource names.
const PRIORITIES: &[&str] = &[
    "customresourcedefinitions.apiextensions.k8s.io",
    "namespaces",
    "storageclasses.storage.k8s.io",
    "volumesnapshotclasses.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    "datauploads.velero.io",
    "persistentvolumes",
    "persistentvolumeclaims",
    "clusterroles.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io",
    "serviceaccounts",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "secrets",
    "configmaps",
    "limitranges",
    "priorityclasses.scheduling.k8s.io",
    "pods",
    "replicasets.apps",
    "clusterclasses.cluster.x-k8s.io",
    "endpoints",
    "services",
];

/// The sort key of a resource in a restore: Velero's priorities first, in their order, then
/// every other resource alphabetically.
pub(crate) fn restore_rank(qualified: &str) -> (usize, String) {
    match PRIORITIES.iter().position(|p| *p == qualified) {
        Some(i) => (i, String::new()),
        None => (PRIORITIES.len(), qualified.to_owned()),
    }
}

/// `resource.group` from an `apiVersion` and plural.
pub(crate) fn qualified(api_version: &str, resource: &str) -> String {
    match api_version.rsplit_once('/') {
        Some((group, _)) => format!("{resource}.{group}"),
        None => resource.to_owned(),
    }
}

/// Moves an object from namespace `from` to `to`: its own namespace, and the namespace of
/// RoleBinding subjects that pointed at `from`.
pub(crate) fn move_namespace(resource: &str, obj: &mut Value, from: &str, to: &str) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".into(), Value::String(to.to_owned()));
    }
    if from == to {
        return;
    }
    if resource == "rolebindings.rbac.authorization.k8s.io"
        && let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut)
    {
        for s in subjects {
            if s.get("namespace").and_then(Value::as_str) == Some(from)
                && let Some(s) = s.as_object_mut()
            {
                s.insert("namespace".into(), Value::String(to.to_owned()));
            }
        }
    }
}

/// Marks an object as restored from `backup`.
pub(crate) fn mark_restored(obj: &mut Value, backup: &str) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(ann) = ann.as_object_mut() {
            ann.insert(RESTORED_FROM.into(), Value::String(backup.to_owned()));
        }
    }
}

/// Copies what the server assigned to the live object into the desired one, so that a
/// replace does not try to unset immutable, server-chosen fields (a Service's cluster IPs and
/// node ports, a PVC's volume, a Job's selector, a Pod's node), and sets the live
/// `resourceVersion` for the optimistic-concurrency check.
pub(crate) fn carry_server_fields(resource: &str, desired: &mut Value, live: &Value) {
    if let Some(rv) = live.pointer("/metadata/resourceVersion").cloned()
        && let Some(meta) = desired.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("resourceVersion".into(), rv);
    }
    let copy = |desired: &mut Value, path: &str| {
        if let Some(v) = live.pointer(path).cloned()
            && desired.pointer(path).is_none()
        {
            set_pointer(desired, path, v);
        }
    };
    match resource {
        "services" => {
            for p in [
                "/spec/clusterIP",
                "/spec/clusterIPs",
                "/spec/healthCheckNodePort",
            ] {
                copy(desired, p);
            }
            let live_ports = live
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned();
            if let (Some(live_ports), Some(ports)) = (
                live_ports,
                desired
                    .pointer_mut("/spec/ports")
                    .and_then(Value::as_array_mut),
            ) {
                for p in ports {
                    if p.get("nodePort").is_some() {
                        continue;
                    }
                    let same = live_ports.iter().find(|l| {
                        l.get("port") == p.get("port")
                            && l.get("protocol").or(Some(&Value::Null))
                                == p.get("protocol").or(Some(&Value::Null))
                            || (p.get("name").is_some() && l.get("name") == p.get("name"))
                    });
                    if let (Some(n), Some(p)) = (
                        same.and_then(|l| l.get("nodePort")).cloned(),
                        p.as_object_mut(),
                    ) {
                        p.insert("nodePort".into(), n);
                    }
                }
            }
        }
        "persistentvolumeclaims" => copy(desired, "/spec/volumeName"),
        "jobs.batch" => {
            copy(desired, "/spec/selector");
            if let Some(labels) = live
                .pointer("/spec/template/metadata/labels")
                .and_then(Value::as_object)
            {
                for (k, v) in labels {
                    if k.ends_with("controller-uid")
                        || k == "job-name"
                        || k == "batch.kubernetes.io/job-name"
                    {
                        set_pointer(
                            desired,
                            &format!(
                                "/spec/template/metadata/labels/{}",
                                k.replace('~', "~0").replace('/', "~1")
                            ),
                            v.clone(),
                        );
                    }
                }
            }
        }
        "pods" => copy(desired, "/spec/nodeName"),
        _ => {}
    }
}

/// Sets a JSON pointer, creating objects on the way.
fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let mut cur = root;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, path)) = parts.split_last() else {
        return;
    };
    for p in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        cur = map
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(map) = cur.as_object_mut() {
        map.insert(last.clone(), value);
    }
}

/// The paths where two objects differ (`spec.replicas`, `data.password`), compared as a
/// restore would see them: server bookkeeping and this crate's annotation left out. Values are
/// never part of the result, so it is safe for Secrets. At most `limit` paths.
pub(crate) fn diff_paths(
    resource: &str,
    live: &Value,
    desired: &Value,
    limit: usize,
) -> Vec<String> {
    let mut a = live.clone();
    let mut b = desired.clone();
    for v in [&mut a, &mut b] {
        strip(resource, v, false);
        if let Some(ann) = v
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            ann.remove(RESTORED_FROM);
            if ann.is_empty()
                && let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut)
            {
                meta.remove("annotations");
            }
        }
    }
    let mut out = Vec::new();
    walk(&a, &b, &mut String::new(), &mut out, limit);
    out
}

fn walk(a: &Value, b: &Value, path: &mut String, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => walk(p, q, path, out, limit),
                    _ => {
                        if out.len() < limit {
                            out.push(path.clone());
                        }
                    }
                }
                path.truncate(len);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(p, q, path, out, limit);
                path.truncate(len);
            }
        }
        _ => out.push(if path.is_empty() {
            "(object)".into()
        } else {
            path.clone()
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strips_what_velero_strips() {
        let mut svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "api", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}], "generation": 1,
                "ownerReferences": [{"controller": false, "name": "x"}]},
            "spec": {"type": "NodePort", "clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"],
                "ports": [{"port": 80, "nodePort": 31234}]},
            "status": {"loadBalancer": {}}
        });
        strip("services", &mut svc, false);
        assert_eq!(
            svc,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "ns"},
                "spec": {"type": "NodePort", "ports": [{"port": 80}]}})
        );

        let applied = json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}).to_string();
        let mut pinned = json!({"metadata": {"name": "a", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}},
            "spec": {"clusterIP": "None", "ports": [{"port": 80, "nodePort": 30080}]}});
        strip("services", &mut pinned, true);
        assert_eq!(
            pinned.pointer("/spec/ports/0/nodePort"),
            Some(&json!(30080))
        );
        assert_eq!(
            pinned.pointer("/spec/clusterIP"),
            Some(&json!("None")),
            "headless kept"
        );

        let mut with_mf =
            json!({"metadata": {"name": "a", "managedFields": [{"manager": "kubectl"}]}});
        strip("configmaps", &mut with_mf, true);
        assert!(with_mf.pointer("/metadata/managedFields").is_some());

        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1",
            "volumes": [{"name": "kube-api-access-x1", "projected": {}}, {"name": "data", "emptyDir": {}}],
            "containers": [{"name": "c", "volumeMounts": [{"name": "kube-api-access-x1"}, {"name": "data"}]}]}});
        strip("pods", &mut pod, false);
        assert_eq!(
            pod.pointer("/spec/volumes")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            pod.pointer("/spec/containers/0/volumeMounts/0/name"),
            Some(&json!("data"))
        );
        assert!(pod.pointer("/spec/nodeName").is_none());

        let mut job = json!({"metadata": {"name": "j"}, "spec": {"selector": {"matchLabels": {"controller-uid": "u"}},
            "template": {"metadata": {"labels": {"controller-uid": "u", "app": "x"}}}}});
        strip("jobs.batch", &mut job, false);
        assert!(job.pointer("/spec/selector").is_none());
        assert_eq!(
            job.pointer("/spec/template/metadata/labels"),
            Some(&json!({"app": "x"}))
        );
    }

    #[test]
    fn skips_owned_and_never_restored() {
        let owned = json!({"metadata": {"name": "rs", "ownerReferences": [{"controller": true}]}});
        assert_eq!(
            skip_reason("replicasets.apps", &owned),
            Some("controller-owned")
        );
        assert_eq!(skip_reason("events", &json!({})), Some("never restored"));
        assert_eq!(
            skip_reason("pods.metrics.k8s.io", &json!({})),
            Some("never restored")
        );
        let ca = json!({"metadata": {"name": "kube-root-ca.crt"}});
        assert_eq!(
            skip_reason("configmaps", &ca),
            Some("published by the cluster")
        );
        assert_eq!(
            skip_reason("deployments.apps", &json!({"metadata": {"name": "d"}})),
            None
        );
    }

    #[test]
    fn orders_like_velero() {
        let mut rs = vec![
            "deployments.apps",
            "services",
            "secrets",
            "configmaps",
            "horizontalpodautoscalers.autoscaling",
            "serviceaccounts",
            "ingresses.networking.k8s.io",
            "persistentvolumeclaims",
        ];
        rs.sort_by_key(|r| restore_rank(r));
        assert_eq!(
            rs,
            vec![
                "persistentvolumeclaims",
                "serviceaccounts",
                "secrets",
                "configmaps",
                "services",
                "deployments.apps",
                "horizontalpodautoscalers.autoscaling",
                "ingresses.networking.k8s.io",
            ]
        );
        assert_eq!(qualified("apps/v1", "deployments"), "deployments.apps");
        assert_eq!(qualified("v1", "pods"), "pods");
    }

    #[test]
    fn moves_namespaces_and_carries_server_fields() {
        let mut rb = json!({"metadata": {"name": "r", "namespace": "a"},
            "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "a"}, {"kind": "ServiceAccount", "name": "y", "namespace": "other"}]});
        move_namespace("rolebindings.rbac.authorization.k8s.io", &mut rb, "a", "b");
        assert_eq!(rb.pointer("/metadata/namespace"), Some(&json!("b")));
        assert_eq!(rb.pointer("/subjects/0/namespace"), Some(&json!("b")));
        assert_eq!(rb.pointer("/subjects/1/namespace"), Some(&json!("other")));

        let live = json!({"metadata": {"name": "s", "resourceVersion": "42"},
            "spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"], "ports": [{"name": "http", "port": 80, "nodePort": 30001}]}});
        let mut desired =
            json!({"metadata": {"name": "s"}, "spec": {"ports": [{"name": "http", "port": 80}]}});
        carry_server_fields("services", &mut desired, &live);
        assert_eq!(
            desired.pointer("/metadata/resourceVersion"),
            Some(&json!("42"))
        );
        assert_eq!(desired.pointer("/spec/clusterIP"), Some(&json!("10.0.0.9")));
        assert_eq!(
            desired.pointer("/spec/ports/0/nodePort"),
            Some(&json!(30001))
        );
    }

    #[test]
    fn diffs_name_paths_not_values() {
        let live = json!({"metadata": {"name": "db", "uid": "1", "annotations": {RESTORED_FROM: "b0"}},
            "data": {"password": "b2xk", "user": "dQ=="}, "type": "Opaque"});
        let desired = json!({"metadata": {"name": "db"}, "data": {"password": "bmV3", "user": "dQ==", "extra": "eA=="}, "type": "Opaque"});
        let d = diff_paths("secrets", &live, &desired, 10);
        assert_eq!(d, vec!["data.extra", "data.password"]);
        assert!(!d.iter().any(|p| p.contains("bmV3") || p.contains("b2xk")));
        assert!(diff_paths("secrets", &live, &live, 10).is_empty());
        let mut marked = desired.clone();
        mark_restored(&mut marked, "b1");
        assert!(diff_paths("secrets", &desired, &marked, 10).is_empty());
    }
}
