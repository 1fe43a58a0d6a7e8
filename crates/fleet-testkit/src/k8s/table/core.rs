//! Printers of the core group: pods, services, endpoints, events, namespaces, nodes, secrets,
//! config maps, service accounts and persistent volume claims.

use serde_json::{Value, json};

use super::format::{age, count_keys, labels, name, since};
use super::{Col, Printer, RowFn};
use crate::k8s::resources::ResourceType;
use crate::k8s::util::{at, i64_at, parse_ts, str_at};

pub(super) fn printer(rt: &ResourceType) -> Option<Printer> {
    if !rt.group.is_empty() {
        return None;
    }
    let (columns, row): (&'static [Col], RowFn) = match rt.plural {
        "pods" => (POD, pod_row),
        "services" => (SERVICE, service_row),
        "endpoints" => (
            &[
                ("Name", "string", 0),
                ("Endpoints", "string", 0),
                ("Age", "string", 0),
            ],
            endpoints_row,
        ),
        "events" => (EVENT, event_row),
        "namespaces" => (
            &[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Age", "string", 0),
            ],
            |v| {
                vec![
                    name(v),
                    json!(str_at(v, &["status", "phase"]).unwrap_or("")),
                    age(v),
                ]
            },
        ),
        "nodes" => (NODE, node_row),
        "secrets" => (
            &[
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Data", "string", 0),
                ("Age", "string", 0),
            ],
            |v| {
                vec![
                    name(v),
                    json!(str_at(v, &["type"]).unwrap_or("")),
                    json!(count_keys(v, "data")),
                    age(v),
                ]
            },
        ),
        "configmaps" => (
            &[
                ("Name", "string", 0),
                ("Data", "string", 0),
                ("Age", "string", 0),
            ],
            |v| {
                vec![
                    name(v),
                    json!(count_keys(v, "data") + count_keys(v, "binaryData")),
                    age(v),
                ]
            },
        ),
        "serviceaccounts" => (
            &[
                ("Name", "string", 0),
                ("Secrets", "string", 0),
                ("Age", "string", 0),
            ],
            |v| {
                vec![
                    name(v),
                    json!(v["secrets"].as_array().map_or(0, Vec::len)),
                    age(v),
                ]
            },
        ),
        "persistentvolumeclaims" => (PVC, pvc_row),
        _ => return None,
    };
    Some(Printer { columns, row })
}

const POD: &[Col] = &[
    ("Name", "string", 0),
    ("Ready", "string", 0),
    ("Status", "string", 0),
    ("Restarts", "string", 0),
    ("Age", "string", 0),
    ("IP", "string", 1),
    ("Node", "string", 1),
    ("Nominated Node", "string", 1),
    ("Readiness Gates", "string", 1),
];

const SERVICE: &[Col] = &[
    ("Name", "string", 0),
    ("Type", "string", 0),
    ("Cluster-IP", "string", 0),
    ("External-IP", "string", 0),
    ("Port(s)", "string", 0),
    ("Age", "string", 0),
    ("Selector", "string", 1),
];

const EVENT: &[Col] = &[
    ("Last Seen", "string", 0),
    ("Type", "string", 0),
    ("Reason", "string", 0),
    ("Object", "string", 0),
    ("Subobject", "string", 1),
    ("Source", "string", 1),
    ("Message", "string", 0),
    ("First Seen", "string", 1),
    ("Count", "string", 1),
    ("Name", "string", 1),
];

const NODE: &[Col] = &[
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Roles", "string", 0),
    ("Age", "string", 0),
    ("Version", "string", 0),
    ("Internal-IP", "string", 1),
    ("External-IP", "string", 1),
    ("OS-Image", "string", 1),
    ("Kernel-Version", "string", 1),
    ("Container-Runtime", "string", 1),
];

const PVC: &[Col] = &[
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Volume", "string", 0),
    ("Capacity", "string", 0),
    ("Access Modes", "string", 0),
    ("StorageClass", "string", 0),
    ("VolumeAttributesClass", "string", 0),
    ("Age", "string", 0),
    ("VolumeMode", "string", 1),
];

fn statuses<'a>(pod: &'a Value, key: &str) -> Vec<&'a Value> {
    at(pod, &["status", key])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect()
}

fn has_condition(pod: &Value, ty: &str) -> bool {
    statuses(pod, "conditions")
        .iter()
        .any(|c| c["type"] == ty && c["status"] == "True")
}

fn restartable_init(pod: &Value, container: &str) -> bool {
    at(pod, &["spec", "initContainers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["name"] == container && c["restartPolicy"] == "Always")
}

fn terminated_reason(t: &Value, prefix: &str) -> String {
    match t
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        Some(r) => format!("{prefix}{r}"),
        None => match t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
            Some(s) => format!("{prefix}Signal:{s}"),
            None => format!("{prefix}ExitCode:{}", i64_at(t, &["exitCode"], 0)),
        },
    }
}

/// The READY, STATUS and RESTARTS cells of `kubectl get pods`, with the last restart time.
struct PodCells {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<jiff::Timestamp>,
}

fn pod_cells(pod: &Value) -> PodCells {
    let phase = str_at(pod, &["status", "phase"]).unwrap_or("");
    let mut reason = str_at(pod, &["status", "reason"])
        .filter(|r| !r.is_empty())
        .unwrap_or(phase)
        .to_string();
    if statuses(pod, "conditions")
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let mut total = at(pod, &["spec", "containers"])
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let init_specs = at(pod, &["spec", "initContainers"])
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    total += at(pod, &["spec", "initContainers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c["restartPolicy"] == "Always")
        .count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<jiff::Timestamp> = None;
    let mut sidecar_restarts = 0;
    let mut sidecar_last: Option<jiff::Timestamp> = None;
    let finished = |c: &Value| parse_ts(at(c, &["lastState", "terminated", "finishedAt"]));
    let mut initializing = false;
    for (i, c) in statuses(pod, "initContainerStatuses")
        .into_iter()
        .enumerate()
    {
        restarts += i64_at(c, &["restartCount"], 0);
        last_restart = last_restart.max(finished(c));
        let sidecar = restartable_init(pod, c["name"].as_str().unwrap_or(""));
        if sidecar {
            sidecar_restarts += i64_at(c, &["restartCount"], 0);
            sidecar_last = sidecar_last.max(finished(c));
        }
        let term = at(c, &["state", "terminated"]);
        let waiting = str_at(c, &["state", "waiting", "reason"]).filter(|r| !r.is_empty());
        if term.is_some_and(|t| i64_at(t, &["exitCode"], 0) == 0) {
            continue;
        }
        if sidecar && c["started"] == true {
            if c["ready"] == true {
                ready += 1;
            }
            continue;
        }
        reason = match (term, waiting) {
            (Some(t), _) => terminated_reason(t, "Init:"),
            (None, Some(w)) if w != "PodInitializing" => format!("Init:{w}"),
            _ => format!("Init:{i}/{init_specs}"),
        };
        initializing = true;
        break;
    }
    if !initializing || has_condition(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = sidecar_last;
        let mut has_running = false;
        for c in statuses(pod, "containerStatuses").into_iter().rev() {
            restarts += i64_at(c, &["restartCount"], 0);
            last_restart = last_restart.max(finished(c));
            if let Some(w) = str_at(c, &["state", "waiting", "reason"]).filter(|r| !r.is_empty()) {
                reason = w.to_string();
            } else if let Some(t) = at(c, &["state", "terminated"]) {
                reason = terminated_reason(t, "");
            } else if c["ready"] == true && at(c, &["state", "running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if at(pod, &["metadata", "deletionTimestamp"]).is_some() {
        if str_at(pod, &["status", "reason"]) == Some("NodeLost") {
            reason = "Unknown".into();
        } else if !matches!(phase, "Succeeded" | "Failed") {
            reason = "Terminating".into();
        }
    }
    PodCells {
        ready,
        total,
        reason,
        restarts,
        last_restart,
    }
}

fn or_none(s: Option<&str>) -> Value {
    json!(s.filter(|s| !s.is_empty()).unwrap_or("<none>"))
}

fn pod_row(p: &Value) -> Vec<Value> {
    let c = pod_cells(p);
    let restarts = match c.last_restart {
        Some(t) if c.restarts > 0 => format!(
            "{} ({} ago)",
            c.restarts,
            super::human_duration(jiff::Timestamp::now().as_second() - t.as_second())
        ),
        _ => c.restarts.to_string(),
    };
    let gates: Vec<&Value> = at(p, &["spec", "readinessGates"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let ok = gates
            .iter()
            .filter(|g| has_condition(p, g["conditionType"].as_str().unwrap_or("")))
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        name(p),
        json!(format!("{}/{}", c.ready, c.total)),
        json!(c.reason),
        json!(restarts),
        age(p),
        or_none(
            p["status"]["podIPs"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|i| i["ip"].as_str()),
        ),
        or_none(str_at(p, &["spec", "nodeName"])),
        or_none(str_at(p, &["status", "nominatedNodeName"])),
        json!(gates),
    ]
}

fn service_ports(s: &Value) -> String {
    let parts: Vec<String> = at(s, &["spec", "ports"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
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

/// Unique load-balancer IPs (or hostnames), sorted, as the printers list them.
pub(super) fn load_balancer(status: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = status
        .and_then(|s| s["ingress"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i["ip"]
                .as_str()
                .filter(|s| !s.is_empty())
                .or_else(|| i["hostname"].as_str().filter(|s| !s.is_empty()))
                .map(String::from)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn external_ip(s: &Value) -> String {
    let external: Vec<String> = at(s, &["spec", "externalIPs"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    match str_at(s, &["spec", "type"]).unwrap_or("ClusterIP") {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut ips = load_balancer(at(s, &["status", "loadBalancer"]));
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => str_at(s, &["spec", "externalName"])
            .unwrap_or("")
            .to_string(),
        _ => "<unknown>".into(),
    }
}

fn service_row(v: &Value) -> Vec<Value> {
    vec![
        name(v),
        json!(str_at(v, &["spec", "type"]).unwrap_or("")),
        or_none(
            at(v, &["spec", "clusterIPs"])
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str),
        ),
        json!(external_ip(v)),
        json!(service_ports(v)),
        age(v),
        json!(labels(at(v, &["spec", "selector"]))),
    ]
}

/// Ready addresses of an Endpoints object as `ip:port`, the first three then `+ N more...`.
fn endpoints_cell(v: &Value) -> String {
    let subsets: Vec<&Value> = v["subsets"].as_array().into_iter().flatten().collect();
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0;
    for ss in subsets {
        let addrs: Vec<&str> = ss["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["ip"].as_str())
            .collect();
        let ports: Vec<i64> = ss["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| i64_at(p, &["port"], 0))
            .collect();
        if ports.is_empty() {
            count += addrs.len();
            list.extend(addrs.iter().map(|a| (*a).to_string()));
        } else {
            for port in ports {
                count += addrs.len();
                list.extend(addrs.iter().map(|a| format!("{a}:{port}")));
            }
        }
    }
    let shown = list[..list.len().min(3)].join(",");
    if count > 3 {
        format!("{shown} + {} more...", count - 3)
    } else {
        shown
    }
}

fn endpoints_row(v: &Value) -> Vec<Value> {
    vec![name(v), json!(endpoints_cell(v)), age(v)]
}

fn event_row(v: &Value) -> Vec<Value> {
    let present = |k: &str| v.get(k).is_some_and(|t| !t.is_null());
    let first = if present("firstTimestamp") {
        since(v, &["firstTimestamp"])
    } else {
        since(v, &["eventTime"])
    };
    let mut last = if present("lastTimestamp") {
        since(v, &["lastTimestamp"])
    } else {
        first.clone()
    };
    let mut count = i64_at(v, &["count"], 0);
    if present("series") {
        last = since(v, &["series", "lastObservedTime"]);
        count = i64_at(v, &["series", "count"], 0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(v, &["involvedObject", "kind"])
        .unwrap_or("")
        .to_ascii_lowercase();
    let target = match str_at(v, &["involvedObject", "name"]).filter(|n| !n.is_empty()) {
        Some(n) => format!("{kind}/{n}"),
        None => kind,
    };
    let first_of = |a: Option<&str>, b: Option<&str>| {
        a.filter(|s| !s.is_empty()).or(b).unwrap_or("").to_string()
    };
    let component = first_of(
        str_at(v, &["source", "component"]),
        str_at(v, &["reportingComponent"]),
    );
    let instance = first_of(
        str_at(v, &["source", "host"]),
        str_at(v, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(str_at(v, &["type"]).unwrap_or("")),
        json!(str_at(v, &["reason"]).unwrap_or("")),
        json!(target),
        json!(str_at(v, &["involvedObject", "fieldPath"]).unwrap_or("")),
        json!(source),
        json!(str_at(v, &["message"]).unwrap_or("").trim()),
        json!(first),
        json!(count),
        name(v),
    ]
}

fn node_row(v: &Value) -> Vec<Value> {
    let mut status = match at(v, &["status", "conditions"])
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
    {
        Some(c) if c["status"] == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if at(v, &["spec", "unschedulable"]) == Some(&Value::Bool(true)) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = v["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, val)| {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                (!r.is_empty()).then(|| r.to_string())
            } else if k == "kubernetes.io/role" {
                val.as_str().filter(|s| !s.is_empty()).map(String::from)
            } else {
                None
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let address = |ty: &str| {
        at(v, &["status", "addresses"])
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["type"] == ty))
            .and_then(|x| x["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    let info = |k: &str| {
        str_at(v, &["status", "nodeInfo", k])
            .filter(|s| !s.is_empty())
            .unwrap_or("<unknown>")
            .to_string()
    };
    vec![
        name(v),
        json!(status),
        json!(roles),
        age(v),
        json!(str_at(v, &["status", "nodeInfo", "kubeletVersion"]).unwrap_or("")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

/// Access modes as the printer abbreviates them (`RWO,ROX`).
fn access_modes(modes: Option<&Value>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (long, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if modes
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|x| x == long))
        {
            out.push(short);
        }
    }
    out.join(",")
}

fn pvc_row(v: &Value) -> Vec<Value> {
    let phase = if at(v, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else {
        str_at(v, &["status", "phase"]).unwrap_or("")
    };
    let volume = str_at(v, &["spec", "volumeName"]).unwrap_or("");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            str_at(v, &["status", "capacity", "storage"])
                .unwrap_or("0")
                .to_string(),
            access_modes(at(v, &["status", "accessModes"])),
        )
    };
    let class = str_at(v, &["spec", "storageClassName"])
        .or_else(|| {
            str_at(
                v,
                &[
                    "metadata",
                    "annotations",
                    "volume.beta.kubernetes.io/storage-class",
                ],
            )
        })
        .unwrap_or("");
    vec![
        name(v),
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(class),
        json!(str_at(v, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        age(v),
        json!(str_at(v, &["spec", "volumeMode"]).unwrap_or("<unset>")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_status(pod: &Value) -> String {
        pod_cells(pod).reason
    }

    #[test]
    fn pod_status_prefers_last_container_waiting_reason() {
        let p = json!({"status": {"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "state": {"running": {}}},
            {"name": "b", "ready": false, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]}});
        assert_eq!(pod_status(&p), "CrashLoopBackOff");
    }

    #[test]
    fn pod_status_of_finished_and_initializing_pods() {
        let done = json!({"status": {"phase": "Succeeded", "containerStatuses": [
            {"name": "a", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(pod_status(&done), "Completed");
        let failed = json!({"status": {"phase": "Failed", "containerStatuses": [
            {"name": "a", "ready": false, "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(pod_status(&failed), "ExitCode:3");
        let init = json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"running": {}}}]}});
        assert_eq!(pod_status(&init), "Init:0/1");
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}});
        assert_eq!(pod_status(&deleting), "Terminating");
    }

    #[test]
    fn endpoints_and_events_cells() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}], "ports": [{"port": 8080}]}]});
        assert_eq!(
            endpoints_cell(&ep),
            "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 1 more..."
        );
        assert_eq!(endpoints_cell(&json!({})), "<none>");
        let ev = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{a}"},
            "source": {"component": "kubelet", "host": "node-1"}, "message": " hi \n", "type": "Normal", "reason": "Pulled"});
        let row = event_row(&ev);
        assert_eq!(row[3], "pod/p");
        assert_eq!(row[5], "kubelet, node-1");
        assert_eq!(row[6], "hi");
        assert_eq!(row[8], 1);
    }
}
