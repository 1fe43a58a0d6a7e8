//! Printers of workloads: deployments, ReplicaSets, StatefulSets, DaemonSets, controller
//! revisions, Jobs, CronJobs and HorizontalPodAutoscalers.

use serde_json::{Value, json};

use super::format::{age, containers_images, labels, name, selector, selector_or_none, since};
use super::{Col, Printer, RowFn};
use crate::k8s::resources::ResourceType;
use crate::k8s::util::{at, i64_at, parse_ts, str_at};

pub(super) fn printer(rt: &ResourceType) -> Option<Printer> {
    let (columns, row): (&'static [Col], RowFn) = match (rt.group, rt.plural) {
        ("apps", "deployments") => (DEPLOYMENT, deployment_row),
        ("apps", "replicasets") => (REPLICASET, replicaset_row),
        ("apps", "statefulsets") => (STATEFULSET, statefulset_row),
        ("apps", "daemonsets") => (DAEMONSET, daemonset_row),
        ("apps", "controllerrevisions") => (
            &[
                ("Name", "string", 0),
                ("Controller", "string", 0),
                ("Revision", "integer", 0),
                ("Age", "string", 0),
            ],
            revision_row,
        ),
        ("batch", "jobs") => (JOB, job_row),
        ("batch", "cronjobs") => (CRONJOB, cronjob_row),
        ("autoscaling", "horizontalpodautoscalers") => (HPA, hpa_row),
        _ => return None,
    };
    Some(Printer { columns, row })
}

const DEPLOYMENT: &[Col] = &[
    ("Name", "string", 0),
    ("Ready", "string", 0),
    ("Up-to-date", "string", 0),
    ("Available", "string", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
];

const REPLICASET: &[Col] = &[
    ("Name", "string", 0),
    ("Desired", "integer", 0),
    ("Current", "integer", 0),
    ("Ready", "integer", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
];

const STATEFULSET: &[Col] = &[
    ("Name", "string", 0),
    ("Ready", "string", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
];

const DAEMONSET: &[Col] = &[
    ("Name", "string", 0),
    ("Desired", "integer", 0),
    ("Current", "integer", 0),
    ("Ready", "integer", 0),
    ("Up-to-date", "integer", 0),
    ("Available", "integer", 0),
    ("Node Selector", "string", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
];

const JOB: &[Col] = &[
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Completions", "string", 0),
    ("Duration", "string", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
];

const CRONJOB: &[Col] = &[
    ("Name", "string", 0),
    ("Schedule", "string", 0),
    ("Timezone", "string", 0),
    ("Suspend", "boolean", 0),
    ("Active", "integer", 0),
    ("Last Schedule", "string", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
];

const HPA: &[Col] = &[
    ("Name", "string", 0),
    ("Reference", "string", 0),
    ("Targets", "string", 0),
    ("MinPods", "string", 0),
    ("MaxPods", "string", 0),
    ("Replicas", "string", 0),
    ("Age", "string", 0),
];

fn template_spec(v: &Value) -> Option<&Value> {
    at(v, &["spec", "template", "spec"])
}

fn deployment_row(v: &Value) -> Vec<Value> {
    let (c, i) = containers_images(template_spec(v));
    vec![
        name(v),
        json!(format!(
            "{}/{}",
            i64_at(v, &["status", "readyReplicas"], 0),
            i64_at(v, &["spec", "replicas"], 0)
        )),
        json!(i64_at(v, &["status", "updatedReplicas"], 0)),
        json!(i64_at(v, &["status", "availableReplicas"], 0)),
        age(v),
        json!(c),
        json!(i),
        json!(selector(at(v, &["spec", "selector"]))),
    ]
}

fn replicaset_row(v: &Value) -> Vec<Value> {
    let (c, i) = containers_images(template_spec(v));
    vec![
        name(v),
        json!(i64_at(v, &["spec", "replicas"], 0)),
        json!(i64_at(v, &["status", "replicas"], 0)),
        json!(i64_at(v, &["status", "readyReplicas"], 0)),
        age(v),
        json!(c),
        json!(i),
        json!(selector_or_none(at(v, &["spec", "selector"]))),
    ]
}

fn statefulset_row(v: &Value) -> Vec<Value> {
    let (c, i) = containers_images(template_spec(v));
    vec![
        name(v),
        json!(format!(
            "{}/{}",
            i64_at(v, &["status", "readyReplicas"], 0),
            i64_at(v, &["spec", "replicas"], 0)
        )),
        age(v),
        json!(c),
        json!(i),
    ]
}

fn daemonset_row(v: &Value) -> Vec<Value> {
    let (c, i) = containers_images(template_spec(v));
    let n = |k: &str| json!(i64_at(v, &["status", k], 0));
    vec![
        name(v),
        n("desiredNumberScheduled"),
        n("currentNumberScheduled"),
        n("numberReady"),
        n("updatedNumberScheduled"),
        n("numberAvailable"),
        json!(labels(at(v, &["spec", "template", "spec", "nodeSelector"]))),
        age(v),
        json!(c),
        json!(i),
        json!(selector_or_none(at(v, &["spec", "selector"]))),
    ]
}

fn revision_row(v: &Value) -> Vec<Value> {
    let controller = v["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["controller"] == true)
        .map_or("<none>".to_string(), |o| {
            let group = o["apiVersion"]
                .as_str()
                .and_then(|a| a.rsplit_once('/'))
                .map_or("", |(g, _)| g);
            let kind = o["kind"].as_str().unwrap_or("").to_ascii_lowercase();
            let gk = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            format!("{gk}/{}", o["name"].as_str().unwrap_or(""))
        });
    vec![
        name(v),
        json!(controller),
        json!(i64_at(v, &["revision"], 0)),
        age(v),
    ]
}

fn has_condition(v: &Value, ty: &str) -> bool {
    at(v, &["status", "conditions"])
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
        .is_some_and(|c| c["status"] == "True")
}

/// The STATUS column of `kubectl get jobs`.
pub(crate) fn job_status(v: &Value) -> &'static str {
    if has_condition(v, "Complete") {
        "Complete"
    } else if has_condition(v, "Failed") {
        "Failed"
    } else if at(v, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if has_condition(v, "Suspended") {
        "Suspended"
    } else if has_condition(v, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job_row(v: &Value) -> Vec<Value> {
    let succeeded = i64_at(v, &["status", "succeeded"], 0);
    let completions = match at(v, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match i64_at(v, &["spec", "parallelism"], 0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = parse_ts(at(v, &["status", "startTime"]));
    let end = parse_ts(at(v, &["status", "completionTime"]));
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(_), None) => since(v, &["status", "startTime"]),
        (Some(s), Some(e)) => super::human_duration(e.as_second() - s.as_second()),
    };
    let (c, i) = containers_images(template_spec(v));
    vec![
        name(v),
        json!(job_status(v)),
        json!(completions),
        json!(duration),
        age(v),
        json!(c),
        json!(i),
        json!(selector_or_none(at(v, &["spec", "selector"]))),
    ]
}

fn cronjob_row(v: &Value) -> Vec<Value> {
    let last = if at(v, &["status", "lastScheduleTime"]).is_some() {
        since(v, &["status", "lastScheduleTime"])
    } else {
        "<none>".into()
    };
    let suspend = match at(v, &["spec", "suspend"]).and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let (c, i) = containers_images(at(v, &["spec", "jobTemplate", "spec", "template", "spec"]));
    vec![
        name(v),
        json!(str_at(v, &["spec", "schedule"]).unwrap_or("")),
        json!(str_at(v, &["spec", "timeZone"]).unwrap_or("<none>")),
        json!(suspend),
        json!(
            at(v, &["status", "active"])
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        ),
        json!(last),
        age(v),
        json!(c),
        json!(i),
        json!(selector_or_none(at(
            v,
            &["spec", "jobTemplate", "spec", "selector"]
        ))),
    ]
}

/// One metric of the TARGETS column: `cpu: 45%/70%`, `memory: 120Mi/200Mi`, `5/10 (avg)`.
fn hpa_metric(spec: &Value, status: Option<&Value>) -> String {
    let unknown = || "<unknown>".to_string();
    let value_of = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
    let ty = spec["type"].as_str().unwrap_or("");
    match ty {
        "Resource" | "ContainerResource" => {
            let key = if ty == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let s = &spec[key];
            let cur = status.map(|st| &st[key]["current"]);
            let res = s["name"].as_str().unwrap_or("");
            if let Some(target) = value_of(s["target"].get("averageValue")) {
                let current =
                    value_of(cur.and_then(|c| c.get("averageValue"))).unwrap_or_else(unknown);
                format!("{res}: {current}/{target}")
            } else {
                let current = cur
                    .and_then(|c| c.get("averageUtilization"))
                    .and_then(Value::as_i64)
                    .map_or_else(unknown, |u| format!("{u}%"));
                let target = s["target"]
                    .get("averageUtilization")
                    .and_then(Value::as_i64)
                    .map_or("<auto>".to_string(), |u| format!("{u}%"));
                format!("{res}: {current}/{target}")
            }
        }
        "Pods" => {
            let current =
                value_of(status.and_then(|st| at(st, &["pods", "current", "averageValue"])))
                    .unwrap_or_else(unknown);
            let target =
                value_of(at(spec, &["pods", "target", "averageValue"])).unwrap_or_default();
            format!("{current}/{target}")
        }
        "Object" | "External" => {
            let key = if ty == "Object" { "object" } else { "external" };
            let current = status.map(|st| &st[key]["current"]);
            if let Some(target) = value_of(at(spec, &[key, "target", "averageValue"])) {
                let c =
                    value_of(current.and_then(|c| c.get("averageValue"))).unwrap_or_else(unknown);
                format!("{c}/{target} (avg)")
            } else {
                let c = value_of(current.and_then(|c| c.get("value"))).unwrap_or_else(unknown);
                let target = value_of(at(spec, &[key, "target", "value"])).unwrap_or_default();
                format!("{c}/{target}")
            }
        }
        _ => "<unknown type>".into(),
    }
}

/// The TARGETS column of `kubectl get hpa`: at most two metrics, then `+ N more...`.
pub(crate) fn hpa_targets(h: &Value) -> String {
    let specs: Vec<&Value> = at(h, &["spec", "metrics"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = at(h, &["status", "currentMetrics"]).and_then(Value::as_array);
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| hpa_metric(s, statuses.and_then(|st| st.get(i))))
        .collect();
    let shown = list[..list.len().min(2)].join(", ");
    if list.len() > 2 {
        format!("{shown} + {} more...", list.len() - 2)
    } else {
        shown
    }
}

fn hpa_row(v: &Value) -> Vec<Value> {
    vec![
        name(v),
        json!(format!(
            "{}/{}",
            str_at(v, &["spec", "scaleTargetRef", "kind"]).unwrap_or(""),
            str_at(v, &["spec", "scaleTargetRef", "name"]).unwrap_or("")
        )),
        json!(hpa_targets(v)),
        json!(
            at(v, &["spec", "minReplicas"])
                .and_then(Value::as_i64)
                .map_or("<unset>".to_string(), |m| m.to_string())
        ),
        json!(i64_at(v, &["spec", "maxReplicas"], 0)),
        json!(i64_at(v, &["status", "currentReplicas"], 0)),
        age(v),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_targets_like_the_printer() {
        let h = json!({"spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "200Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "q"}, "target": {"type": "AverageValue", "averageValue": "10"}}}
        ]}, "status": {"currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "112m"}}}
        ]}});
        assert_eq!(
            hpa_targets(&h),
            "cpu: 45%/70%, memory: <unknown>/200Mi + 1 more..."
        );
        assert_eq!(hpa_targets(&json!({"spec": {}})), "<none>");
    }

    #[test]
    fn job_cells() {
        let j = json!({"metadata": {"name": "j"}, "spec": {"completions": 1, "parallelism": 1},
            "status": {"succeeded": 1, "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:07Z",
                "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
        let row = job_row(&j);
        assert_eq!(row[1], "Complete");
        assert_eq!(row[2], "1/1");
        assert_eq!(row[3], "7s");
    }
}
