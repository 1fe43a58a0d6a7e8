//! The deployment controller: a ReplicaSet per template revision (a rollback reuses the old
//! one and makes it the newest revision), rolling and recreate strategies within `maxSurge` /
//! `maxUnavailable`, the revision history limit, and status with the `Available` and
//! `Progressing` conditions (including `ProgressDeadlineExceeded`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::cx::{Cx, controller_ref, owner_ref};
use crate::k8s::store::Stored;
use crate::k8s::util::{
    at, format_ts, i64_at, name_of, namespace_of, parse_ts, str_at, template_hash, uid_of,
};

const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
const HASH: &str = "pod-template-hash";
/// Deployment annotations that are not copied to ReplicaSets (and back on undo).
const SKIPPED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
];

fn owned_sets(cx: &Cx, d: &Value) -> Vec<Arc<Stored>> {
    let (sets, _) = cx.sh.store.list_in(cx.t.rs, Some(namespace_of(d)));
    let uid = uid_of(d);
    sets.into_iter()
        .filter(|rs| controller_ref(&rs.value).is_some_and(|(_, u)| u == uid))
        .collect()
}

/// Reconciles one deployment; returns when its progress deadline falls due.
pub(super) fn sync(
    cx: &Cx,
    d: &Arc<Stored>,
    progress_deadline: Option<Duration>,
) -> Option<Duration> {
    let d = &d.value;
    let ns = namespace_of(d).to_string();
    let dname = name_of(d).to_string();
    if at(d, &["spec", "paused"]) == Some(&Value::Bool(true)) {
        let _ = cx.sh.store.modify_in(cx.t.deploy, &ns, &dname, |v| {
            v["status"]["observedGeneration"] = v["metadata"]["generation"].clone();
        });
        return None;
    }
    let replicas = i64_at(d, &["spec", "replicas"], 1);
    let template = d["spec"]["template"].clone();
    let mut sets = owned_sets(cx, d);
    let max_revision = sets.iter().map(|rs| revision(&rs.value)).max().unwrap_or(0);
    let new_pos = sets
        .iter()
        .position(|rs| same_template(&rs.value["spec"]["template"], &template));
    let (surge, unavailable) = rolling_params(d, replicas);
    let mut created_new = false;
    let new_rs = match new_pos {
        Some(i) => {
            let rs = sets.remove(i);
            let rev = revision(&rs.value);
            if rev < max_revision {
                // Rolling back to an older template: it becomes the newest revision.
                let next = max_revision + 1;
                let updated = cx
                    .sh
                    .store
                    .modify_in(cx.t.rs, &ns, name_of(&rs.value), |v| {
                        let ann = &mut v["metadata"]["annotations"];
                        let mut history: Vec<String> = ann[REVISION_HISTORY]
                            .as_str()
                            .filter(|h| !h.is_empty())
                            .map(|h| h.split(',').map(String::from).collect())
                            .unwrap_or_default();
                        history.push(rev.to_string());
                        ann[REVISION_HISTORY] = json!(history.join(","));
                        ann[REVISION] = json!(next.to_string());
                        copy_annotations(d, v);
                    });
                updated.unwrap_or(rs)
            } else {
                rs
            }
        }
        None => {
            let mut tpl = template.clone();
            let hash = template_hash(&tpl);
            tpl["metadata"]["labels"][HASH] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"][HASH] = json!(hash);
            let mut rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{dname}-{hash}"),
                    "namespace": ns,
                    "labels": tpl["metadata"]["labels"],
                    "annotations": {
                        REVISION: (max_revision + 1).to_string(),
                        DESIRED: replicas.to_string(),
                        MAX: (replicas + surge).to_string(),
                    },
                    "ownerReferences": [owner_ref(d, "apps/v1", "Deployment")],
                },
                "spec": {
                    "replicas": 0,
                    "minReadySeconds": d["spec"].get("minReadySeconds").cloned().unwrap_or(json!(0)),
                    "selector": selector,
                    "template": tpl,
                },
            });
            copy_annotations(d, &mut rs);
            match cx.sh.store.create(cx.t.rs, &ns, rs, false) {
                Ok(s) => {
                    created_new = true;
                    s
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fake cluster could not create a ReplicaSet");
                    return None;
                }
            }
        }
    };
    let new_name = name_of(&new_rs.value).to_string();
    let new_rev = revision(&new_rs.value);
    if str_at(d, &["metadata", "annotations", REVISION]) != Some(new_rev.to_string().as_str()) {
        let _ = cx.sh.store.modify_in(cx.t.deploy, &ns, &dname, |v| {
            v["metadata"]["annotations"][REVISION] = json!(new_rev.to_string());
        });
    }
    // Scale.
    let strategy = str_at(d, &["spec", "strategy", "type"]).unwrap_or("RollingUpdate");
    let spec_replicas = |rs: &Value| i64_at(rs, &["spec", "replicas"], 0);
    let status_of = |rs: &Value, f: &str| i64_at(rs, &["status", f], 0);
    let old_active: Vec<&Arc<Stored>> = sets
        .iter()
        .filter(|rs| spec_replicas(&rs.value) > 0 || status_of(&rs.value, "replicas") > 0)
        .collect();
    let mut scale_to: Vec<(String, i64, i64)> = Vec::new();
    let new_spec = spec_replicas(&new_rs.value);
    if strategy == "Recreate" {
        if old_active.iter().any(|rs| spec_replicas(&rs.value) > 0) {
            for rs in &old_active {
                scale_to.push((name_of(&rs.value).into(), spec_replicas(&rs.value), 0));
            }
        } else if old_active.is_empty() && new_spec != replicas {
            scale_to.push((new_name.clone(), new_spec, replicas));
        }
    } else if old_active.iter().all(|rs| spec_replicas(&rs.value) == 0) {
        if new_spec != replicas {
            scale_to.push((new_name.clone(), new_spec, replicas));
        }
    } else {
        let total: i64 = sets.iter().map(|rs| spec_replicas(&rs.value)).sum::<i64>() + new_spec;
        let max_total = replicas + surge;
        let mut new_target = new_spec;
        if total < max_total {
            new_target = (new_spec + (max_total - total)).min(replicas);
        } else if new_spec > replicas {
            new_target = replicas;
        }
        if new_target != new_spec {
            scale_to.push((new_name.clone(), new_spec, new_target));
        }
        let min_available = replicas - unavailable;
        let available: i64 = sets
            .iter()
            .map(|rs| status_of(&rs.value, "availableReplicas"))
            .sum::<i64>()
            + status_of(&new_rs.value, "availableReplicas");
        let new_unavailable = (new_spec - status_of(&new_rs.value, "availableReplicas")).max(0);
        let all_pods: i64 = total;
        // As the real controller does, a pass that scaled the new ReplicaSet up scales
        // nothing down; the next pass sees the new counts.
        let mut budget = if new_target != new_spec {
            0
        } else {
            all_pods - min_available - new_unavailable
        };
        // Old replicas that are not available go first, then available ones down to the
        // minimum availability.
        let mut old_sorted: Vec<&Arc<Stored>> = old_active.clone();
        old_sorted.sort_by_key(|rs| revision(&rs.value));
        let mut planned: HashMap<String, i64> = HashMap::new();
        for rs in &old_sorted {
            if budget <= 0 {
                break;
            }
            let cur = spec_replicas(&rs.value);
            let unhealthy = (cur - status_of(&rs.value, "availableReplicas")).max(0);
            let cut = unhealthy.min(budget);
            if cut > 0 {
                planned.insert(name_of(&rs.value).into(), cur - cut);
                budget -= cut;
            }
        }
        // Never below the budget left after the unhealthy cleanup: with `maxUnavailable`
        // pods, a status that lags a scale-down must not cause a second one.
        let mut scale_down = (available - min_available).max(0).min(budget.max(0));
        for rs in &old_sorted {
            if scale_down <= 0 {
                break;
            }
            let cur = planned
                .get(name_of(&rs.value))
                .copied()
                .unwrap_or_else(|| spec_replicas(&rs.value));
            let cut = cur.min(scale_down);
            if cut > 0 {
                planned.insert(name_of(&rs.value).into(), cur - cut);
                scale_down -= cut;
            }
        }
        for rs in &old_sorted {
            if let Some(target) = planned.get(name_of(&rs.value)) {
                scale_to.push((name_of(&rs.value).into(), spec_replicas(&rs.value), *target));
            }
        }
    }
    for (rs_name, from, to) in &scale_to {
        let res = cx.sh.store.modify_in(cx.t.rs, &ns, rs_name, |v| {
            v["spec"]["replicas"] = json!(to);
            v["metadata"]["annotations"][DESIRED] = json!(replicas.to_string());
            v["metadata"]["annotations"][MAX] = json!((replicas + surge).to_string());
        });
        if res.is_ok() {
            let verb = if to > from { "up" } else { "down" };
            cx.event(
                d,
                "Deployment",
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled {verb} replica set {rs_name} from {from} to {to}"),
                "deployment-controller",
                None,
            );
        }
    }
    // Old revisions beyond the history limit.
    let limit = i64_at(d, &["spec", "revisionHistoryLimit"], 10).max(0) as usize;
    let mut idle: Vec<&Arc<Stored>> = sets
        .iter()
        .filter(|rs| spec_replicas(&rs.value) == 0 && status_of(&rs.value, "replicas") == 0)
        .collect();
    if idle.len() > limit {
        idle.sort_by_key(|rs| revision(&rs.value));
        for rs in &idle[..idle.len() - limit] {
            let _ = cx
                .sh
                .store
                .delete_in(cx.t.rs, &ns, name_of(&rs.value), None, false);
        }
    }
    // Status.
    let sets = owned_sets(cx, d);
    let sum = |f: &str| sets.iter().map(|rs| status_of(&rs.value, f)).sum::<i64>();
    let new_now = sets.iter().find(|rs| name_of(&rs.value) == new_name);
    let updated = new_now.map_or(0, |rs| status_of(&rs.value, "replicas"));
    let total_spec: i64 = sets.iter().map(|rs| spec_replicas(&rs.value)).sum();
    let (status_replicas, ready, available) = (
        sum("replicas"),
        sum("readyReplicas"),
        sum("availableReplicas"),
    );
    let unavailable_count = (total_spec - available).max(0);
    let deadline = match progress_deadline {
        Some(d) => d,
        None => {
            Duration::from_secs(i64_at(d, &["spec", "progressDeadlineSeconds"], 600).max(0) as u64)
        }
    };
    let mut due = None;
    let now = jiff::Timestamp::now();
    let now_s = format_ts(now);
    let complete = updated == replicas && status_replicas == replicas && available == replicas;
    let _ = cx.sh.store.modify_in(cx.t.deploy, &ns, &dname, |v| {
            let old_status = v["status"].clone();
            let mut st = json!({"observedGeneration": v["metadata"]["generation"], "replicas": status_replicas});
            let mut put = |k: &str, n: i64| {
                if n > 0 {
                    st[k] = json!(n);
                }
            };
            put("updatedReplicas", updated);
            put("readyReplicas", ready);
            put("availableReplicas", available);
            put("unavailableReplicas", unavailable_count);
            // Pods are removed at once here, so none is ever terminating.
            st["terminatingReplicas"] = json!(0);
            let old_conds = old_status["conditions"].as_array().cloned().unwrap_or_default();
            let old_cond = |t: &str| old_conds.iter().find(|c| c["type"] == t).cloned();
            let counts_changed = ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"]
                .iter()
                .any(|k| old_status.get(*k) != st.get(*k));
            let cond = |t: &str, status: &str, reason: &str, message: String, progressed: bool| {
                let old = old_cond(t);
                let same = old.as_ref().is_some_and(|o| o["status"] == status && o["reason"] == reason && o["message"] == message.as_str());
                let transition = match &old {
                    Some(o) if o["status"] == status => o["lastTransitionTime"].clone(),
                    _ => json!(now_s),
                };
                let update = match &old {
                    Some(o) if same && !progressed => o["lastUpdateTime"].clone(),
                    _ => json!(now_s),
                };
                json!({"type": t, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
            };
            let available_cond = if available >= replicas - unavailable {
                cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.".into(), false)
            } else {
                cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".into(), false)
            };
            let prev = old_cond("Progressing");
            let prev_reason = prev.as_ref().and_then(|p| p["reason"].as_str().map(String::from)).unwrap_or_default();
            let prev_msg_rs = prev.as_ref().and_then(|p| p["message"].as_str()).is_some_and(|m| m.contains(&format!("\"{new_name}\"")));
            let progressing = if complete {
                cond("Progressing", "True", "NewReplicaSetAvailable", format!("ReplicaSet \"{new_name}\" has successfully progressed."), false)
            } else if created_new {
                cond("Progressing", "True", "NewReplicaSetCreated", format!("Created new replica set \"{new_name}\""), true)
            } else if prev_reason == "ProgressDeadlineExceeded" && prev_msg_rs {
                prev.clone().unwrap_or(Value::Null)
            } else {
                let last_update = prev
                    .as_ref()
                    .filter(|_| prev_msg_rs && !counts_changed && prev_reason != "NewReplicaSetAvailable")
                    .and_then(|p| parse_ts(p.get("lastUpdateTime")));
                match last_update {
                    Some(t) => {
                        let elapsed = Duration::try_from(now.duration_since(t)).unwrap_or_default();
                        if elapsed >= deadline {
                            cond(
                                "Progressing",
                                "False",
                                "ProgressDeadlineExceeded",
                                format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                                true,
                            )
                        } else {
                            due = Some(deadline - elapsed + Duration::from_millis(50));
                            prev.clone().unwrap_or(Value::Null)
                        }
                    }
                    None => {
                        due = Some(deadline + Duration::from_millis(50));
                        cond("Progressing", "True", "ReplicaSetUpdated", format!("ReplicaSet \"{new_name}\" is progressing."), true)
                    }
                }
            };
            st["conditions"] = json!([available_cond, progressing]);
            v["status"] = st;
        });
    due
}

fn revision(rs: &Value) -> i64 {
    str_at(rs, &["metadata", "annotations", REVISION])
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn same_template(rs_template: &Value, template: &Value) -> bool {
    let mut a = rs_template.clone();
    if let Some(labels) = a["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH);
        if labels.is_empty() {
            a["metadata"].as_object_mut().map(|m| m.remove("labels"));
        }
    }
    a == *template
}

fn copy_annotations(d: &Value, rs: &mut Value) {
    if let Some(ann) = d["metadata"]["annotations"].as_object() {
        for (k, v) in ann {
            if !SKIPPED_ANNOTATIONS.contains(&k.as_str()) {
                rs["metadata"]["annotations"][k] = v.clone();
            }
        }
    }
}

/// Resolves an int-or-percent against `total`.
fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => {
                let x = p * total;
                if round_up { (x + 99) / 100 } else { x / 100 }
            }
            None => s.parse().unwrap_or(default),
        },
        _ => default,
    }
}

/// (maxSurge, maxUnavailable) of a rolling deployment.
fn rolling_params(d: &Value, replicas: i64) -> (i64, i64) {
    if str_at(d, &["spec", "strategy", "type"]) == Some("Recreate") {
        return (0, replicas);
    }
    let ru = at(d, &["spec", "strategy", "rollingUpdate"]);
    let surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), replicas, true, 1);
    let mut unavailable =
        int_or_percent(ru.and_then(|r| r.get("maxUnavailable")), replicas, false, 0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_like_the_controller() {
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, true, 0), 1);
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, false, 0), 0);
        assert_eq!(int_or_percent(Some(&json!(2)), 3, false, 0), 2);
        let d = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}});
        assert_eq!(rolling_params(&d, 3), (0, 1));
    }

    #[test]
    fn template_match_ignores_hash_label() {
        let t = json!({"metadata": {"labels": {"app": "a"}}, "spec": {}});
        let rs = json!({"metadata": {"labels": {"app": "a", HASH: "x"}}, "spec": {}});
        assert!(same_template(&rs, &t));
    }
}
