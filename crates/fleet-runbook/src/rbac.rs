//! Least privilege: the Kubernetes permissions of each procedure as data, the Role (and, for
//! cluster-scoped reads, ClusterRole) generated from them, the table in `docs/rbac.md`, and a
//! check that the caller holds all of them before a procedure changes anything.
//!
//! Each [`Permission`] is named after the fleet-k8s call that needs it (`Deployments::
//! set_image` needs `patch` on `deployments`), so a procedure's set is the union of what its
//! module calls and no more. [`role`] turns the namespaced part of a set into a
//! `rbac.authorization.k8s.io/v1` Role; [`cluster_role`] turns the cluster-scoped part (`list`
//! `nodes` of `metrics.k8s.io` for `kubectl top nodes`) into a ClusterRole, bound with a
//! ClusterRoleBinding. [`verify_access`] asks the API server (one `SelfSubjectRulesReview` for
//! the namespace, access reviews for what it cannot answer and, with no namespace, for every
//! cluster-scoped permission) whether the caller may do each of them, and fails with
//! [`Error::Forbidden`] naming every verb and resource it may not. The procedures that work on
//! a cluster (pre-flight, deploy, validate, rollback, database rollback, performance triage,
//! common issues, the incident's assess and mitigate, the security response's isolate, assess
//! and contain, credential rotation, and disaster recovery against the recovery cluster's
//! authorizer) run it as their first step (`verify-access`), so one run under too small a Role
//! stops before its first write instead of half way. [`CONFIG_KINDS`] is the one list of the
//! configuration backup's kinds: the backup's Role lists them, the recovery's Role writes them.

use std::fmt;

use futures::stream::{self, StreamExt};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use serde::Serialize;
use serde_json::json;

use crate::error::{Error, Result};

/// One rule of a Role: verbs on a resource (or a subresource) of an API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Permission {
    /// API group (`""` for core, `apps`, `coordination.k8s.io`...).
    pub group: &'static str,
    /// Plural resource (`deployments`).
    pub resource: &'static str,
    /// Subresource (`log`, `scale`, `exec`), if the rule is for one.
    pub subresource: Option<&'static str>,
    /// Verbs allowed.
    pub verbs: &'static [&'static str],
    /// The fleet-k8s calls (or other users) that need it.
    pub used_by: &'static str,
    /// The resource is cluster-scoped (`nodes`): a namespaced Role cannot grant it, so it goes
    /// into the procedure's ClusterRole ([`cluster_role`]) and is asked about with no namespace.
    pub cluster_scoped: bool,
}

impl Permission {
    const fn new(
        group: &'static str,
        resource: &'static str,
        verbs: &'static [&'static str],
        used_by: &'static str,
    ) -> Self {
        Self {
            group,
            resource,
            subresource: None,
            verbs,
            used_by,
            cluster_scoped: false,
        }
    }

    const fn cluster(mut self) -> Self {
        self.cluster_scoped = true;
        self
    }

    const fn sub(mut self, subresource: &'static str) -> Self {
        self.subresource = Some(subresource);
        self
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn rule_resource(&self) -> String {
        match self.subresource {
            Some(s) => format!("{}/{s}", self.resource),
            None => self.resource.to_string(),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        write!(
            f,
            "{} {} ({group}{})",
            self.verbs.join(","),
            self.rule_resource(),
            if self.cluster_scoped {
                ", cluster-scoped"
            } else {
                ""
            }
        )
    }
}

/// The permissions of one procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProcedurePermissions {
    /// The procedure (`rollback`), also the Role's name suffix.
    pub procedure: &'static str,
    /// What it may do.
    pub permissions: &'static [Permission],
}

const LEASE: Permission = Permission::new(
    "coordination.k8s.io",
    "leases",
    &["get", "create", "update"],
    "fleet_k8s::LeaseLock (one operation at a time)",
);
const LEASE_READ: Permission = Permission::new(
    "coordination.k8s.io",
    "leases",
    &["get"],
    "TargetLock::current (who holds the target)",
);
const GET_DEPLOYMENT: Permission = Permission::new(
    "apps",
    "deployments",
    &["get"],
    "Deployments::get_deployment",
);
const WATCH_ROLLOUT: Permission = Permission::new(
    "apps",
    "deployments",
    &["get", "list", "watch"],
    "Deployments::get_deployment, rollout_status",
);
const PATCH_DEPLOYMENT: Permission = Permission::new(
    "apps",
    "deployments",
    &["patch"],
    "Deployments::set_image, rollout_undo",
);
const HISTORY: Permission = Permission::new(
    "apps",
    "replicasets",
    &["list"],
    "Deployments::rollout_history, rollout_undo",
);
const LIST_PODS: Permission = Permission::new("", "pods", &["list"], "Pods::list_pods");
const GET_PODS: Permission = Permission::new(
    "",
    "pods",
    &["get", "list"],
    "Pods::list_pods, get_pod, diagnose_pod",
);
const EVENTS: Permission = Permission::new(
    "",
    "events",
    &["list"],
    "Events::list_events, Pods::diagnose_pod",
);
const WATCH_EVENTS: Permission = Permission::new(
    "",
    "events",
    &["list", "watch"],
    "Events::list_events, watch_events (the rollout wait's pod warnings)",
);
const LOGS: Permission =
    Permission::new("", "pods", &["get"], "Logs::logs, logs_by_selector").sub("log");
const HPA: Permission = Permission::new(
    "autoscaling",
    "horizontalpodautoscalers",
    &["get"],
    "Autoscaling::get_autoscaler",
);
const TOP_PODS: Permission =
    Permission::new("metrics.k8s.io", "pods", &["list"], "Metrics::top_pods");
const NETWORK_READ: Permission = Permission::new(
    "networking.k8s.io",
    "ingresses",
    &["get", "list"],
    "Networking::describe_ingress, list_ingresses",
);
const SERVICES: Permission =
    Permission::new("", "services", &["list"], "Networking::list_services");
const SCALE: Permission =
    Permission::new("apps", "deployments", &["patch"], "Deployments::scale").sub("scale");
const CONFIG_REFS: Permission = Permission::new(
    "",
    "secrets",
    &["get"],
    "Pods::diagnose_pod (whether a referenced Secret exists)",
);
const CONFIGMAP_REFS: Permission = Permission::new(
    "",
    "configmaps",
    &["get"],
    "Pods::diagnose_pod (whether a referenced ConfigMap exists)",
);
const LIST_INGRESSES: Permission = Permission::new(
    "networking.k8s.io",
    "ingresses",
    &["list"],
    "Networking::list_ingresses",
);
const TOP_NODES: Permission = Permission::new(
    "metrics.k8s.io",
    "nodes",
    &["list"],
    "Metrics::top_nodes (node usage)",
)
.cluster();
const NODES: Permission = Permission::new(
    "",
    "nodes",
    &["list"],
    "Metrics::top_nodes (allocatable CPU and memory, for percentages)",
)
.cluster();
const RESTART: Permission = Permission::new(
    "apps",
    "deployments",
    &["get", "patch"],
    "Deployments::rollout_restart",
);
const ROLLOUT_HISTORY: Permission = Permission::new(
    "apps",
    "replicasets",
    &["list"],
    "Deployments::rollout_history",
);

/// The kinds of the configuration backup, as (API group, plural resource): what the scheduled
/// backup lists (`backup-config`) and what a recovery restores and so may write (`dr`). One
/// list, so the two Roles cannot drift apart.
pub const CONFIG_KINDS: [(&str, &str); 7] = [
    ("", "configmaps"),
    ("", "secrets"),
    ("", "services"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("networking.k8s.io", "ingresses"),
    ("autoscaling", "horizontalpodautoscalers"),
];

/// `verbs` on every kind of [`CONFIG_KINDS`].
const fn per_config_kind(
    verbs: &'static [&'static str],
    used_by: &'static str,
) -> [Permission; CONFIG_KINDS.len()] {
    let mut out = [Permission::new("", "", verbs, used_by); CONFIG_KINDS.len()];
    let mut i = 0;
    while i < CONFIG_KINDS.len() {
        out[i] = Permission::new(CONFIG_KINDS[i].0, CONFIG_KINDS[i].1, verbs, used_by);
        i += 1;
    }
    out
}

/// `a` then `b`, as one array of their combined length `N` (checked when compiling).
const fn join<const N: usize>(a: &[Permission], b: &[Permission]) -> [Permission; N] {
    assert!(a.len() + b.len() == N, "N is the combined length");
    let mut out = [LEASE_READ; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[i + j] = b[j];
        j += 1;
    }
    out
}

const BACKUP_CONFIG: [Permission; CONFIG_KINDS.len() + 1] = join(
    &per_config_kind(&["list"], "Export::export_namespace (configuration backup)"),
    &[LEASE],
);

const DR: [Permission; CONFIG_KINDS.len() + 5] = join(
    &per_config_kind(
        &["get", "create", "update"],
        "fleet_backup::restore_config (get, server-side dry-run create or update, then create); \
         point-at-database (get, update the host's ConfigMap or Secret)",
    ),
    &[
        Permission::new(
            "",
            "namespaces",
            &["get"],
            "fleet_backup::restore_config (whether the recovery namespace exists)",
        )
        .cluster(),
        WATCH_ROLLOUT,
        Permission::new(
            "apps",
            "deployments",
            &["patch"],
            "Deployments::rollout_restart (restart-deployments)",
        ),
        LIST_PODS,
        SERVICES,
    ],
);

/// Every procedure's permissions, in the order of the runbook.
pub const PROCEDURE_PERMISSIONS: &[ProcedurePermissions] = &[
    ProcedurePermissions {
        procedure: "preflight",
        permissions: &[
            GET_DEPLOYMENT,
            HISTORY,
            LIST_PODS,
            EVENTS,
            HPA,
            TOP_PODS,
            LEASE_READ,
        ],
    },
    ProcedurePermissions {
        procedure: "deploy",
        // The deploy runs the pre-flight's reads first and the validation last.
        permissions: &[
            WATCH_ROLLOUT,
            PATCH_DEPLOYMENT,
            HISTORY,
            GET_PODS,
            WATCH_EVENTS,
            LOGS,
            HPA,
            TOP_PODS,
            LEASE,
        ],
    },
    ProcedurePermissions {
        procedure: "validate",
        permissions: &[WATCH_ROLLOUT, LIST_PODS, EVENTS, LOGS, TOP_PODS],
    },
    ProcedurePermissions {
        procedure: "rollback",
        permissions: &[
            WATCH_ROLLOUT,
            PATCH_DEPLOYMENT,
            HISTORY,
            LIST_PODS,
            EVENTS,
            LEASE,
        ],
    },
    ProcedurePermissions {
        procedure: "db-rollback",
        permissions: &[
            Permission::new(
                "",
                "configmaps",
                &["get", "patch"],
                "ConfigData::config_map_value, set_config_map_value (the database host)",
            ),
            Permission::new(
                "",
                "secrets",
                &["get", "patch"],
                "ConfigData::secret_keys, set_secret_value (the database host)",
            ),
            WATCH_ROLLOUT,
            Permission::new(
                "apps",
                "deployments",
                &["patch"],
                "Deployments::rollout_restart",
            ),
            LIST_PODS,
            LEASE,
        ],
    },
    ProcedurePermissions {
        procedure: "triage",
        permissions: &[
            GET_PODS,
            EVENTS,
            CONFIG_REFS,
            CONFIGMAP_REFS,
            LOGS,
            NETWORK_READ,
            SERVICES,
        ],
    },
    ProcedurePermissions {
        procedure: "perf-triage",
        // The reads, then the quick fixes the run may be asked for.
        permissions: &[
            LIST_PODS,
            SERVICES,
            LIST_INGRESSES,
            TOP_NODES,
            NODES,
            TOP_PODS,
            SCALE,
            RESTART,
        ],
    },
    ProcedurePermissions {
        procedure: "common-issues",
        permissions: &[
            GET_PODS,
            EVENTS,
            CONFIG_REFS,
            CONFIGMAP_REFS,
            LOGS,
            GET_DEPLOYMENT,
            ROLLOUT_HISTORY,
        ],
    },
    ProcedurePermissions {
        procedure: "incident",
        // One Role for the phases that touch the cluster: assess (reads) and mitigate (the
        // recommended rollback, scale-up or circuit breaker, under the target lock).
        permissions: &[
            LIST_PODS,
            GET_DEPLOYMENT,
            ROLLOUT_HISTORY,
            LOGS,
            EVENTS,
            Permission::new(
                "apps",
                "deployments",
                &["patch"],
                "Deployments::rollout_undo (mitigate: rollback)",
            ),
            SCALE,
            Permission::new(
                "",
                "configmaps",
                &["patch"],
                "ConfigData::set_config_map_value (mitigate: circuit breaker)",
            ),
            LEASE,
        ],
    },
    ProcedurePermissions {
        procedure: "security",
        // isolate, assess and contain: one Role for the response.
        permissions: &[
            Permission::new(
                "networking.k8s.io",
                "ingresses",
                &["get", "patch"],
                "Networking::block_cidrs (isolate: the ingress denylist)",
            ),
            Permission::new("", "events", &["list"], "Events::list_events (assess)"),
            Permission::new(
                "",
                "secrets",
                &["list", "delete"],
                "ConfigData::token_secrets, delete_secret (contain: service-account tokens)",
            ),
        ],
    },
    ProcedurePermissions {
        procedure: "rotation",
        permissions: &[
            Permission::new(
                "",
                "secrets",
                &["patch"],
                "ConfigData::set_secret_value (the new credential)",
            ),
            RESTART,
            WATCH_ROLLOUT,
        ],
    },
    ProcedurePermissions {
        procedure: "backup-config",
        permissions: &BACKUP_CONFIG,
    },
    ProcedurePermissions {
        procedure: "dr",
        // In the recovery cluster's namespace (the Role is bound there, so the namespace
        // exists before the recovery: creating it is the cluster administrator's, and the
        // restore only asks whether it exists).
        permissions: &DR,
    },
];

/// The permissions of `procedure`, if it is one of [`PROCEDURE_PERMISSIONS`].
pub fn permissions(procedure: &str) -> Option<&'static [Permission]> {
    PROCEDURE_PERMISSIONS
        .iter()
        .find(|p| p.procedure == procedure)
        .map(|p| p.permissions)
}

/// The questions that ask whether the caller holds `permissions` in `namespace`: one
/// [`fleet_k8s::AccessCheck`] per verb (what `kubectl auth can-i` asks, and what the
/// pre-flight's `preflight.rbac` check sends).
/// A cluster-scoped permission is asked with no namespace.
pub fn access_checks(permissions: &[Permission], namespace: &str) -> Vec<fleet_k8s::AccessCheck> {
    permissions
        .iter()
        .flat_map(|p| {
            p.verbs.iter().map(move |verb| {
                let mut check = fleet_k8s::AccessCheck::new(verb, p.resource, p.group, namespace);
                if p.cluster_scoped {
                    check.namespace = None;
                }
                match p.subresource {
                    Some(s) => check.with_subresource(s),
                    None => check,
                }
            })
        })
        .collect()
}

/// The rules granting `permissions`, merged per group and resource (verbs in a stable order).
fn rules(permissions: &[&Permission]) -> Vec<serde_json::Value> {
    let mut rules: Vec<(String, String, Vec<&str>)> = Vec::new();
    for p in permissions {
        let resource = p.rule_resource();
        match rules
            .iter_mut()
            .find(|(g, r, _)| g == p.group && *r == resource)
        {
            Some((_, _, verbs)) => {
                for v in p.verbs {
                    if !verbs.contains(v) {
                        verbs.push(v);
                    }
                }
            }
            None => rules.push((p.group.to_string(), resource, p.verbs.to_vec())),
        }
    }
    rules
        .into_iter()
        .map(|(g, r, v)| json!({"apiGroups": [g], "resources": [r], "verbs": v}))
        .collect()
}

/// The Role granting exactly the namespaced `permissions` in `namespace`, named
/// `fleet-<procedure>`. Rules on the same group and resource are merged (verbs in a stable
/// order); cluster-scoped permissions are left to [`cluster_role`].
///
/// # Errors
/// [`Error::InvalidInput`] if the object cannot be built (it always can for valid names).
pub fn role(procedure: &str, namespace: &str, permissions: &[Permission]) -> Result<Role> {
    let namespaced: Vec<&Permission> = permissions.iter().filter(|p| !p.cluster_scoped).collect();
    let value = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {
            "name": format!("fleet-{procedure}"),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "fleet-runbook", "fleet-runbook/procedure": procedure},
        },
        "rules": rules(&namespaced),
    });
    serde_json::from_value(value).map_err(|e| Error::invalid("role", e.to_string()))
}

/// The ClusterRole granting the cluster-scoped `permissions` (`list nodes` of
/// `metrics.k8s.io` for `kubectl top nodes`), named `fleet-<procedure>`, to be bound with a
/// ClusterRoleBinding; `None` when the procedure has none.
///
/// # Errors
/// [`Error::InvalidInput`] if the object cannot be built (it always can for valid names).
pub fn cluster_role(procedure: &str, permissions: &[Permission]) -> Result<Option<ClusterRole>> {
    let scoped: Vec<&Permission> = permissions.iter().filter(|p| p.cluster_scoped).collect();
    if scoped.is_empty() {
        return Ok(None);
    }
    let value = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": format!("fleet-{procedure}"),
            "labels": {"app.kubernetes.io/part-of": "fleet-runbook", "fleet-runbook/procedure": procedure},
        },
        "rules": rules(&scoped),
    });
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| Error::invalid("cluster role", e.to_string()))
}

/// The table of every procedure's permissions, as in `docs/rbac.md`.
pub fn rbac_table() -> String {
    let mut out = String::from(
        "| procedure | API group | resource | verbs | scope | needed by |\n|---|---|---|---|---|---|\n",
    );
    for p in PROCEDURE_PERMISSIONS {
        for perm in p.permissions {
            let group = if perm.group.is_empty() {
                "(core)"
            } else {
                perm.group
            };
            out.push_str(&format!(
                "| {} | {group} | {} | {} | {} | {} |\n",
                p.procedure,
                perm.rule_resource(),
                perm.verbs.join(", "),
                if perm.cluster_scoped {
                    "cluster (ClusterRole)"
                } else {
                    "namespace"
                },
                perm.used_by
            ));
        }
    }
    out
}

/// Asks the API server whether the caller holds every permission of `permissions` in
/// `namespace` (`procedure` names the run in the error): one `SelfSubjectRulesReview` for the
/// namespace answers every check a listed rule grants, or that a complete list does not; a
/// `SelfSubjectAccessReview` per verb (a few at a time) answers the rest, and all of them when
/// the rules review itself fails.
///
/// # Errors
/// [`Error::Forbidden`] naming every verb and resource refused; [`Error::Source`] when a review
/// could not be made.
#[tracing::instrument(skip_all, fields(procedure, namespace))]
pub async fn verify_access(
    access: &dyn fleet_k8s::Access,
    procedure: &str,
    namespace: &str,
    permissions: &[Permission],
) -> Result<()> {
    let checks = access_checks(permissions, namespace);
    let rules = match access.rules(namespace).await {
        Ok(rules) => Some(rules),
        Err(e) => {
            tracing::debug!(error = %e, "rules review failed; asking verb by verb");
            None
        }
    };
    let answers: Vec<Result<Option<String>>> = stream::iter(checks)
        .map(|check| {
            // The rules review covers the namespace only: a cluster-scoped check is always
            // asked on its own, with no namespace.
            let listed = match check.namespace {
                Some(_) => rules.as_ref().and_then(|r| r.allows(&check)),
                None => None,
            };
            async move {
                let allowed = match listed {
                    Some(allowed) => allowed,
                    None => {
                        access
                            .can_i(&check)
                            .await
                            .map_err(|e| Error::Source {
                                service: "kubernetes access review",
                                transient: e.is_transient(),
                                source: Box::new(e),
                            })?
                            .allowed
                    }
                };
                Ok((!allowed).then(|| refusal(&check)))
            }
        })
        .buffered(4)
        .collect()
        .await;
    let mut missing = Vec::new();
    for a in answers {
        if let Some(m) = a? {
            missing.push(m);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        tracing::warn!(procedure, namespace, ?missing, "missing permissions");
        Err(Error::Forbidden {
            procedure: procedure.to_string(),
            namespace: namespace.to_string(),
            missing,
        })
    }
}

/// `cannot patch resource "deployments" in API group apps`: the API server's own words.
fn refusal(check: &fleet_k8s::AccessCheck) -> String {
    let group = if check.group.is_empty() {
        "\"\""
    } else {
        check.group.as_str()
    };
    let resource = match &check.subresource {
        Some(s) => format!("{}/{s}", check.resource),
        None => check.resource.clone(),
    };
    format!(
        "cannot {} resource \"{resource}\" in API group {group}{}",
        check.verb,
        if check.namespace.is_none() {
            " at the cluster scope"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pre-flight asks exactly what the deploy's Role grants: one list, two uses.
    #[test]
    fn the_preflight_asks_for_the_deploy_role_and_nothing_else() {
        let role = role("deploy", "ns", permissions("deploy").expect("deploy")).expect("role");
        let mut granted: Vec<(String, String, String)> = Vec::new();
        for rule in role.rules.unwrap_or_default() {
            for group in rule.api_groups.unwrap_or_default() {
                for resource in rule.resources.clone().unwrap_or_default() {
                    for verb in &rule.verbs {
                        granted.push((verb.clone(), group.clone(), resource.clone()));
                    }
                }
            }
        }
        let mut asked: Vec<(String, String, String)> = crate::deploy_permissions("ns")
            .into_iter()
            .map(|c| {
                assert_eq!(c.namespace.as_deref(), Some("ns"));
                let resource = match c.subresource {
                    Some(s) => format!("{}/{s}", c.resource),
                    None => c.resource,
                };
                (c.verb, c.group, resource)
            })
            .collect();
        granted.sort();
        asked.sort();
        assert_eq!(asked, granted);
        // What the deploy's own calls need is in it: the watch-based rollout wait.
        for needed in [
            ("watch", "apps", "deployments"),
            ("watch", "", "events"),
            ("patch", "apps", "deployments"),
        ] {
            let needed = (needed.0.into(), needed.1.into(), needed.2.into());
            assert!(asked.contains(&needed), "{needed:?}");
        }
    }

    #[test]
    fn every_procedure_has_a_role_with_merged_rules() {
        for p in PROCEDURE_PERMISSIONS {
            let role = role(p.procedure, "fleet-management", p.permissions).expect("role");
            let rules = role.rules.unwrap_or_default();
            assert!(!rules.is_empty(), "{}", p.procedure);
            let v = serde_json::to_value(&rules).expect("json");
            let mut seen = std::collections::BTreeSet::new();
            for r in v.as_array().expect("array") {
                let key = (r["apiGroups"].to_string(), r["resources"].to_string());
                assert!(
                    seen.insert(key),
                    "{}: rules on one resource merged",
                    p.procedure
                );
            }
        }
        let rollback =
            role("rollback", "ns", permissions("rollback").expect("rollback")).expect("role");
        let v = serde_json::to_value(rollback).expect("json");
        let deployments = v["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .find(|r| r["resources"] == json!(["deployments"]))
            .expect("deployments rule");
        assert_eq!(
            deployments["verbs"],
            json!(["get", "list", "watch", "patch"])
        );
    }

    /// `kubectl top nodes` cannot be granted by a Role: its permissions go to a ClusterRole
    /// and are asked with no namespace; the Role keeps the rest.
    #[test]
    fn cluster_scoped_reads_go_to_a_cluster_role_asked_without_a_namespace() {
        let perms = permissions("perf-triage").expect("perf-triage");
        let role =
            serde_json::to_value(role("perf-triage", "ns", perms).expect("role")).expect("json");
        assert!(!role.to_string().contains("\"nodes\""), "{role}");
        let cluster = cluster_role("perf-triage", perms)
            .expect("cluster role")
            .expect("has one");
        let v = serde_json::to_value(&cluster).expect("json");
        assert_eq!(v["kind"], "ClusterRole");
        assert!(v["metadata"].get("namespace").is_none(), "{v}");
        let rules = v["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 2, "{v}");
        assert!(rules.iter().all(|r| r["resources"] == json!(["nodes"])));
        let checks = access_checks(perms, "ns");
        for c in &checks {
            assert_eq!(c.namespace.is_none(), c.resource == "nodes", "{c:?}");
        }
        assert!(
            cluster_role("deploy", permissions("deploy").expect("deploy"))
                .expect("built")
                .is_none()
        );
        let refused = refusal(
            checks
                .iter()
                .find(|c| c.resource == "nodes")
                .expect("nodes"),
        );
        assert!(refused.ends_with("at the cluster scope"), "{refused}");
    }

    /// The backup lists and the recovery writes the same kinds: both come from CONFIG_KINDS.
    #[test]
    fn the_backup_and_the_recovery_cover_the_same_configuration_kinds() {
        let kinds = |procedure: &str, verb: &str| -> Vec<(&str, &str)> {
            permissions(procedure)
                .expect("role")
                .iter()
                .filter(|p| p.verbs.contains(&verb) && !p.cluster_scoped)
                .filter(|p| p.subresource.is_none())
                .map(|p| (p.group, p.resource))
                .collect()
        };
        assert_eq!(kinds("backup-config", "list"), CONFIG_KINDS);
        assert_eq!(kinds("dr", "create"), CONFIG_KINDS);
        assert_eq!(kinds("dr", "update"), CONFIG_KINDS);
        let dr = permissions("dr").expect("dr");
        let scoped: Vec<String> = dr
            .iter()
            .filter(|p| p.cluster_scoped)
            .map(ToString::to_string)
            .collect();
        assert_eq!(scoped, ["get namespaces (core, cluster-scoped)"]);
    }

    #[test]
    fn the_table_has_a_row_per_permission() {
        let table = rbac_table();
        let rows = PROCEDURE_PERMISSIONS
            .iter()
            .map(|p| p.permissions.len())
            .sum::<usize>();
        assert_eq!(table.lines().count(), rows + 2);
        assert!(table.contains("| incident | apps | deployments/scale | patch |"));
    }
}
