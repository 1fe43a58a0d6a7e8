//! What a current kubelet reports besides container states: observed generations, resources
//! per container and for the pod, mounted volumes and the container user.

use serde_json::{Value, json};

use crate::k8s::util::{at, i64_at, sum_resources};

/// Adds what a current kubelet reports besides states: observed generations, resources per
/// container and for the pod, mounted volumes and the container user.
pub(super) fn decorate_pod_status(pod: &Value, status: &mut Value) {
    // Static (mirror) pods are reported without generations and mounted volumes.
    let mirror = at(
        pod,
        &["metadata", "annotations", "kubernetes.io/config.mirror"],
    )
    .is_some();
    let generation = pod["metadata"]["generation"].clone();
    if !mirror {
        status["observedGeneration"] = generation.clone();
    }
    if let Some(conds) = status["conditions"].as_array_mut().filter(|_| !mirror) {
        for c in conds {
            if let Some(m) = c.as_object_mut() {
                // Keep the real key order: type, observedGeneration, status, ...
                let rest = std::mem::take(m);
                for (k, v) in rest {
                    m.insert(k.clone(), v);
                    if k == "type" {
                        m.insert("observedGeneration".into(), generation.clone());
                    }
                }
            }
        }
    }
    status["qosClass"] = json!(crate::k8s::defaults::qos_class(&pod["spec"]));
    let containers: Vec<&Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if let Some(statuses) = status["containerStatuses"].as_array_mut() {
        for cs in statuses {
            let Some(spec) = containers.iter().find(|c| c["name"] == cs["name"]) else {
                continue;
            };
            let resources = spec.get("resources").cloned().unwrap_or(json!({}));
            if let Some(req) = resources
                .get("requests")
                .filter(|r| r.as_object().is_some_and(|m| !m.is_empty()))
            {
                cs["allocatedResources"] = req.clone();
            }
            cs["resources"] = resources;
            if let Some(mounts) = spec["volumeMounts"].as_array().filter(|_| !mirror) {
                cs["volumeMounts"] = mounts
                    .iter()
                    .map(|m| {
                        let mut out = json!({"name": m["name"], "mountPath": m["mountPath"]});
                        if m["readOnly"] == true {
                            out["readOnly"] = json!(true);
                            out["recursiveReadOnly"] = json!("Disabled");
                        }
                        out
                    })
                    .collect();
            }
            let uid = i64_at(
                spec,
                &["securityContext", "runAsUser"],
                i64_at(pod, &["spec", "securityContext", "runAsUser"], 0),
            );
            let gid = i64_at(
                spec,
                &["securityContext", "runAsGroup"],
                i64_at(pod, &["spec", "securityContext", "runAsGroup"], 0),
            );
            cs["user"] = json!({"linux": {"uid": uid, "gid": gid, "supplementalGroups": [gid]}});
        }
    }
    let pick = |k: &str| -> Vec<&Value> {
        containers
            .iter()
            .filter_map(|c| c["resources"].get(k))
            .filter(|m| m.as_object().is_some_and(|m| !m.is_empty()))
            .collect()
    };
    let (requests, limits) = (pick("requests"), pick("limits"));
    let mut pod_resources = json!({});
    if !limits.is_empty() {
        pod_resources["limits"] = sum_resources(&limits);
    }
    if !requests.is_empty() {
        let total = sum_resources(&requests);
        status["allocatedResources"] = total.clone();
        pod_resources["requests"] = total;
    }
    status["resources"] = pod_resources;
}
