//! The fleet's health: the runbook's post-deployment validation ([`Validate`]: rollout
//! complete, every replica ready, no pod crash-looping, the critical paths' smoke checks)
//! read on many clusters at once through [`run_across`], with one combined exit code.

use std::convert::Infallible;

use fleet_guard::{Executor, Guards, RunContext};
use fleet_k8s::KubeCluster;
use fleet_policy::Policy;

use crate::fleet::{FleetOptions, FleetReport, run_across};
use crate::procedures::deps::{Kube, Signals};
use crate::procedures::validate::{Validate, ValidateOptions};
use crate::report::Report;

/// Runs [`Validate`] with `validate` and `policy` on every cluster, `fleet.max_in_flight` at
/// once and each within `fleet.deadline`. Each cluster gets its own executor from `context`
/// (its procedure name kept) and `guards`, so every run is audited as any other.
///
/// A cluster that cannot be read still yields a [`Report`] (its findings say what could not
/// be read); a cluster that runs past the deadline has no report and counts as unreachable in
/// [`health_exit_code`].
#[tracing::instrument(skip_all, fields(clusters = clusters.len()))]
pub async fn validate_across(
    clusters: Vec<(String, KubeCluster)>,
    validate: &ValidateOptions,
    policy: &Policy,
    context: &RunContext,
    guards: &Guards,
    fleet: &FleetOptions,
) -> FleetReport<Report, Infallible> {
    run_across(clusters, fleet, |_name, cluster| async move {
        let procedure = Validate::new(
            Kube::from_cluster(cluster),
            Signals::default(),
            policy.clone(),
            validate.clone(),
        );
        let run = Executor::new(context.clone(), guards.clone());
        Ok(procedure.run(&run).await)
    })
    .await
}

/// The exit code of a fleet of reports, the examples' convention: 2 when any cluster has no
/// report (timed out) or any report is 2 (could not be read), else 1 when any report has a
/// blocking finding, else 0.
pub fn health_exit_code<E>(fleet: &FleetReport<Report, E>) -> u8 {
    fleet
        .outcomes
        .iter()
        .map(|o| o.result.as_ref().map_or(2, |r| r.exit_code))
        .max()
        .unwrap_or(0)
}
