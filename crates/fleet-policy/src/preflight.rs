//! The cluster side of a pre-flight check: the running release is healthy (its rollout is
//! complete, no pod crash-loops) and whoever deploys may do every write the deploy needs.
//!
//! The runbook only names `./scripts/production-preflight-check.sh`; what it checks is read in
//! `docs/decisions.md` ("Pre-flight"). The other pre-flight checks are judged by the rules that
//! already exist: `deploy.window` / `deploy.freeze` / `deploy.hotfix-*`, `backup.rpo`,
//! `metrics.db-connections`, `metrics.cpu-usage` and `metrics.memory-usage`.
//!
//! ```
//! use fleet_policy::preflight::{Permission, crash_loops, permissions, rollout};
//! use fleet_policy::Outcome;
//!
//! assert_eq!(rollout("deployment/fleet-api", true, "successfully rolled out").outcome, Outcome::Pass);
//! assert_eq!(crash_loops("deployment/fleet-api", &["fleet-api-1".into()]).outcome, Outcome::Fail);
//! let denied = Permission::new("patch", "deployments", "apps", "fleet-management", false);
//! assert_eq!(permissions("deployer", &[denied]).outcome, Outcome::Fail);
//! ```

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Outcome, Section};

const S: Section = Section::DeploymentProcedures;

/// `preflight.rollout`: the release running now finished its rollout (a deploy on top of a
/// half-finished or failed rollout cannot be judged, nor cleanly rolled back).
pub fn rollout(subject: &str, complete: bool, message: &str) -> Finding {
    if complete {
        Finding::new("preflight.rollout", subject, Outcome::Pass, S, message)
    } else {
        Finding::new(
            "preflight.rollout",
            subject,
            Outcome::Fail,
            S,
            format!("the current rollout is not complete: {message}"),
        )
        .actions(["wait for the current rollout, or roll it back, before deploying on top of it"])
    }
}

/// `preflight.crash-loop`: no pod of the service is crash-looping before the deploy starts.
pub fn crash_loops(subject: &str, pods: &[String]) -> Finding {
    if pods.is_empty() {
        Finding::new(
            "preflight.crash-loop",
            subject,
            Outcome::Pass,
            S,
            "no pod is crash-looping",
        )
    } else {
        Finding::new(
            "preflight.crash-loop",
            subject,
            Outcome::Fail,
            S,
            format!("{} pod(s) crash-looping: {}", pods.len(), pods.join(", ")),
        )
        .actions([
            "describe the pods and read the previous container's logs",
            "fix the running release before deploying a new one",
        ])
    }
}

/// One access check (`kubectl auth can-i VERB RESOURCE -n NAMESPACE`) and its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// The verb (`patch`).
    pub verb: String,
    /// The resource, with a subresource as `deployments/scale`.
    pub resource: String,
    /// The API group (`apps`; empty for the core group).
    pub group: String,
    /// The namespace.
    pub namespace: String,
    /// Whether the API server allows it.
    pub allowed: bool,
}

impl Permission {
    /// A checked permission.
    pub fn new(verb: &str, resource: &str, group: &str, namespace: &str, allowed: bool) -> Self {
        Self {
            verb: verb.to_owned(),
            resource: resource.to_owned(),
            group: group.to_owned(),
            namespace: namespace.to_owned(),
            allowed,
        }
    }

    fn describe(&self) -> String {
        let resource = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        format!("{} {resource} in {}", self.verb, self.namespace)
    }
}

/// `preflight.rbac`: every permission the procedure needs is granted. No permission checked
/// is Inconclusive (missing data never passes).
pub fn permissions(subject: &str, checked: &[Permission]) -> Finding {
    if checked.is_empty() {
        return Finding::new(
            "preflight.rbac",
            subject,
            Outcome::Inconclusive,
            S,
            "no permission was checked",
        );
    }
    let denied: Vec<String> = checked
        .iter()
        .filter(|p| !p.allowed)
        .map(Permission::describe)
        .collect();
    if denied.is_empty() {
        Finding::new(
            "preflight.rbac",
            subject,
            Outcome::Pass,
            S,
            format!(
                "all {} permission(s) the deploy needs are granted",
                checked.len()
            ),
        )
    } else {
        Finding::new(
            "preflight.rbac",
            subject,
            Outcome::Fail,
            S,
            format!("not allowed: {}", denied.join("; ")),
        )
        .actions(["ask the cluster administrators for the missing permissions before the window"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_checks_pass_only_on_healthy_evidence() {
        assert_eq!(rollout("d", false, "waiting").outcome, Outcome::Fail);
        assert_eq!(crash_loops("d", &[]).outcome, Outcome::Pass);
        let ok = Permission::new("get", "pods", "", "ns", true);
        let no = Permission::new("patch", "deployments", "apps", "ns", false);
        assert_eq!(
            permissions("u", std::slice::from_ref(&ok)).outcome,
            Outcome::Pass
        );
        let f = permissions("u", &[ok, no]);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(f.message.contains("patch deployments.apps in ns"));
        assert_eq!(permissions("u", &[]).outcome, Outcome::Inconclusive);
    }
}
