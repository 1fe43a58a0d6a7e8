//! The HorizontalPodAutoscaler controller (autoscaling/v2 status): reads the target's scale,
//! computes each Resource / ContainerResource metric from the usage metrics.k8s.io serves
//! (Running, Ready pods only; utilization against the pods' requests, or an average value),
//! proposes `ceil(ratio x ready pods)` outside the 10 % tolerance, stabilizes the proposal over
//! the behavior's windows (scale-down 300 s by default), limits it by the behavior's policies
//! and by min/max, and reports `currentReplicas`, `desiredReplicas`, `currentMetrics` and the
//! `AbleToScale` / `ScalingActive` / `ScalingLimited` conditions with the real reasons.
//!
//! It changes the target's replicas only when the cluster is told to
//! ([`FakeCluster::set_autoscaling`](crate::k8s::FakeCluster::set_autoscaling)): by default
//! tests scale deployments by hand without an autoscaler undoing it, and the status says what
//! the autoscaler would do. Pods, Object and External metrics need a custom metrics API, which
//! the fake does not serve; they are reported as not available, as on a cluster without one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cx::{Cx, pod_ready};
use crate::k8s::metrics::container_usage;
use crate::k8s::resources::ResourceType;
use crate::k8s::selector::LabelSelector;
use crate::k8s::util::{at, i64_at, name_of, namespace_of, now_rfc3339, parse_quantity, str_at};

const TOLERANCE: f64 = 0.1;

/// The HPA controller's memory: recent recommendations per HPA, for stabilization.
#[derive(Default)]
pub(super) struct Autoscaler {
    recommendations: HashMap<String, Vec<(Instant, i64)>>,
}

/// One metric's outcome: the proposed replica count, the `currentMetrics` entry and the name
/// the conditions and events use.
struct Proposal {
    replicas: i64,
    status: Value,
    name: String,
}

/// A quantity in milli-units written as the API server canonicalizes it (`88m`, `107374k`).
fn milli_quantity(milli: i64) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let mut n = milli / 1000;
    let mut suffix = "";
    for s in ["k", "M", "G", "T", "P", "E"] {
        if n != 0 && n % 1000 == 0 {
            n /= 1000;
            suffix = s;
        } else {
            break;
        }
    }
    format!("{n}{suffix}")
}

/// Usage and request of `resource` in milli-units for one pod (one container when `only` names
/// it); an error names a container without a request.
fn pod_usage(
    cx: &Cx,
    pod: &Value,
    resource: &str,
    only: Option<&str>,
) -> Result<(i64, i64), String> {
    let (ns, name) = (namespace_of(pod), name_of(pod));
    let mut usage = 0i64;
    let mut request = 0i64;
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        let cname = c["name"].as_str().unwrap_or("");
        if only.is_some_and(|o| o != cname) {
            continue;
        }
        let (cpu, mem) = container_usage(&cx.sh, ns, name, c);
        usage += match resource {
            "cpu" => cpu as i64,
            _ => (mem as i64) * 1024 * 1024 * 1000,
        };
        match c["resources"]["requests"][resource]
            .as_str()
            .and_then(parse_quantity)
        {
            Some(q) => request += (q * 1000.0).round() as i64,
            None => {
                return Err(format!(
                    "missing request for {resource} in container {cname} of Pod {name}"
                ));
            }
        }
    }
    Ok((usage, request))
}

/// A Resource or ContainerResource metric.
fn resource_metric(
    cx: &Cx,
    spec: &Value,
    pods: &[&Value],
    current: i64,
) -> Result<Proposal, (String, String)> {
    let ty = spec["type"].as_str().unwrap_or("");
    let key = if ty == "Resource" {
        "resource"
    } else {
        "containerResource"
    };
    let s = &spec[key];
    let resource = s["name"].as_str().unwrap_or("");
    let container = s["container"].as_str();
    let fail = |msg: String| {
        (
            "FailedGetResourceMetric".to_string(),
            format!(
                "the HPA was unable to compute the replica count: failed to get {resource} utilization: {msg}"
            ),
        )
    };
    if !matches!(resource, "cpu" | "memory") {
        return Err(fail(format!(
            "unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
        )));
    }
    let ready: Vec<&&Value> = pods
        .iter()
        .filter(|p| str_at(p, &["status", "phase"]) == Some("Running") && pod_ready(p))
        .collect();
    if ready.is_empty() {
        return Err(fail(
            "did not receive metrics for targeted pods (pods might be unready)".into(),
        ));
    }
    let mut total_usage = 0i64;
    let mut total_request = 0i64;
    for p in &ready {
        let (u, r) = pod_usage(cx, p, resource, container).map_err(fail)?;
        total_usage += u;
        total_request += r;
    }
    let n = ready.len() as i64;
    let average = total_usage / n;
    let target = &s["target"];
    let (ratio, current_status, name) = match target["averageUtilization"].as_i64() {
        Some(t) if target["type"] != "AverageValue" => {
            if total_request == 0 {
                return Err(fail(format!("missing request for {resource}")));
            }
            let utilization = total_usage * 100 / total_request;
            (
                utilization as f64 / t as f64,
                json!({"averageUtilization": utilization, "averageValue": milli_quantity(average)}),
                format!("{resource} resource utilization (percentage of request)"),
            )
        }
        _ => {
            let t = target["averageValue"]
                .as_str()
                .and_then(parse_quantity)
                .map(|q| (q * 1000.0).round() as i64)
                .filter(|t| *t > 0)
                .ok_or_else(|| fail("the target has no average value".into()))?;
            (
                total_usage as f64 / (t as f64 * n as f64),
                json!({"averageValue": milli_quantity(average)}),
                format!("{resource} resource"),
            )
        }
    };
    let replicas = if (ratio - 1.0).abs() <= TOLERANCE {
        current
    } else {
        (ratio * n as f64).ceil() as i64
    };
    let mut metric = json!({"name": resource, "current": current_status});
    if let Some(c) = container {
        metric["container"] = json!(c);
    }
    Ok(Proposal {
        replicas,
        status: json!({"type": ty, key: metric}),
        name,
    })
}

fn condition(old: &Value, ty: &str, status: bool, reason: &str, message: &str) -> Value {
    let status = if status { "True" } else { "False" };
    let previous = old["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == ty);
    let since = match previous {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(now_rfc3339()),
    };
    json!({"type": ty, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
}

/// The limit a behavior's policies put on a change from `current` (`up`: the highest allowed,
/// otherwise the lowest).
fn rate_limit(behavior: &Value, current: i64, up: bool) -> Option<i64> {
    let default_up = json!({"selectPolicy": "Max", "policies": [{"type": "Pods", "value": 4}, {"type": "Percent", "value": 100}]});
    let default_down =
        json!({"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100}]});
    let rules = if behavior.is_object() {
        behavior
    } else if up {
        &default_up
    } else {
        &default_down
    };
    let select = rules["selectPolicy"].as_str().unwrap_or("Max");
    if select == "Disabled" {
        return Some(current);
    }
    let limits: Vec<i64> = rules["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let v = i64_at(p, &["value"], 0);
            match (p["type"].as_str().unwrap_or(""), up) {
                ("Pods", true) => current + v,
                ("Pods", false) => current - v,
                (_, true) => (current as f64 * (1.0 + v as f64 / 100.0)).ceil() as i64,
                (_, false) => (current as f64 * (1.0 - v as f64 / 100.0)).floor() as i64,
            }
        })
        .collect();
    let most = match (select, up) {
        ("Min", true) | ("Max", false) => limits.iter().min(),
        _ => limits.iter().max(),
    };
    most.copied()
}

fn target_type(cx: &Cx, kind: &str) -> Option<&'static ResourceType> {
    match kind {
        "Deployment" => Some(cx.t.deploy),
        "StatefulSet" => Some(cx.t.sts),
        "ReplicaSet" => Some(cx.t.rs),
        _ => None,
    }
}

impl Autoscaler {
    /// Reconciles every HPA; `act` says whether targets are scaled.
    pub(super) fn sync(&mut self, cx: &Cx, act: bool) {
        let (hpas, _) = cx.sh.store.list_in(cx.t.hpas, None);
        let live: std::collections::HashSet<String> = hpas
            .iter()
            .map(|h| format!("{}/{}", namespace_of(&h.value), name_of(&h.value)))
            .collect();
        self.recommendations.retain(|k, _| live.contains(k));
        for h in &hpas {
            self.one(cx, &h.value, act);
        }
    }

    fn one(&mut self, cx: &Cx, hpa: &Value, act: bool) {
        let (ns, name) = (namespace_of(hpa), name_of(hpa));
        let key = format!("{ns}/{name}");
        let old = hpa["status"].clone();
        let spec = &hpa["spec"];
        let min = i64_at(spec, &["minReplicas"], 1);
        let max = i64_at(spec, &["maxReplicas"], 1);
        let kind = str_at(spec, &["scaleTargetRef", "kind"]).unwrap_or("");
        let target_name = str_at(spec, &["scaleTargetRef", "name"]).unwrap_or("");
        let mut status = json!({"observedGeneration": hpa["metadata"]["generation"]});
        let target = target_type(cx, kind)
            .and_then(|rt| cx.sh.store.get_in(rt, ns, target_name).map(|t| (rt, t)));
        let Some((rt, target)) = target else {
            let gr = target_type(cx, kind).map_or_else(
                || format!("{}.{}", kind.to_ascii_lowercase(), "apps"),
                |rt| rt.group_resource(),
            );
            status["desiredReplicas"] = old.get("desiredReplicas").cloned().unwrap_or(json!(0));
            status["currentMetrics"] = Value::Null;
            status["conditions"] = json!([condition(
                &old,
                "AbleToScale",
                false,
                "FailedGetScale",
                &format!(
                    "the HPA controller was unable to get the target's current scale: {gr} \"{target_name}\" not found"
                ),
            )]);
            write_status(cx, ns, name, &old, status);
            return;
        };
        let current = i64_at(&target.value, &["spec", "replicas"], 1);
        if current != 0 {
            status["currentReplicas"] = json!(current);
        }
        let selector = LabelSelector::from_spec(&target.value["spec"]["selector"]);
        let (pods, _) = cx.sh.store.list_in(cx.t.pods, Some(ns));
        let pods: Vec<&Value> = pods
            .iter()
            .map(|p| &p.value)
            .filter(|p| selector.matches(p) && at(p, &["metadata", "deletionTimestamp"]).is_none())
            .collect();
        if current == 0 && min != 0 {
            status["desiredReplicas"] = json!(0);
            status["currentMetrics"] = Value::Null;
            status["conditions"] = json!([
                condition(
                    &old,
                    "AbleToScale",
                    true,
                    "ReadyForNewScale",
                    "recommended size matches current size"
                ),
                condition(
                    &old,
                    "ScalingActive",
                    false,
                    "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero"
                ),
            ]);
            write_status(cx, ns, name, &old, status);
            return;
        }
        let mut metrics = Vec::new();
        let mut best: Option<Proposal> = None;
        let mut failure: Option<(String, String)> = None;
        for m in spec["metrics"].as_array().into_iter().flatten() {
            let outcome = match m["type"].as_str().unwrap_or("") {
                "Resource" | "ContainerResource" => resource_metric(cx, m, &pods, current),
                other => {
                    let metric = at(m, &[&other.to_ascii_lowercase(), "metric", "name"])
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    Err((
                        format!("FailedGet{other}Metric"),
                        format!(
                            "the HPA was unable to compute the replica count: unable to get metric {metric}: no custom or external metrics API is served by this fake cluster"
                        ),
                    ))
                }
            };
            match outcome {
                Ok(p) => {
                    metrics.push(p.status.clone());
                    if best.as_ref().is_none_or(|b| p.replicas > b.replicas) {
                        best = Some(p);
                    }
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        status["currentMetrics"] = if metrics.is_empty() {
            Value::Null
        } else {
            Value::Array(metrics)
        };
        let Some(best) = best else {
            let (reason, message) = failure.unwrap_or_else(|| {
                (
                    "InvalidMetricSourceType".into(),
                    "the HPA has no metrics to compute a replica count from".into(),
                )
            });
            status["desiredReplicas"] = old
                .get("desiredReplicas")
                .cloned()
                .unwrap_or(json!(current));
            status["conditions"] = json!([
                condition(
                    &old,
                    "AbleToScale",
                    true,
                    "SucceededGetScale",
                    "the HPA controller was able to get the target's current scale"
                ),
                condition(&old, "ScalingActive", false, &reason, &message),
            ]);
            write_status(cx, ns, name, &old, status);
            return;
        };
        let active = condition(
            &old,
            "ScalingActive",
            true,
            "ValidMetricFound",
            &format!(
                "the HPA was able to successfully calculate a replica count from {}",
                best.name
            ),
        );
        let desired = best.replicas;
        // Stabilization over the behavior's windows, then the policies' rate and min/max.
        let now = Instant::now();
        let window = |dir: &str, default: u64| {
            Duration::from_secs(
                at(spec, &["behavior", dir, "stabilizationWindowSeconds"])
                    .and_then(Value::as_u64)
                    .unwrap_or(default),
            )
        };
        let (up_window, down_window) = (window("scaleUp", 0), window("scaleDown", 300));
        let recs = self.recommendations.entry(key).or_default();
        recs.retain(|(t, _)| now.duration_since(*t) <= up_window.max(down_window));
        let mut up_rec = desired;
        let mut down_rec = desired;
        for (t, r) in recs.iter() {
            if now.duration_since(*t) <= up_window {
                up_rec = up_rec.min(*r);
            }
            if now.duration_since(*t) <= down_window {
                down_rec = down_rec.max(*r);
            }
        }
        recs.push((now, desired));
        let stabilized = current.max(up_rec).min(down_rec);
        let (able_reason, able_message) = if stabilized == current && desired != current {
            if desired < current {
                (
                    "ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation",
                )
            } else {
                (
                    "ScaleUpStabilized",
                    "recent recommendations were lower than current one, applying the lowest recent recommendation",
                )
            }
        } else {
            ("ReadyForNewScale", "recommended size matches current size")
        };
        let mut limited = (
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
            false,
        );
        let mut next = stabilized;
        if next > current
            && let Some(l) = rate_limit(&spec["behavior"]["scaleUp"], current, true)
            && next > l
        {
            next = l;
            limited = (
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
                true,
            );
        }
        if next < current
            && let Some(l) = rate_limit(&spec["behavior"]["scaleDown"], current, false)
            && next < l
        {
            next = l;
            limited = (
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
                true,
            );
        }
        if next > max {
            next = max;
            limited = (
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
                true,
            );
        } else if next < min {
            next = min;
            limited = (
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
                true,
            );
        }
        status["desiredReplicas"] = json!(next);
        if let Some(t) = old.get("lastScaleTime") {
            status["lastScaleTime"] = t.clone();
        }
        let able = if next == current {
            condition(&old, "AbleToScale", true, able_reason, able_message)
        } else if act {
            let scaled = cx.sh.store.modify_in(rt, ns, target_name, |v| {
                v["spec"]["replicas"] = json!(next);
            });
            match scaled {
                Ok(_) => {
                    status["lastScaleTime"] = json!(now_rfc3339());
                    let direction = if next > current { "above" } else { "below" };
                    cx.event(
                        hpa,
                        "HorizontalPodAutoscaler",
                        "Normal",
                        "SuccessfulRescale",
                        &format!("New size: {next}; reason: {} {direction} target", best.name),
                        "horizontal-pod-autoscaler",
                        None,
                    );
                    condition(
                        &old,
                        "AbleToScale",
                        true,
                        "SucceededRescale",
                        &format!(
                            "the HPA controller was able to update the target scale to {next}"
                        ),
                    )
                }
                Err(e) => condition(
                    &old,
                    "AbleToScale",
                    false,
                    "FailedUpdateScale",
                    &format!("the HPA controller was unable to update the target scale: {e}"),
                ),
            }
        } else {
            condition(
                &old,
                "AbleToScale",
                true,
                "ReadyForNewScale",
                &format!(
                    "recommended size is {next}; this fake cluster scales targets only when asked to (FakeCluster::set_autoscaling)"
                ),
            )
        };
        status["conditions"] = json!([
            able,
            active,
            condition(&old, "ScalingLimited", limited.2, limited.0, limited.1),
        ]);
        write_status(cx, ns, name, &old, status);
    }
}

/// Writes the status when it changed.
fn write_status(cx: &Cx, ns: &str, name: &str, old: &Value, status: Value) {
    if *old == status {
        return;
    }
    // Conditions keep their transition times, so an unchanged status writes nothing.
    let _ = cx.sh.store.modify_in(cx.t.hpas, ns, name, |v| {
        v["status"] = status.clone();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milli_quantities_canonicalize() {
        assert_eq!(milli_quantity(88), "88m");
        assert_eq!(milli_quantity(1000), "1");
        assert_eq!(milli_quantity(107_374_182_000), "107374182");
        assert_eq!(milli_quantity(128_000_000), "128k");
    }

    #[test]
    fn default_rates() {
        assert_eq!(rate_limit(&Value::Null, 3, true), Some(7));
        assert_eq!(rate_limit(&Value::Null, 10, true), Some(20));
        assert_eq!(rate_limit(&Value::Null, 10, false), Some(0));
        let disabled = json!({"selectPolicy": "Disabled"});
        assert_eq!(rate_limit(&disabled, 4, true), Some(4));
    }
}
