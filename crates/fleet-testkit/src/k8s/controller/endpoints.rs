//! The EndpointSlice and Endpoints controllers: for every Service with a selector, the pods it
//! selects that have an IP (terminal pods left out) become endpoints, `ready` when the pod is
//! Ready and not terminating, with the Service ports resolved against each pod's container
//! ports (a named `targetPort` is looked up by name). Slices hold at most 100 endpoints, keep
//! endpoints where they are when others come and go, and a Service with none keeps one empty
//! placeholder slice, as the real controller does. The v1 Endpoints object of the Service is
//! kept in step too (ready addresses and `notReadyAddresses`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::cx::{Cx, owner_ref, pod_ready};
use crate::k8s::store::Stored;
use crate::k8s::util::{at, name_of, namespace_of, str_at, uid_of};

/// The label that ties a slice to its Service.
const SERVICE_NAME: &str = "kubernetes.io/service-name";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const CONTROLLER: &str = "endpointslice-controller.k8s.io";
const MAX_PER_SLICE: usize = 100;

/// What the controllers remember between passes: the Endpoints objects they wrote, so that
/// those (and only those) go when their Service does.
#[derive(Default)]
pub(super) struct EndpointsControllers {
    written: HashSet<(String, String)>,
}

/// One endpoint as a slice lists it, with the pod's uid and the resolved ports.
struct Member {
    uid: String,
    ports: Vec<Value>,
    endpoint: Value,
    ready: bool,
    address: Value,
}

/// One v1 Endpoints subset in the making: ready addresses, not-ready addresses, ports.
#[derive(Default)]
struct Subset {
    ready: Vec<Value>,
    not_ready: Vec<Value>,
    ports: Vec<Value>,
}

fn selector_of(svc: &Value) -> Option<&serde_json::Map<String, Value>> {
    at(svc, &["spec", "selector"])
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
}

fn selects(sel: &serde_json::Map<String, Value>, pod: &Value) -> bool {
    let labels = &pod["metadata"]["labels"];
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The container port a Service port sends to on this pod, if the pod has it.
fn resolve_port(pod: &Value, svc_port: &Value) -> Option<i64> {
    let protocol = svc_port["protocol"].as_str().unwrap_or("TCP");
    match &svc_port["targetPort"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => {
            let sidecars = pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["restartPolicy"] == "Always");
            pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(sidecars)
                .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                .find(|p| {
                    p["name"] == name.as_str()
                        && p["protocol"].as_str().unwrap_or("TCP") == protocol
                })
                .and_then(|p| p["containerPort"].as_i64())
        }
        _ => svc_port["port"].as_i64(),
    }
}

fn member(svc: &Value, pod: &Value, zones: &HashMap<&str, &str>) -> Option<Member> {
    if matches!(
        str_at(pod, &["status", "phase"]),
        Some("Succeeded" | "Failed")
    ) {
        return None;
    }
    let ip = pod["status"]["podIPs"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|i| i["ip"].as_str())
        .or_else(|| str_at(pod, &["status", "podIP"]))
        .filter(|ip| !ip.is_empty())?
        .to_string();
    let serving = pod_ready(pod);
    let terminating = at(pod, &["metadata", "deletionTimestamp"]).is_some();
    let publish = svc["spec"]["publishNotReadyAddresses"] == true;
    let ready = publish || (serving && !terminating);
    let target = json!({"kind": "Pod", "namespace": namespace_of(pod), "name": name_of(pod), "uid": uid_of(pod)});
    let mut endpoint = json!({
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": target,
    });
    let mut address = json!({"ip": ip, "targetRef": target});
    if let Some(node) = str_at(pod, &["spec", "nodeName"]) {
        endpoint["nodeName"] = json!(node);
        address["nodeName"] = json!(node);
        if let Some(zone) = zones.get(node) {
            endpoint["zone"] = json!(zone);
        }
    }
    if let Some(host) = str_at(pod, &["spec", "hostname"])
        && str_at(pod, &["spec", "subdomain"]) == Some(name_of(svc))
    {
        endpoint["hostname"] = json!(host);
        address["hostname"] = json!(host);
    }
    let ports = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|sp| {
            let port = resolve_port(pod, sp)?;
            let mut p = json!({"name": sp["name"].as_str().unwrap_or(""), "protocol": sp["protocol"].as_str().unwrap_or("TCP"), "port": port});
            if let Some(ap) = sp.get("appProtocol") {
                p["appProtocol"] = ap.clone();
            }
            Some(p)
        })
        .collect();
    Some(Member {
        uid: uid_of(pod).to_string(),
        ports,
        endpoint,
        ready,
        address,
    })
}

fn slice_labels(svc: &Value) -> Value {
    let mut labels = svc["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels[SERVICE_NAME] = json!(name_of(svc));
    labels[MANAGED_BY] = json!(CONTROLLER);
    if str_at(svc, &["spec", "clusterIP"]) == Some("None") {
        labels["service.kubernetes.io/headless"] = json!("");
    }
    labels
}

/// A slice's contents: its ports and endpoints (`null` when empty, as the real server stores
/// them).
fn contents(ports: &[Value], endpoints: &[Value]) -> (Value, Value) {
    let list = |v: &[Value]| {
        if v.is_empty() {
            Value::Null
        } else {
            Value::Array(v.to_vec())
        }
    };
    (list(ports), list(endpoints))
}

impl EndpointsControllers {
    pub(super) fn sync(&mut self, cx: &Cx) {
        let (services, _) = cx.sh.store.list_in(cx.t.services, None);
        let (pods, _) = cx.sh.store.list_in(cx.t.pods, None);
        let (slices, _) = cx.sh.store.list_in(cx.t.slices, None);
        let (nodes, _) = cx.sh.store.list_in(cx.t.nodes, None);
        let zones: HashMap<&str, &str> = nodes
            .iter()
            .filter_map(|n| {
                Some((
                    name_of(&n.value),
                    str_at(
                        &n.value,
                        &["metadata", "labels", "topology.kubernetes.io/zone"],
                    )?,
                ))
            })
            .collect();
        let mut pods_by_ns: HashMap<&str, Vec<&Value>> = HashMap::new();
        for p in &pods {
            pods_by_ns
                .entry(namespace_of(&p.value))
                .or_default()
                .push(&p.value);
        }
        let mut managed: HashMap<(&str, &str), Vec<&Arc<Stored>>> = HashMap::new();
        for s in &slices {
            if str_at(&s.value, &["metadata", "labels", MANAGED_BY]) != Some(CONTROLLER) {
                continue;
            }
            let svc = str_at(&s.value, &["metadata", "labels", SERVICE_NAME]).unwrap_or("");
            managed
                .entry((namespace_of(&s.value), svc))
                .or_default()
                .push(s);
        }
        let mut with_selector: HashSet<(String, String)> = HashSet::new();
        for svc in &services {
            let svc = &svc.value;
            let (ns, name) = (namespace_of(svc), name_of(svc));
            let mine = managed.remove(&(ns, name)).unwrap_or_default();
            let Some(sel) =
                selector_of(svc).filter(|_| str_at(svc, &["spec", "type"]) != Some("ExternalName"))
            else {
                // Selector-less Services get hand-made endpoints; ours go.
                for s in mine {
                    delete_slice(cx, s);
                }
                continue;
            };
            with_selector.insert((ns.to_string(), name.to_string()));
            let mut members: Vec<Member> = pods_by_ns
                .get(ns)
                .into_iter()
                .flatten()
                .filter(|p| selects(sel, p))
                .filter_map(|p| member(svc, p, &zones))
                .collect();
            members.sort_by(|a, b| {
                let n = |m: &Member| {
                    m.endpoint["targetRef"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                };
                n(a).cmp(&n(b))
            });
            reconcile_slices(cx, svc, &members, mine);
            self.write_endpoints(cx, svc, &members);
        }
        // Slices of Services that are gone: the collector removes them through their owner
        // reference; Endpoints have none, so ours are removed here.
        let stale: Vec<(String, String)> = self
            .written
            .iter()
            .filter(|k| !with_selector.contains(*k))
            .cloned()
            .collect();
        for (ns, name) in stale {
            let _ = cx
                .sh
                .store
                .delete_in(cx.t.endpoints, &ns, &name, None, false);
            self.written.remove(&(ns, name));
        }
    }

    fn write_endpoints(&mut self, cx: &Cx, svc: &Value, members: &[Member]) {
        let (ns, name) = (namespace_of(svc), name_of(svc));
        // One subset per distinct port set, ready and not-ready addresses apart.
        let mut subsets: BTreeMap<String, Subset> = BTreeMap::new();
        for m in members {
            let ports: Vec<Value> = m
                .ports
                .iter()
                .map(|p| {
                    let mut q = json!({"port": p["port"], "protocol": p["protocol"]});
                    if let Some(n) = p["name"].as_str().filter(|n| !n.is_empty()) {
                        q["name"] = json!(n);
                    }
                    if let Some(ap) = p.get("appProtocol") {
                        q["appProtocol"] = ap.clone();
                    }
                    q
                })
                .collect();
            let key = Value::Array(ports.clone()).to_string();
            let e = subsets.entry(key).or_insert_with(|| Subset {
                ports,
                ..Subset::default()
            });
            if m.ready {
                e.ready.push(m.address.clone());
            } else {
                e.not_ready.push(m.address.clone());
            }
        }
        let subsets: Vec<Value> = subsets
            .into_values()
            .map(
                |Subset {
                     ready,
                     not_ready,
                     ports,
                 }| {
                    let mut s = json!({});
                    let by_ip = |mut v: Vec<Value>| {
                        v.sort_by(|a, b| a["ip"].as_str().cmp(&b["ip"].as_str()));
                        v
                    };
                    if !ready.is_empty() {
                        s["addresses"] = Value::Array(by_ip(ready));
                    }
                    if !not_ready.is_empty() {
                        s["notReadyAddresses"] = Value::Array(by_ip(not_ready));
                    }
                    if !ports.is_empty() {
                        s["ports"] = Value::Array(ports);
                    }
                    s
                },
            )
            .collect();
        let labels = svc["metadata"].get("labels").cloned();
        let apply = |v: &mut Value| {
            match &labels {
                Some(l) => v["metadata"]["labels"] = l.clone(),
                None => {
                    v["metadata"].as_object_mut().map(|m| m.remove("labels"));
                }
            }
            if subsets.is_empty() {
                v.as_object_mut().map(|m| m.remove("subsets"));
            } else {
                v["subsets"] = Value::Array(subsets.clone());
            }
        };
        match cx.sh.store.get_in(cx.t.endpoints, ns, name) {
            Some(cur) => {
                let mut want = cur.value.clone();
                apply(&mut want);
                if want != cur.value {
                    let _ = cx.sh.store.modify_in(cx.t.endpoints, ns, name, apply);
                }
            }
            None => {
                let mut obj = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}});
                apply(&mut obj);
                if let Err(e) = cx.sh.store.create(cx.t.endpoints, ns, obj, false) {
                    tracing::debug!(error = %e, "fake cluster could not write Endpoints");
                    return;
                }
            }
        }
        self.written.insert((ns.to_string(), name.to_string()));
    }
}

fn delete_slice(cx: &Cx, s: &Arc<Stored>) {
    let _ = cx.sh.store.delete_in(
        cx.t.slices,
        namespace_of(&s.value),
        name_of(&s.value),
        None,
        false,
    );
}

/// Writes a slice when its contents or labels differ from what is stored.
fn update_slice(cx: &Cx, s: &Arc<Stored>, labels: &Value, ports: &[Value], endpoints: &[Value]) {
    let (p, e) = contents(ports, endpoints);
    let cur = &s.value;
    if cur["ports"] == p && cur["endpoints"] == e && cur["metadata"]["labels"] == *labels {
        return;
    }
    let _ = cx
        .sh
        .store
        .modify_in(cx.t.slices, namespace_of(cur), name_of(cur), |v| {
            v["ports"] = p.clone();
            v["endpoints"] = e.clone();
            v["metadata"]["labels"] = labels.clone();
        });
}

fn create_slice(cx: &Cx, svc: &Value, labels: &Value, ports: &[Value], endpoints: &[Value]) {
    let (p, e) = contents(ports, endpoints);
    let ns = namespace_of(svc);
    let obj = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": format!("{}-", name_of(svc)),
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [owner_ref(svc, "v1", "Service")],
        },
        "addressType": "IPv4",
        "endpoints": e,
        "ports": p,
    });
    if let Err(err) = cx.sh.store.create(cx.t.slices, ns, obj, false) {
        tracing::debug!(error = %err, "fake cluster could not create an EndpointSlice");
    }
}

/// Brings the Service's slices to the members: endpoints stay in the slice that has them,
/// newcomers fill slices with room first, then new slices; empty slices go, but one
/// placeholder stays when the Service has no endpoints at all.
fn reconcile_slices(cx: &Cx, svc: &Value, members: &[Member], mut mine: Vec<&Arc<Stored>>) {
    mine.sort_by(|a, b| name_of(&a.value).cmp(name_of(&b.value)));
    let labels = slice_labels(svc);
    // Members grouped by their resolved ports.
    let mut groups: Vec<(Vec<Value>, Vec<&Member>)> = Vec::new();
    for m in members {
        match groups.iter_mut().find(|(p, _)| *p == m.ports) {
            Some((_, g)) => g.push(m),
            None => groups.push((m.ports.clone(), vec![m])),
        }
    }
    if groups.is_empty() {
        let mut it = mine.into_iter();
        match it.next() {
            Some(first) => update_slice(cx, first, &labels, &[], &[]),
            None => create_slice(cx, svc, &labels, &[], &[]),
        }
        for s in it {
            delete_slice(cx, s);
        }
        return;
    }
    let mut used: HashSet<&str> = HashSet::new();
    for (ports, group) in &groups {
        let wanted: HashMap<&str, &Member> = group.iter().map(|m| (m.uid.as_str(), *m)).collect();
        let mut placed: HashSet<&str> = HashSet::new();
        // Existing slices with these ports keep the endpoints still wanted.
        let mut kept: Vec<(&Arc<Stored>, Vec<Value>)> = Vec::new();
        let candidates: Vec<&Arc<Stored>> = mine
            .iter()
            .copied()
            .filter(|s| {
                !used.contains(name_of(&s.value))
                    && s.value["ports"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                        == ports.as_slice()
            })
            .collect();
        for s in candidates {
            let mut eps = Vec::new();
            for e in s.value["endpoints"].as_array().into_iter().flatten() {
                let uid = e["targetRef"]["uid"].as_str().unwrap_or("");
                if let Some((uid, m)) = wanted.get_key_value(uid)
                    && placed.insert(uid)
                {
                    eps.push(m.endpoint.clone());
                }
            }
            used.insert(name_of(&s.value));
            kept.push((s, eps));
        }
        let mut rest = group
            .iter()
            .filter(|m| !placed.contains(m.uid.as_str()))
            .map(|m| m.endpoint.clone());
        for (_, eps) in &mut kept {
            while eps.len() < MAX_PER_SLICE {
                match rest.next() {
                    Some(e) => eps.push(e),
                    None => break,
                }
            }
        }
        for (s, eps) in &kept {
            if eps.is_empty() {
                delete_slice(cx, s);
            } else {
                update_slice(cx, s, &labels, ports, eps);
            }
        }
        let rest: Vec<Value> = rest.collect();
        for chunk in rest.chunks(MAX_PER_SLICE) {
            create_slice(cx, svc, &labels, ports, chunk);
        }
    }
    for s in mine.iter().filter(|s| !used.contains(name_of(&s.value))) {
        delete_slice(cx, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let pod = json!({"spec": {"containers": [{"name": "a", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]}});
        assert_eq!(
            resolve_port(
                &pod,
                &json!({"port": 80, "targetPort": "http", "protocol": "TCP"})
            ),
            Some(8080)
        );
        assert_eq!(
            resolve_port(
                &pod,
                &json!({"port": 80, "targetPort": "grpc", "protocol": "TCP"})
            ),
            None
        );
        assert_eq!(
            resolve_port(&pod, &json!({"port": 80, "targetPort": 9090})),
            Some(9090)
        );
    }

    #[test]
    fn members_are_ready_only_when_the_pod_is_ready() {
        let svc = json!({"metadata": {"name": "db"}, "spec": {"ports": [{"name": "pg", "port": 5432, "targetPort": 5432, "protocol": "TCP"}]}});
        let mut pod = json!({"metadata": {"name": "db-0", "namespace": "n", "uid": "u"},
            "spec": {"nodeName": "node-a", "hostname": "db-0", "subdomain": "db"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.9"}],
                "conditions": [{"type": "Ready", "status": "True"}]}});
        let zones = HashMap::from([("node-a", "zone-1")]);
        let m = member(&svc, &pod, &zones).expect("member");
        assert!(m.ready);
        assert_eq!(m.endpoint["hostname"], "db-0");
        assert_eq!(m.endpoint["zone"], "zone-1");
        assert_eq!(m.ports[0]["port"], 5432);
        pod["status"]["conditions"][0]["status"] = json!("False");
        assert!(!member(&svc, &pod, &zones).expect("member").ready);
        pod["status"]["phase"] = json!("Failed");
        assert!(member(&svc, &pod, &zones).is_none());
    }
}
