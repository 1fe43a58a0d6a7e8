//! Conversion between served versions that share storage: autoscaling/v1 HPAs are stored as
//! autoscaling/v2, as on the real server.

use std::sync::Arc;

use serde_json::{Value, json};

use super::resources::ResourceType;
use super::store::Stored;

fn is_hpa_v1(rt: &ResourceType) -> bool {
    rt.group == "autoscaling" && rt.version == "v1"
}

/// An autoscaling/v2 HPA as autoscaling/v1 shows it.
fn hpa_to_v1(v: &Value) -> Value {
    let mut out = json!({
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v1",
        "metadata": v["metadata"],
        "spec": {
            "scaleTargetRef": v["spec"]["scaleTargetRef"],
            "maxReplicas": v["spec"]["maxReplicas"],
        },
        "status": {
            "currentReplicas": v["status"].get("currentReplicas").cloned().unwrap_or(json!(0)),
            "desiredReplicas": v["status"].get("desiredReplicas").cloned().unwrap_or(json!(0)),
        },
    });
    if let Some(m) = v["spec"].get("minReplicas") {
        out["spec"]["minReplicas"] = m.clone();
    }
    let cpu_target = v["spec"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            m["type"] == "Resource"
                && m["resource"]["name"] == "cpu"
                && m["resource"]["target"]["type"] == "Utilization"
        });
    if let Some(t) = cpu_target.and_then(|m| m["resource"]["target"].get("averageUtilization")) {
        out["spec"]["targetCPUUtilizationPercentage"] = t.clone();
    }
    let cpu_current = v["status"]["currentMetrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["type"] == "Resource" && m["resource"]["name"] == "cpu");
    if let Some(c) = cpu_current.and_then(|m| m["resource"]["current"].get("averageUtilization")) {
        out["status"]["currentCPUUtilizationPercentage"] = c.clone();
    }
    for k in ["observedGeneration", "lastScaleTime"] {
        if let Some(x) = v["status"].get(k) {
            out["status"][k] = x.clone();
        }
    }
    out
}

/// An autoscaling/v1 HPA in the stored v2 form.
fn hpa_to_v2(v: &Value) -> Value {
    let mut out = v.clone();
    out["apiVersion"] = json!("autoscaling/v2");
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(t) = spec.remove("targetCPUUtilizationPercentage")
    {
        spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": t}}}]),
            );
    }
    if let Some(status) = out.get_mut("status").and_then(Value::as_object_mut)
        && let Some(c) = status.remove("currentCPUUtilizationPercentage")
    {
        status.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": c}}}]),
            );
    }
    out
}

/// A request body in the served version `rt`, converted to the stored version.
pub(crate) fn ingest(rt: &ResourceType, v: Value) -> Value {
    if is_hpa_v1(rt) { hpa_to_v2(&v) } else { v }
}

/// A stored object as the served version `rt` shows it.
pub(crate) fn view(rt: &ResourceType, s: &Arc<Stored>) -> Arc<Stored> {
    if is_hpa_v1(rt) {
        Stored::new(hpa_to_v1(&s.value))
    } else {
        s.clone()
    }
}

/// A stored value as `rt` shows it.
pub(crate) fn view_value(rt: &ResourceType, v: &Value) -> Value {
    if is_hpa_v1(rt) {
        hpa_to_v1(v)
    } else {
        v.clone()
    }
}
