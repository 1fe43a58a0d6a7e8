//! `meta.k8s.io/v1` `Table` responses, which `kubectl get` asks for: the server chooses the
//! columns and renders the cells, as the real printers do for the types simulated here.

use std::sync::Arc;

use axum::body::Bytes;
use serde_json::{Value, json};

use super::resources::ResourceType;
use super::store::Stored;
use super::util::{at, i64_at, parse_ts, str_at};

/// Renders an age as the API server's printers do (`5s`, `3m20s`, `2d4h`, `90d`).
pub(crate) fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y{}d", d / 365, d % 365)
    }
}

fn age(v: &Value, path: &[&str]) -> String {
    match parse_ts(at(v, path)) {
        Some(t) => human_duration(jiff::Timestamp::now().as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

fn col(name: &str, ty: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": priority})
}

/// The STATUS column of `kubectl get pods`.
pub(crate) fn pod_status(pod: &Value) -> String {
    let mut reason = str_at(pod, &["status", "phase"])
        .unwrap_or("Unknown")
        .to_string();
    if let Some(r) = str_at(pod, &["status", "reason"]) {
        reason = r.to_string();
    }
    let statuses = at(pod, &["status", "containerStatuses"]).and_then(Value::as_array);
    let mut has_running = false;
    if let Some(cs) = statuses {
        for c in cs.iter().rev() {
            if let Some(w) = str_at(c, &["state", "waiting", "reason"]) {
                reason = w.to_string();
                break;
            }
            if let Some(t) = at(c, &["state", "terminated"]) {
                reason = match t.get("reason").and_then(Value::as_str) {
                    Some(r) => r.to_string(),
                    None => format!("ExitCode:{}", i64_at(t, &["exitCode"], 0)),
                };
                break;
            }
            if c["ready"] == true && at(c, &["state", "running"]).is_some() {
                has_running = true;
            }
        }
    }
    if reason == "Completed" && has_running {
        reason = "Running".into();
    }
    if at(pod, &["metadata", "deletionTimestamp"]).is_some() {
        reason = "Terminating".into();
    }
    reason
}

fn pod_row(p: &Value) -> Vec<Value> {
    let cs = at(p, &["status", "containerStatuses"]).and_then(Value::as_array);
    let total = at(p, &["spec", "containers"])
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = cs.map_or(0, |c| c.iter().filter(|c| c["ready"] == true).count());
    let restarts: i64 = cs.map_or(0, |c| {
        c.iter().map(|c| i64_at(c, &["restartCount"], 0)).sum()
    });
    let last_restart = cs
        .into_iter()
        .flatten()
        .filter_map(|c| parse_ts(at(c, &["lastState", "terminated", "finishedAt"])))
        .max();
    let restarts_cell = match last_restart {
        Some(t) if restarts > 0 => format!(
            "{restarts} ({} ago)",
            human_duration(jiff::Timestamp::now().as_second() - t.as_second())
        ),
        _ => restarts.to_string(),
    };
    vec![
        json!(p["metadata"]["name"]),
        json!(format!("{ready}/{total}")),
        json!(pod_status(p)),
        json!(restarts_cell),
        json!(age(p, &["metadata", "creationTimestamp"])),
        json!(str_at(p, &["status", "podIP"]).unwrap_or("<none>")),
        json!(str_at(p, &["spec", "nodeName"]).unwrap_or("<none>")),
        json!("<none>"),
        json!("<none>"),
    ]
}

fn containers_images(template_spec: Option<&Value>) -> (String, String) {
    let cs = template_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let names: Vec<&str> = cs
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let images: Vec<&str> = cs
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str())
        .collect();
    (names.join(","), images.join(","))
}

fn selector_string(sel: Option<&Value>) -> String {
    sel.and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".into())
}

fn service_ports(s: &Value) -> String {
    let ports = at(s, &["spec", "ports"]).and_then(Value::as_array);
    let parts: Vec<String> = ports
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) => format!("{}:{np}/{proto}", p["port"]),
                None => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

fn external_ip(s: &Value) -> String {
    let mut ips: Vec<String> = at(s, &["spec", "externalIPs"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    match str_at(s, &["spec", "type"]).unwrap_or("ClusterIP") {
        "LoadBalancer" => {
            for i in at(s, &["status", "loadBalancer", "ingress"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(ip) = i["ip"].as_str().or_else(|| i["hostname"].as_str()) {
                    ips.push(ip.to_string());
                }
            }
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => str_at(s, &["spec", "externalName"])
            .unwrap_or("")
            .to_string(),
        _ => {
            if ips.is_empty() {
                "<none>".into()
            } else {
                ips.join(",")
            }
        }
    }
}

fn hpa_targets(h: &Value) -> String {
    let metrics = at(h, &["spec", "metrics"]).and_then(Value::as_array);
    let current = at(h, &["status", "currentMetrics"]).and_then(Value::as_array);
    let parts: Vec<String> = metrics
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, m)| {
            let name = str_at(m, &["resource", "name"])?;
            let target = i64_at(m, &["resource", "target", "averageUtilization"], -1);
            let cur = current
                .and_then(|c| c.get(i))
                .and_then(|c| at(c, &["resource", "current", "averageUtilization"]))
                .and_then(Value::as_i64)
                .map_or("<unknown>".to_string(), |v| format!("{v}%"));
            Some(if target >= 0 {
                format!("{name}: {cur}/{target}%")
            } else {
                format!("{name}: {cur}")
            })
        })
        .collect();
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(", ")
    }
}

/// Column definitions and the row cells for one object.
fn columns(rt: &ResourceType) -> Vec<Value> {
    match (rt.group, rt.plural) {
        ("", "pods") => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        ("apps", "deployments") => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Up-to-date", "string", 0),
            col("Available", "string", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("apps", "replicasets") => vec![
            col("Name", "string", 0),
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("", "services") => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
            col("Age", "string", 0),
            col("Selector", "string", 1),
        ],
        ("", "events") => vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Message", "string", 0),
        ],
        ("autoscaling", "horizontalpodautoscalers") => vec![
            col("Name", "string", 0),
            col("Reference", "string", 0),
            col("Targets", "string", 0),
            col("MinPods", "string", 0),
            col("MaxPods", "string", 0),
            col("Replicas", "string", 0),
            col("Age", "string", 0),
        ],
        ("", "namespaces") => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
        ("", "nodes") => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
        ],
        _ => vec![col("Name", "string", 0), col("Age", "string", 0)],
    }
}

fn row(rt: &ResourceType, v: &Value) -> Vec<Value> {
    let name = json!(v["metadata"]["name"]);
    let created = age(v, &["metadata", "creationTimestamp"]);
    match (rt.group, rt.plural) {
        ("", "pods") => pod_row(v),
        ("apps", "deployments") => {
            let (c, i) = containers_images(at(v, &["spec", "template", "spec"]));
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    i64_at(v, &["status", "readyReplicas"], 0),
                    i64_at(v, &["spec", "replicas"], 1)
                )),
                json!(i64_at(v, &["status", "updatedReplicas"], 0)),
                json!(i64_at(v, &["status", "availableReplicas"], 0)),
                json!(created),
                json!(c),
                json!(i),
                json!(selector_string(at(v, &["spec", "selector"]))),
            ]
        }
        ("apps", "replicasets") => {
            let (c, i) = containers_images(at(v, &["spec", "template", "spec"]));
            vec![
                name,
                json!(i64_at(v, &["spec", "replicas"], 1)),
                json!(i64_at(v, &["status", "replicas"], 0)),
                json!(i64_at(v, &["status", "readyReplicas"], 0)),
                json!(created),
                json!(c),
                json!(i),
                json!(selector_string(at(v, &["spec", "selector"]))),
            ]
        }
        ("", "services") => vec![
            name,
            json!(str_at(v, &["spec", "type"]).unwrap_or("ClusterIP")),
            json!(str_at(v, &["spec", "clusterIP"]).unwrap_or("<none>")),
            json!(external_ip(v)),
            json!(service_ports(v)),
            json!(created),
            json!(
                at(v, &["spec", "selector"])
                    .and_then(Value::as_object)
                    .map_or("<none>".to_string(), |m| m
                        .iter()
                        .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(","))
            ),
        ],
        ("", "events") => {
            let last = if at(v, &["lastTimestamp"]).is_some_and(|t| !t.is_null()) {
                age(v, &["lastTimestamp"])
            } else {
                age(v, &["eventTime"])
            };
            vec![
                json!(last),
                json!(str_at(v, &["type"]).unwrap_or("")),
                json!(str_at(v, &["reason"]).unwrap_or("")),
                json!(format!(
                    "{}/{}",
                    str_at(v, &["involvedObject", "kind"])
                        .unwrap_or("")
                        .to_ascii_lowercase(),
                    str_at(v, &["involvedObject", "name"]).unwrap_or("")
                )),
                json!(str_at(v, &["message"]).unwrap_or("")),
            ]
        }
        ("autoscaling", "horizontalpodautoscalers") => vec![
            name,
            json!(format!(
                "{}/{}",
                str_at(v, &["spec", "scaleTargetRef", "kind"]).unwrap_or(""),
                str_at(v, &["spec", "scaleTargetRef", "name"]).unwrap_or("")
            )),
            json!(hpa_targets(v)),
            json!(i64_at(v, &["spec", "minReplicas"], 1).to_string()),
            json!(i64_at(v, &["spec", "maxReplicas"], 0).to_string()),
            json!(i64_at(v, &["status", "currentReplicas"], 0).to_string()),
            json!(created),
        ],
        ("", "namespaces") => vec![
            name,
            json!(str_at(v, &["status", "phase"]).unwrap_or("Active")),
            json!(created),
        ],
        ("", "nodes") => {
            let ready = at(v, &["status", "conditions"])
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map_or("Unknown", |c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                });
            vec![
                name,
                json!(ready),
                json!("<none>"),
                json!(created),
                json!(str_at(v, &["status", "nodeInfo", "kubeletVersion"]).unwrap_or("")),
            ]
        }
        _ => vec![name, json!(created)],
    }
}

/// Builds the `Table` for `items`, serialized. `include_object` is the request's
/// `includeObject` (`Metadata` by default, `Object`, or `None`). The rows are written
/// straight from the stored objects, without copying them into a new JSON tree.
pub(crate) fn to_table(
    rt: &ResourceType,
    items: &[Arc<Stored>],
    include_object: Option<&str>,
    rv: u64,
    cont: Option<&str>,
) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    let head = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns(rt)});
    // Serializing `Value`s into a `Vec` cannot fail.
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop(); // the closing brace; rows follow
    out.extend_from_slice(b",\"rows\":[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"cells\":");
        let _ = serde_json::to_writer(&mut out, &row(rt, &s.value));
        out.extend_from_slice(b",\"object\":");
        match include_object.unwrap_or("Metadata") {
            "Object" => out.extend_from_slice(&s.json()),
            "None" => out.extend_from_slice(b"null"),
            _ => {
                out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
                let _ = serde_json::to_writer(&mut out, &s.value["metadata"]);
                out.push(b'}');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_valid_json_with_rows() {
        let pod = super::super::store::Stored::new(json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}));
        let rt = super::super::resources::resolve("pods").expect("known");
        for include in [None, Some("Object"), Some("None")] {
            let t: Value = serde_json::from_slice(&to_table(
                rt,
                &[pod.clone(), pod.clone()],
                include,
                7,
                Some("c"),
            ))
            .unwrap_or_default();
            assert_eq!(t["kind"], "Table");
            assert_eq!(t["metadata"]["continue"], "c");
            assert_eq!(t["rows"].as_array().map(Vec::len), Some(2));
            assert_eq!(t["rows"][0]["cells"][2], "Pending");
        }
    }

    #[test]
    fn ages_render_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
    }

    #[test]
    fn pod_status_prefers_last_container_waiting_reason() {
        let p = json!({"status": {"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "state": {"running": {}}},
            {"name": "b", "ready": false, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]}});
        assert_eq!(pod_status(&p), "CrashLoopBackOff");
    }
}
