//! RBAC as the API server evaluates it: ClusterRoleBindings first, then the RoleBindings of
//! the request's namespace; a binding applies when one of its subjects is the user, one of the
//! user's groups, or the user's service account; the request is allowed by the first rule of
//! the bound role that covers verb, API group, resource (with subresource) and name, or the
//! non-resource path. RBAC only allows; anything not allowed is denied. Members of
//! `system:masters` are allowed everything without RBAC being consulted, as on a real server.
//! Aggregated ClusterRoles (`aggregationRule`) are not expanded.

use serde_json::Value;

use super::attributes::{Attributes, ResourceAttributes};
use super::identity::{Identity, MASTERS};
use crate::k8s::resources::{self, ResourceType};
use crate::k8s::store::Store;
use crate::k8s::util::{name_of, namespace_of, str_at};

/// The outcome: allowed or not, with the reason the real authorizer gives (`RBAC: allowed by
/// ...`, or the errors met while resolving roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) allowed: bool,
    pub(crate) reason: String,
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn has(list: &[&str], want: &str) -> bool {
    list.iter().any(|x| *x == want || *x == "*")
}

/// Whether one rule allows the request.
pub(crate) fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    let verbs = strings(&rule["verbs"]);
    if !has(&verbs, &attrs.verb) {
        return false;
    }
    match &attrs.resource {
        Some(r) => resource_rule_allows(rule, r),
        None => strings(&rule["nonResourceURLs"]).iter().any(|u| {
            *u == "*"
                || *u == attrs.path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| attrs.path.starts_with(prefix))
        }),
    }
}

fn resource_rule_allows(rule: &Value, r: &ResourceAttributes) -> bool {
    if !has(&strings(&rule["apiGroups"]), &r.group) {
        return false;
    }
    let resources = strings(&rule["resources"]);
    let full = r.full_resource();
    let resource_ok = resources.iter().any(|x| {
        *x == "*"
            || *x == full
            || (!r.subresource.is_empty() && *x == format!("*/{}", r.subresource))
    });
    if !resource_ok {
        return false;
    }
    let names = strings(&rule["resourceNames"]);
    names.is_empty() || names.contains(&r.name.as_str())
}

/// How a subject of a binding matches the user, described as the real authorizer does.
fn subject_matches(subject: &Value, id: &Identity, binding_ns: &str) -> Option<String> {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str().unwrap_or("") {
        "User" if id.name == name => Some(format!("User {name:?}")),
        "Group" if id.in_group(name) => Some(format!("Group {name:?}")),
        "ServiceAccount" => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            (id.name == format!("system:serviceaccount:{ns}:{name}"))
                .then(|| format!("ServiceAccount {:?}", format!("{name}/{ns}")))
        }
        _ => None,
    }
}

fn rbac_type(plural: &str) -> Option<&'static ResourceType> {
    resources::find("rbac.authorization.k8s.io", "v1", plural)
}

/// The rules a binding grants, or the error of resolving its role.
fn bound_rules(store: &Store, binding: &Value) -> Result<Vec<Value>, String> {
    let kind = str_at(binding, &["roleRef", "kind"]).unwrap_or("");
    let role = str_at(binding, &["roleRef", "name"]).unwrap_or("");
    let (plural, singular, ns) = match kind {
        "ClusterRole" => ("clusterroles", "clusterrole", ""),
        "Role" => ("roles", "role", namespace_of(binding)),
        _ => return Err(format!("unsupported role reference kind: {kind:?}")),
    };
    rbac_type(plural)
        .and_then(|rt| store.get_in(rt, ns, role))
        .map(|r| r.value["rules"].as_array().cloned().unwrap_or_default())
        .ok_or_else(|| format!("{singular}.rbac.authorization.k8s.io {role:?} not found"))
}

/// Every binding that applies to `id` for a request in `namespace` (all cluster bindings
/// first), with how it matched.
fn applicable(store: &Store, id: &Identity, namespace: &str) -> Vec<(Value, String)> {
    let mut out = Vec::new();
    let describe = |b: &Value, cluster: bool, subject: String| {
        let kind = str_at(b, &["roleRef", "kind"]).unwrap_or("");
        let role = str_at(b, &["roleRef", "name"]).unwrap_or("");
        if cluster {
            format!(
                "ClusterRoleBinding {:?} of {kind} {role:?} to {subject}",
                name_of(b)
            )
        } else {
            format!(
                "RoleBinding {:?} of {kind} {role:?} to {subject}",
                format!("{}/{}", name_of(b), namespace_of(b))
            )
        }
    };
    if let Some(rt) = rbac_type("clusterrolebindings") {
        for b in store.list_in(rt, None).0 {
            let subjects = b.value["subjects"].as_array().cloned().unwrap_or_default();
            if let Some(m) = subjects.iter().find_map(|s| subject_matches(s, id, "")) {
                out.push((b.value.clone(), describe(&b.value, true, m)));
            }
        }
    }
    if !namespace.is_empty()
        && let Some(rt) = rbac_type("rolebindings")
    {
        for b in store.list_in(rt, Some(namespace)).0 {
            let subjects = b.value["subjects"].as_array().cloned().unwrap_or_default();
            if let Some(m) = subjects
                .iter()
                .find_map(|s| subject_matches(s, id, namespace))
            {
                out.push((b.value.clone(), describe(&b.value, false, m)));
            }
        }
    }
    out
}

/// Authorizes one request.
pub(crate) fn authorize(store: &Store, id: &Identity, attrs: &Attributes) -> Decision {
    if id.in_group(MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let ns = attrs.resource.as_ref().map_or("", |r| r.namespace.as_str());
    let mut errors = Vec::new();
    for (binding, described) in applicable(store, id, ns) {
        match bound_rules(store, &binding) {
            Ok(rules) => {
                if rules.iter().any(|r| rule_allows(r, attrs)) {
                    return Decision {
                        allowed: true,
                        reason: format!("RBAC: allowed by {described}"),
                    };
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let reason = match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    };
    Decision {
        allowed: false,
        reason,
    }
}

/// The rules that apply to `id` in `namespace` (SelfSubjectRulesReview), as
/// `(resourceRules, nonResourceRules, incomplete)`.
pub(crate) fn rules_for(
    store: &Store,
    id: &Identity,
    namespace: &str,
) -> (Vec<Value>, Vec<Value>, bool) {
    let (mut resource_rules, mut non_resource) = (Vec::new(), Vec::new());
    let mut incomplete = false;
    for (binding, _) in applicable(store, id, namespace) {
        match bound_rules(store, &binding) {
            Ok(rules) => {
                for r in rules {
                    let mut out = serde_json::Map::new();
                    out.insert("verbs".into(), r["verbs"].clone());
                    if r.get("nonResourceURLs").is_some_and(|u| !u.is_null()) {
                        out.insert("nonResourceURLs".into(), r["nonResourceURLs"].clone());
                        non_resource.push(Value::Object(out));
                    } else {
                        for k in ["apiGroups", "resources", "resourceNames"] {
                            if let Some(v) = r.get(k).filter(|v| !v.is_null()) {
                                out.insert(k.into(), v.clone());
                            }
                        }
                        resource_rules.push(Value::Object(out));
                    }
                }
            }
            Err(_) => incomplete = true,
        }
    }
    (resource_rules, non_resource, incomplete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;
    use serde_json::json;
    use std::collections::HashMap;

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                group: group.into(),
                version: "v1".into(),
                resource: resource.into(),
                subresource: sub.into(),
                name: name.into(),
                namespace: "ns".into(),
            }),
            path: String::new(),
        }
    }

    #[test]
    fn rules_match_like_rbac() {
        let rule =
            json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]});
        assert!(rule_allows(
            &rule,
            &attrs("patch", "apps", "deployments", "", "x")
        ));
        assert!(
            !rule_allows(&rule, &attrs("patch", "apps", "deployments", "scale", "x")),
            "plain resource does not cover the subresource"
        );
        assert!(!rule_allows(
            &rule,
            &attrs("delete", "apps", "deployments", "", "x")
        ));
        assert!(!rule_allows(
            &rule,
            &attrs("get", "", "deployments", "", "x")
        ));
        let sub = json!({"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["*"]});
        assert!(rule_allows(
            &sub,
            &attrs("patch", "apps", "deployments", "scale", "x")
        ));
        let named = json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get", "list"]});
        assert!(rule_allows(
            &named,
            &attrs("get", "", "configmaps", "", "a")
        ));
        assert!(!rule_allows(
            &named,
            &attrs("get", "", "configmaps", "", "b")
        ));
        assert!(
            !rule_allows(&named, &attrs("list", "", "configmaps", "", "")),
            "an unfiltered list has no name"
        );
        let paths = json!({"nonResourceURLs": ["/healthz/*", "/version"], "verbs": ["get"]});
        assert!(rule_allows(
            &paths,
            &Attributes::non_resource(&Method::GET, "/healthz/etcd")
        ));
        assert!(rule_allows(
            &paths,
            &Attributes::non_resource(&Method::GET, "/version")
        ));
        assert!(!rule_allows(
            &paths,
            &Attributes::non_resource(&Method::GET, "/apis")
        ));
    }

    #[test]
    fn list_pinned_by_field_selector_is_authorized_by_name() {
        let rt = resources::resolve("configmaps").expect("known");
        let q = HashMap::from([("fieldSelector".to_string(), "metadata.name=a".to_string())]);
        let a = Attributes::resource(&Method::GET, rt, Some("ns"), None, None, &q, "/x");
        assert_eq!(a.verb, "list");
        assert_eq!(a.resource.map(|r| r.name), Some("a".to_string()));
    }

    #[test]
    fn service_account_subjects_default_to_the_binding_namespace() {
        let id = Identity::service_account("ns", "robot");
        let s = json!({"kind": "ServiceAccount", "name": "robot"});
        assert_eq!(
            subject_matches(&s, &id, "ns").as_deref(),
            Some("ServiceAccount \"robot/ns\"")
        );
        assert_eq!(subject_matches(&s, &id, "other"), None);
    }
}
