//! metrics.k8s.io: pod and node usage computed from the pods that are running, in both `v1`
//! and `v1beta1`. The server answers with these documents; the HPA controller reads the same
//! numbers.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::knobs::lock;
use super::resources::{self, ResourceType};
use super::selector::LabelSelector;
use super::shared::Shared;
use super::status::ApiError;
use super::util::{name_of, namespace_of, now_rfc3339, parse_quantity, str_at};

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Usage of one container as (millicores, MiB): the knob's value, or a stable default. A
/// container with requests uses 35 % of its CPU request and 40 % of its memory request (so the
/// seeded `fleet-api` HPA sees 35 % of its 70 % target); one without gets a value from a hash of
/// its name.
pub(crate) fn container_usage(sh: &Shared, ns: &str, pod: &str, container: &Value) -> (u64, u64) {
    let name = container["name"].as_str().unwrap_or("");
    if let Some(u) = lock(&sh.knobs.usage).get(&(ns.into(), pod.into(), name.into())) {
        return *u;
    }
    let h = hash(&format!("{ns}/{pod}/{name}"));
    let request = |r: &str| {
        container["resources"]["requests"][r]
            .as_str()
            .and_then(parse_quantity)
    };
    let cpu = request("cpu").map_or(5 + h % 200, |cores| (cores * 350.0).round() as u64);
    let mem = request("memory").map_or(32 + (h >> 16) % 256, |bytes| {
        (bytes * 0.4 / (1024.0 * 1024.0)).round() as u64
    });
    (cpu, mem)
}

fn running(p: &Value) -> bool {
    str_at(p, &["status", "phase"]) == Some("Running")
}

fn pod_metrics(sh: &Shared, rt: &ResourceType, p: &Value) -> Value {
    let ns = namespace_of(p);
    let name = name_of(p);
    let containers: Vec<Value> = p["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let (cpu, mem) = container_usage(sh, ns, name, c);
            json!({"name": c["name"], "usage": {"cpu": format!("{}n", cpu * 1_000_000), "memory": format!("{}Ki", mem * 1024)}})
        })
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": rt.api_version(),
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": now_rfc3339(),
            "labels": p["metadata"].get("labels").cloned().unwrap_or(json!({}))},
        "timestamp": now_rfc3339(),
        "window": "30s",
        "containers": containers,
    })
}

fn node_metrics(rt: &ResourceType, node: &Value, per_node: &HashMap<String, (u64, u64)>) -> Value {
    let name = name_of(node);
    let (cpu, mem) = per_node.get(name).copied().unwrap_or((0, 0));
    // The node's own daemons use something too.
    let (cpu, mem) = (cpu + 100, mem + 512);
    json!({
        "kind": "NodeMetrics",
        "apiVersion": rt.api_version(),
        "metadata": {"name": name, "creationTimestamp": now_rfc3339(),
            "labels": node["metadata"].get("labels").cloned().unwrap_or(json!({}))},
        "timestamp": now_rfc3339(),
        "window": "20.05s",
        "usage": {"cpu": format!("{}n", cpu * 1_000_000), "memory": format!("{}Ki", mem * 1024)},
    })
}

/// The document for `GET /apis/metrics.k8s.io/{v}/[namespaces/{ns}/]pods[/{name}]` and
/// `.../nodes[/{name}]`.
pub(crate) fn serve(
    sh: &Shared,
    rt: &'static ResourceType,
    ns: &str,
    name: Option<&str>,
    labels: &LabelSelector,
) -> Result<Value, ApiError> {
    let pods_rt = resources::resolve("pods").ok_or_else(ApiError::no_route)?;
    let nodes_rt = resources::resolve("nodes").ok_or_else(ApiError::no_route)?;
    let ns_filter = (!ns.is_empty()).then_some(ns);
    let items: Vec<Value> = if rt.plural == "pods" {
        let (pods, _) = sh.store.list_in(pods_rt, ns_filter);
        pods.iter()
            .filter(|p| running(&p.value) && labels.matches(&p.value))
            .filter(|p| name.is_none_or(|n| n == name_of(&p.value)))
            .map(|p| pod_metrics(sh, rt, &p.value))
            .collect()
    } else {
        let (pods, _) = sh.store.list_in(pods_rt, None);
        let mut per_node: HashMap<String, (u64, u64)> = HashMap::new();
        for p in pods.iter().filter(|p| running(&p.value)) {
            let node = str_at(&p.value, &["spec", "nodeName"])
                .unwrap_or("")
                .to_string();
            for c in p.value["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let (cpu, mem) = container_usage(sh, namespace_of(&p.value), name_of(&p.value), c);
                let e = per_node.entry(node.clone()).or_default();
                e.0 += cpu;
                e.1 += mem;
            }
        }
        let (nodes, _) = sh.store.list_in(nodes_rt, None);
        nodes
            .iter()
            .filter(|n| labels.matches(&n.value) && name.is_none_or(|x| x == name_of(&n.value)))
            .map(|n| node_metrics(rt, &n.value, &per_node))
            .collect()
    };
    match name {
        Some(n) => items
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found(rt, n)),
        None => Ok(
            json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": {}, "items": items}),
        ),
    }
}
