//! fleet-k8s pods, deployments and rollout history as fleet-policy inputs.

use fleet_k8s::{ContainerState, DeploymentInfo, PodSummary, RolloutRevision};
use fleet_policy::alerts::{Alert, AlertKind};
use fleet_policy::scaling::ScalingInput;
use jiff::Timestamp;

use super::timestamp;

const CRASH_LOOP: &str = "CrashLoopBackOff";
const OOM_KILLED: &str = "OOMKilled";

/// The pods in a crash loop: `kubectl get pods` shows `CrashLoopBackOff`, or a container is
/// waiting in it (the STATUS column can show another container's reason).
pub fn crash_looping(pods: &[PodSummary]) -> Vec<&PodSummary> {
    pods.iter()
        .filter(|p| {
            p.status == CRASH_LOOP
                || p.containers.iter().any(|c| {
                    matches!(&c.state, ContainerState::Waiting { reason, .. } if reason == CRASH_LOOP)
                })
        })
        .collect()
}

/// One `alert.pods-crash-looping` per crash-looping pod, with the last deploy time (which the
/// runbook's response uses to point at recent changes).
pub fn crash_loop_alerts(pods: &[PodSummary], last_deploy_at: Option<Timestamp>) -> Vec<Alert> {
    crash_looping(pods)
        .into_iter()
        .map(|p| Alert {
            kind: AlertKind::PodsCrashLooping,
            subject: format!("pod/{}/{}", p.namespace, p.name),
            last_deploy_at,
        })
        .collect()
}

/// fleet-policy's scaling input from a deployment and its pods: the desired replicas and
/// whether any container's current or previous instance was OOMKilled. The utilization and
/// latency samples come from a metrics source; they are left empty here.
pub fn scaling_input(deployment: &DeploymentInfo, pods: &[PodSummary]) -> ScalingInput {
    let oom = pods.iter().flat_map(|p| &p.containers).any(|c| {
        c.last_termination
            .as_ref()
            .is_some_and(|t| t.reason == OOM_KILLED)
            || matches!(&c.state, ContainerState::Terminated(t) if t.reason == OOM_KILLED)
    });
    ScalingInput {
        deployment: deployment.name.clone(),
        current_replicas: u32::try_from(deployment.replicas).unwrap_or(0),
        oom_killed: oom,
        ..ScalingInput::default()
    }
}

/// When the running revision was rolled out: the creation time of its ReplicaSet.
pub fn deployed_at(history: &[RolloutRevision]) -> Option<Timestamp> {
    history
        .iter()
        .find(|r| r.current)
        .and_then(|r| r.created.as_ref())
        .and_then(timestamp)
}
