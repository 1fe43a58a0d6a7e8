//! The first step of every procedure that works on a cluster: ask the API server whether the
//! identity it runs as holds every permission of the procedure's Role ([`crate::rbac`]), and
//! stop before any write when it does not.
//!
//! The answer comes from the cluster's own authorizer (one `SelfSubjectRulesReview`, with a
//! `SelfSubjectAccessReview` for what an incomplete rules list cannot answer; every
//! authenticated identity may create both), so a Role that lost a verb, a binding that
//! was never made, or a kubeconfig for the wrong user shows up as one typed refusal naming
//! each verb and resource, instead of a 403 half way through a rollout.

use fleet_guard::{Executor, Plan, Step};
use fleet_policy::Policy;
use jiff::Timestamp;

use crate::procedures::deps::Kube;
use crate::rbac::{permissions, verify_access};
use crate::report::Report;

/// The step's id in every plan.
pub(crate) const VERIFY_ACCESS: &str = "verify-access";

/// The plan step: a read of the namespace's authorizer for `procedure`'s Role.
pub(crate) fn access_step(kube: &Kube, procedure: &str) -> Step {
    access_step_in(&kube.namespace, procedure)
}

/// The plan step for `procedure`'s Role in `namespace`.
pub(crate) fn access_step_in(namespace: &str, procedure: &str) -> Step {
    let checks = permissions(procedure)
        .map(|p| p.iter().map(|p| p.verbs.len()).sum::<usize>())
        .unwrap_or(0);
    Step::read(
        VERIFY_ACCESS,
        &format!("namespace/{namespace}"),
        format!(
            "may this identity do the {checks} things the fleet-{procedure} Role grants? (one \
             SelfSubjectRulesReview; stops here, before any write, if not)"
        ),
    )
}

/// Runs the access step. `Ok(())` when every verb of `procedure`'s Role is granted (or the
/// procedure has no Role in [`crate::PROCEDURE_PERMISSIONS`]); otherwise the error's text,
/// for [`Report::forbidden`] or [`Report::from_run`] (a review that could not be made is a
/// failed read, not a refusal).
pub(crate) async fn verify(run: &Executor, kube: &Kube, procedure: &str) -> Result<(), Denied> {
    verify_in(run, &*kube.access, &kube.namespace, procedure).await
}

/// [`verify`] with the authorizer `access` of `namespace` (a cluster other than the
/// procedure's [`Kube`], such as a recovery cluster).
pub(crate) async fn verify_in(
    run: &Executor,
    access: &dyn fleet_k8s::Access,
    namespace: &str,
    procedure: &str,
) -> Result<(), Denied> {
    let Some(perms) = permissions(procedure) else {
        return Ok(());
    };
    let step = access_step_in(namespace, procedure);
    match run
        .read(step, verify_access(access, procedure, namespace, perms))
        .await
    {
        Ok(()) => Ok(()),
        Err(fleet_guard::StepError::Failed { source, .. }) if source.is_auth() => {
            Err(Denied::Forbidden(source.to_string()))
        }
        Err(_) => Err(Denied::Failed),
    }
}

/// Why the access step stopped the run.
#[derive(Debug)]
pub(crate) enum Denied {
    /// A verb of the Role is not granted: the error's text.
    Forbidden(String),
    /// The reviews could not be made (the step is recorded as failed).
    Failed,
}

impl Denied {
    /// The report of the stopped run: `forbidden` with the refused verbs, or `failed`.
    pub(crate) fn report(
        self,
        run: &Executor,
        plan: Plan,
        policy: &Policy,
        started: Timestamp,
    ) -> Report {
        match self {
            Denied::Forbidden(why) => Report::forbidden(run, plan, policy, started, why),
            Denied::Failed => Report::from_run(run, plan, policy, Vec::new(), started),
        }
    }
}
