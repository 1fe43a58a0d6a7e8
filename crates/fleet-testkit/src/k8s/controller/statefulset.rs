//! The StatefulSet controller: pods with a stable identity `<set>-<ordinal>` (hostname,
//! subdomain and the `statefulset.kubernetes.io/pod-name` / `apps.kubernetes.io/pod-index`
//! labels), re-created under the same name when deleted or failed, one claim per
//! `volumeClaimTemplates` entry (`<template>-<set>-<ordinal>`, provisioned and bound at once and
//! kept when the pod goes), a ControllerRevision per template (`<set>-<hash>`), rolling updates
//! from the highest ordinal down to the partition, one pod at a time, and `OrderedReady`
//! creation (each pod waits for the one before it to be Running and Ready) or `Parallel`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::cx::{Cx, controller_ref, owner_ref, pod_ready};
use crate::k8s::store::Stored;
use crate::k8s::util::{at, i64_at, name_of, namespace_of, str_at, template_hash, uid_of};

const REVISION_LABEL: &str = "controller-revision-hash";
const HASH_LABEL: &str = "controller.kubernetes.io/hash";
const POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX: &str = "apps.kubernetes.io/pod-index";

/// The ordinal of a pod of set `set`, from its name.
fn ordinal_of(set: &str, pod: &str) -> Option<i64> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn revision_number(r: &Value) -> i64 {
    i64_at(r, &["revision"], 0)
}

fn running_and_ready(p: &Value) -> bool {
    str_at(p, &["status", "phase"]) == Some("Running") && pod_ready(p)
}

/// The ControllerRevision for the set's current template, created (or, for a template seen
/// before, renumbered as the newest) as needed; returns its name and template.
fn update_revision(cx: &Cx, set: &Value, revisions: &[Arc<Stored>]) -> Option<String> {
    let (ns, name) = (namespace_of(set), name_of(set));
    let template = &set["spec"]["template"];
    let hash = template_hash(template);
    let rev_name = format!("{name}-{hash}");
    let newest = revisions
        .iter()
        .map(|r| revision_number(&r.value))
        .max()
        .unwrap_or(0);
    if let Some(existing) = revisions.iter().find(|r| name_of(&r.value) == rev_name) {
        if revision_number(&existing.value) < newest {
            let _ = cx.sh.store.modify_in(cx.t.revisions, ns, &rev_name, |v| {
                v["revision"] = json!(newest + 1);
            });
        }
        return Some(rev_name);
    }
    let mut data_template = template.clone();
    data_template["$patch"] = json!("replace");
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels[HASH_LABEL] = json!(hash);
    let rev = json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": rev_name,
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [owner_ref(set, "apps/v1", "StatefulSet")],
        },
        "data": {"spec": {"template": data_template}},
        "revision": newest + 1,
    });
    match cx.sh.store.create(cx.t.revisions, ns, rev, false) {
        Ok(_) => Some(rev_name),
        Err(e) => {
            tracing::debug!(error = %e, "fake cluster could not create a ControllerRevision");
            None
        }
    }
}

/// The pod template of a revision (its stored data), or the set's own template.
fn template_of(set: &Value, revisions: &[Arc<Stored>], rev_name: &str) -> Value {
    revisions
        .iter()
        .find(|r| name_of(&r.value) == rev_name)
        .and_then(|r| at(&r.value, &["data", "spec", "template"]).cloned())
        .map(|mut t| {
            if let Some(m) = t.as_object_mut() {
                m.remove("$patch");
            }
            t
        })
        .unwrap_or_else(|| set["spec"]["template"].clone())
}

/// The claims of one pod, created (bound at once, as by a dynamic provisioner) when missing.
fn ensure_claims(cx: &Cx, set: &Value, pod_name: &str, ordinal: i64) -> Vec<Value> {
    let (ns, set_name) = (namespace_of(set), name_of(set));
    let mut volumes = Vec::new();
    for tpl in set["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let tpl_name = name_of(tpl);
        let claim = format!("{tpl_name}-{set_name}-{ordinal}");
        volumes.push(json!({"name": tpl_name, "persistentVolumeClaim": {"claimName": claim}}));
        if cx.sh.store.get_in(cx.t.pvcs, ns, &claim).is_some() {
            continue;
        }
        let mut labels = tpl["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        for (k, v) in set["spec"]["selector"]["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
        {
            labels[k] = v.clone();
        }
        let spec = tpl["spec"].clone();
        let pvc = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": ns, "labels": labels},
            "spec": spec,
        });
        match cx.sh.store.create(cx.t.pvcs, ns, pvc, false) {
            Ok(created) => {
                let volume = format!("pvc-{}", uid_of(&created.value));
                let storage = str_at(
                    &created.value,
                    &["spec", "resources", "requests", "storage"],
                )
                .unwrap_or("1Gi")
                .to_string();
                let modes = created.value["spec"]["accessModes"].clone();
                let _ = cx.sh.store.modify_in(cx.t.pvcs, ns, &claim, |v| {
                    v["spec"]["volumeName"] = json!(volume);
                    v["status"] = json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}});
                });
                cx.event(
                    set,
                    "StatefulSet",
                    "Normal",
                    "SuccessfulCreate",
                    &format!(
                        "create Claim {claim} Pod {pod_name} in StatefulSet {set_name} success"
                    ),
                    "statefulset-controller",
                    None,
                );
            }
            Err(e) => tracing::debug!(error = %e, "fake cluster could not create a claim"),
        }
    }
    volumes
}

fn create_pod(cx: &Cx, set: &Value, template: &Value, rev_name: &str, ordinal: i64) {
    let (ns, set_name) = (namespace_of(set), name_of(set));
    let pod_name = format!("{set_name}-{ordinal}");
    let mut meta = template["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    meta["name"] = json!(pod_name);
    meta["namespace"] = json!(ns);
    meta["labels"][POD_NAME] = json!(pod_name);
    meta["labels"][POD_INDEX] = json!(ordinal.to_string());
    meta["labels"][REVISION_LABEL] = json!(rev_name);
    meta["ownerReferences"] = json!([owner_ref(set, "apps/v1", "StatefulSet")]);
    let mut spec = template["spec"].clone();
    spec["hostname"] = json!(pod_name);
    if let Some(svc) = str_at(set, &["spec", "serviceName"]).filter(|s| !s.is_empty()) {
        spec["subdomain"] = json!(svc);
    }
    let claims = ensure_claims(cx, set, &pod_name, ordinal);
    if !claims.is_empty() {
        let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        let mut all: Vec<Value> = claims;
        all.extend(volumes.into_iter().filter(|v| {
            !set["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| name_of(t) == v["name"].as_str().unwrap_or(""))
        }));
        spec["volumes"] = Value::Array(all);
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
    match cx.sh.store.create(cx.t.pods, ns, pod, false) {
        Ok(_) => cx.event(
            set,
            "StatefulSet",
            "Normal",
            "SuccessfulCreate",
            &format!("create Pod {pod_name} in StatefulSet {set_name} successful"),
            "statefulset-controller",
            None,
        ),
        Err(e) => tracing::debug!(error = %e, "fake cluster could not create a StatefulSet pod"),
    }
}

fn delete_pod(cx: &Cx, set: &Value, pod: &Value) {
    let (ns, pod_name) = (namespace_of(pod), name_of(pod));
    if cx
        .sh
        .store
        .delete_in(cx.t.pods, ns, pod_name, None, false)
        .is_ok()
    {
        cx.event(
            set,
            "StatefulSet",
            "Normal",
            "SuccessfulDelete",
            &format!(
                "delete Pod {pod_name} in StatefulSet {} successful",
                name_of(set)
            ),
            "statefulset-controller",
            None,
        );
    }
}

/// Reconciles every StatefulSet.
pub(super) fn sync_all(cx: &Cx) {
    let (sets, _) = cx.sh.store.list_in(cx.t.sts, None);
    if sets.is_empty() {
        return;
    }
    let (pods, _) = cx.sh.store.list_in(cx.t.pods, None);
    let (revisions, _) = cx.sh.store.list_in(cx.t.revisions, None);
    for set in &sets {
        let set = &set.value;
        let (ns, name, uid) = (namespace_of(set), name_of(set), uid_of(set));
        let owned = |v: &Value| controller_ref(v).is_some_and(|(_, u)| u == uid);
        let mine: Vec<Arc<Stored>> = revisions
            .iter()
            .filter(|r| owned(&r.value))
            .cloned()
            .collect();
        let selector = crate::k8s::selector::LabelSelector::from_spec(&set["spec"]["selector"]);
        let mut by_ordinal: HashMap<i64, &Value> = HashMap::new();
        for p in pods.iter().filter(|p| namespace_of(&p.value) == ns) {
            let p = &p.value;
            let Some(ord) = ordinal_of(name, name_of(p)) else {
                continue;
            };
            if owned(p) {
                by_ordinal.insert(ord, p);
            } else if controller_ref(p).is_none() && selector.matches(p) {
                // An orphan with our name and labels: adopt it, as the real controller does.
                let owner = owner_ref(set, "apps/v1", "StatefulSet");
                let _ = cx.sh.store.modify_in(cx.t.pods, ns, name_of(p), |v| {
                    v["metadata"]["ownerReferences"] = json!([owner.clone()]);
                });
            }
        }
        sync(cx, set, &mine, &by_ordinal);
    }
}

fn sync(cx: &Cx, set: &Value, revisions: &[Arc<Stored>], pods: &HashMap<i64, &Value>) {
    let Some(update_rev) = update_revision(cx, set, revisions) else {
        return;
    };
    // Re-read the revisions the call above may have created.
    let (all_revs, _) = cx.sh.store.list_in(cx.t.revisions, Some(namespace_of(set)));
    let revisions: Vec<Arc<Stored>> = all_revs
        .into_iter()
        .filter(|r| controller_ref(&r.value).is_some_and(|(_, u)| u == uid_of(set)))
        .collect();
    let current_rev = str_at(set, &["status", "currentRevision"])
        .filter(|r| !r.is_empty())
        .unwrap_or(&update_rev)
        .to_string();
    let replicas = i64_at(set, &["spec", "replicas"], 1).max(0);
    let start = i64_at(set, &["spec", "ordinals", "start"], 0).max(0);
    let parallel = str_at(set, &["spec", "podManagementPolicy"]) == Some("Parallel");
    let strategy = str_at(set, &["spec", "updateStrategy", "type"]).unwrap_or("RollingUpdate");
    let partition = i64_at(
        set,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
        0,
    );
    let wanted = start..start + replicas;
    let rev_of = |p: &Value| {
        str_at(p, &["metadata", "labels", REVISION_LABEL])
            .unwrap_or("")
            .to_string()
    };

    // Failed pods go; they come back below under the same name.
    for (ord, p) in pods {
        if wanted.contains(ord) && str_at(p, &["status", "phase"]) == Some("Failed") {
            delete_pod(cx, set, p);
        }
    }
    let alive = |ord: &i64| {
        pods.get(ord)
            .filter(|p| str_at(p, &["status", "phase"]) != Some("Failed"))
    };
    // Missing ordinals, lowest first; OrderedReady waits for each to be Running and Ready.
    let mut changed = false;
    for ord in wanted.clone() {
        match alive(&ord) {
            Some(p) => {
                if !parallel && !running_and_ready(p) {
                    break;
                }
            }
            None => {
                let rev = if strategy == "RollingUpdate" && ord < partition {
                    current_rev.clone()
                } else {
                    update_rev.clone()
                };
                let template = template_of(set, &revisions, &rev);
                create_pod(cx, set, &template, &rev, ord);
                changed = true;
                if !parallel {
                    break;
                }
            }
        }
    }
    // Scale down, highest ordinal first (one at a time unless Parallel).
    if !changed {
        let mut extra: Vec<(&i64, &&Value)> =
            pods.iter().filter(|(o, _)| !wanted.contains(o)).collect();
        extra.sort_by_key(|(o, _)| std::cmp::Reverse(**o));
        for (_, p) in extra {
            delete_pod(cx, set, p);
            changed = true;
            if !parallel {
                break;
            }
        }
    }
    // Rolling update: with every pod up and ready, replace the highest outdated one.
    let all_ready = wanted
        .clone()
        .all(|o| alive(&o).is_some_and(|p| running_and_ready(p)));
    if !changed && strategy == "RollingUpdate" && all_ready {
        let outdated = wanted
            .clone()
            .rev()
            .filter(|o| *o >= partition)
            .find_map(|o| alive(&o).filter(|p| rev_of(p) != update_rev));
        if let Some(p) = outdated {
            delete_pod(cx, set, p);
        }
    }
    // Status, from the pods as they are now.
    let (now, _) = cx.sh.store.list_in(cx.t.pods, Some(namespace_of(set)));
    let ours: Vec<&Value> = now
        .iter()
        .map(|p| &p.value)
        .filter(|p| controller_ref(p).is_some_and(|(_, u)| u == uid_of(set)))
        .collect();
    let count = |f: &dyn Fn(&Value) -> bool| ours.iter().filter(|p| f(p)).count() as i64;
    let ready = count(&|p| running_and_ready(p));
    let updated = count(&|p| rev_of(p) == update_rev);
    let mut current = count(&|p| rev_of(p) == current_rev);
    let mut current_name = current_rev.clone();
    if updated == replicas && ready == replicas && ours.len() as i64 == replicas {
        current_name = update_rev.clone();
        current = updated;
    }
    let generation = set["metadata"]["generation"].clone();
    let _ = cx
        .sh
        .store
        .modify_in(cx.t.sts, namespace_of(set), name_of(set), |v| {
            let mut st = json!({
                "observedGeneration": generation,
                "replicas": ours.len(),
                "currentRevision": current_name,
                "updateRevision": update_rev,
                "collisionCount": 0,
                "availableReplicas": ready,
            });
            for (k, n) in [
                ("readyReplicas", ready),
                ("currentReplicas", current),
                ("updatedReplicas", updated),
            ] {
                if n > 0 {
                    st[k] = json!(n);
                }
            }
            v["status"] = st;
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_parse_from_names() {
        assert_eq!(ordinal_of("fleet-postgres", "fleet-postgres-0"), Some(0));
        assert_eq!(ordinal_of("fleet-postgres", "fleet-postgres-12"), Some(12));
        assert_eq!(ordinal_of("fleet-postgres", "fleet-postgres-x"), None);
        assert_eq!(ordinal_of("fleet", "fleet-postgres-0"), None);
    }
}
