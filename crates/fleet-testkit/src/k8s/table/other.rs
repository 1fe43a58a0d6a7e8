//! Printers of networking, discovery, coordination and RBAC kinds, and the default printer
//! (`Name`, `Created At`) the real server uses for kinds without one (Roles, ClusterRoles).

use serde_json::{Value, json};

use super::core::load_balancer;
use super::format::{age, list_with_more, name, selector_or_none};
use super::{Col, Printer, RowFn};
use crate::k8s::resources::ResourceType;
use crate::k8s::util::{at, str_at};

/// Kinds without a printer: the name and the creation time in RFC 3339.
pub(super) const DEFAULT: Printer = Printer {
    columns: &[("Name", "string", 0), ("Created At", "date", 0)],
    row: |v| {
        vec![
            name(v),
            json!(str_at(v, &["metadata", "creationTimestamp"]).unwrap_or("")),
        ]
    },
};

pub(super) fn printer(rt: &ResourceType) -> Option<Printer> {
    let (columns, row): (&'static [Col], RowFn) = match (rt.group, rt.plural) {
        ("networking.k8s.io", "ingresses") => (
            &[
                ("Name", "string", 0),
                ("Class", "string", 0),
                ("Hosts", "string", 0),
                ("Address", "string", 0),
                ("Ports", "string", 0),
                ("Age", "string", 0),
            ],
            ingress_row,
        ),
        ("networking.k8s.io", "networkpolicies") => (
            &[
                ("Name", "string", 0),
                ("Pod-Selector", "string", 0),
                ("Age", "string", 0),
            ],
            |v| {
                vec![
                    name(v),
                    json!(selector_or_none(at(v, &["spec", "podSelector"]))),
                    age(v),
                ]
            },
        ),
        ("discovery.k8s.io", "endpointslices") => (
            &[
                ("Name", "string", 0),
                ("AddressType", "string", 0),
                ("Ports", "string", 0),
                ("Endpoints", "string", 0),
                ("Age", "string", 0),
            ],
            endpointslice_row,
        ),
        ("coordination.k8s.io", "leases") => (
            &[
                ("Name", "string", 0),
                ("Holder", "string", 0),
                ("Age", "string", 0),
            ],
            |v| {
                vec![
                    name(v),
                    json!(str_at(v, &["spec", "holderIdentity"]).unwrap_or("")),
                    age(v),
                ]
            },
        ),
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => (
            &[
                ("Name", "string", 0),
                ("Role", "string", 0),
                ("Age", "string", 0),
                ("Users", "string", 1),
                ("Groups", "string", 1),
                ("ServiceAccounts", "string", 1),
            ],
            binding_row,
        ),
        _ => return None,
    };
    Some(Printer { columns, row })
}

fn ingress_row(v: &Value) -> Vec<Value> {
    let rules: Vec<&Value> = at(v, &["spec", "rules"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for r in &rules {
        if hosts.len() == 3 {
            more = true;
        }
        if let Some(h) = r["host"].as_str().filter(|h| !h.is_empty() && !more) {
            hosts.push(h);
        }
    }
    let hosts = match (hosts.is_empty(), more) {
        (true, _) => "*".to_string(),
        (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - 3),
        (false, false) => hosts.join(","),
    };
    let tls = at(v, &["spec", "tls"])
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    vec![
        name(v),
        json!(str_at(v, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        json!(hosts),
        json!(load_balancer(at(v, &["status", "loadBalancer"])).join(",")),
        json!(if tls { "80, 443" } else { "80" }),
        age(v),
    ]
}

fn endpointslice_row(v: &Value) -> Vec<Value> {
    let ports: Vec<String> = v["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match (p["port"].as_i64(), p["name"].as_str()) {
            (Some(n), _) => n.to_string(),
            (None, Some(n)) => n.to_string(),
            (None, None) => "*".into(),
        })
        .collect();
    let addresses: Vec<String> = v["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["addresses"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    vec![
        name(v),
        json!(v["addressType"].as_str().unwrap_or("")),
        json!(list_with_more(&ports, 3)),
        json!(list_with_more(&addresses, 3)),
        age(v),
    ]
}

fn binding_row(v: &Value) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in v["subjects"].as_array().into_iter().flatten() {
        let n = s["name"].as_str().unwrap_or("");
        match s["kind"].as_str().unwrap_or("") {
            "User" => users.push(n.to_string()),
            "Group" => groups.push(n.to_string()),
            "ServiceAccount" => {
                sas.push(format!("{}/{n}", s["namespace"].as_str().unwrap_or("")));
            }
            _ => {}
        }
    }
    vec![
        name(v),
        json!(format!(
            "{}/{}",
            str_at(v, &["roleRef", "kind"]).unwrap_or(""),
            str_at(v, &["roleRef", "name"]).unwrap_or("")
        )),
        age(v),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_hosts_and_ports() {
        let ing = json!({"metadata": {"name": "i"}, "spec": {"ingressClassName": "nginx",
            "tls": [{"hosts": ["a.example"]}],
            "rules": [{"host": "a.example"}, {"host": "b.example"}, {"host": "c.example"}, {"host": "d.example"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "20.0.0.2"}, {"ip": "20.0.0.1"}, {"ip": "20.0.0.1"}]}}});
        let row = ingress_row(&ing);
        assert_eq!(row[1], "nginx");
        assert_eq!(row[2], "a.example,b.example,c.example + 1 more...");
        assert_eq!(row[3], "20.0.0.1,20.0.0.2");
        assert_eq!(row[4], "80, 443");
    }

    #[test]
    fn bindings_list_subjects_by_kind() {
        let rb = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"}, "subjects": [
            {"kind": "User", "name": "jane"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]});
        let row = binding_row(&rb);
        assert_eq!(row[1], "Role/r");
        assert_eq!(row[3], "jane");
        assert_eq!(row[5], "ns/sa");
    }
}
