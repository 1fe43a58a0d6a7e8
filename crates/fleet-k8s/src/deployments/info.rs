//! A deployment as read: replicas, images, conditions and the rollout state.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::rollout::{RolloutState, revision_of, rollout_decision};
use crate::{compat, time};

/// A container and its image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ContainerImage {
    /// Container name.
    pub container: String,
    /// Image reference.
    pub image: String,
}

/// A status condition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Condition {
    /// `Available`, `Progressing`, `ReplicaFailure`.
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Reason.
    pub reason: Option<String>,
    /// Message.
    pub message: Option<String>,
}

/// A deployment with its rollout state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct DeploymentInfo {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Desired replicas (`spec.replicas`, 1 when unset).
    pub replicas: i32,
    /// `status.replicas`.
    pub current_replicas: i32,
    /// `status.updatedReplicas`.
    pub updated_replicas: i32,
    /// `status.readyReplicas`.
    pub ready_replicas: i32,
    /// `status.availableReplicas`.
    pub available_replicas: i32,
    /// The deployment's revision annotation.
    pub revision: Option<i64>,
    /// `spec.paused`.
    pub paused: bool,
    /// Images of the pod template's containers.
    pub images: Vec<ContainerImage>,
    /// Status conditions.
    pub conditions: Vec<Condition>,
    /// Rollout state by kubectl's decision order.
    pub rollout: RolloutState,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`.
    pub observed_generation: i64,
    /// Creation time.
    pub created: Option<Timestamp>,
    /// The object as read, for callers that need more.
    #[serde(skip)]
    pub raw: Deployment,
}

impl DeploymentInfo {
    /// Reads a deployment (for deployments obtained other than through
    /// [`Deployments`](crate::Deployments)).
    pub fn from_deployment(d: &Deployment) -> Self {
        let spec = compat::deployment_spec(d);
        let st = d.status.as_ref();
        let conditions = st
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or(&[])
            .iter()
            .map(|c| Condition {
                type_: compat::condition_type(c).unwrap_or_default().to_string(),
                status: compat::condition_status(c).unwrap_or_default().to_string(),
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
            .collect();
        let rollout = match rollout_decision(d, None) {
            Ok(s) => s,
            Err(e) => RolloutState::Failed {
                message: e.to_string(),
            },
        };
        DeploymentInfo {
            name: d.metadata.name.clone().unwrap_or_default(),
            namespace: d.metadata.namespace.clone().unwrap_or_default(),
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            current_replicas: st.and_then(|s| s.replicas).unwrap_or(0),
            updated_replicas: st.and_then(|s| s.updated_replicas).unwrap_or(0),
            ready_replicas: st.and_then(|s| s.ready_replicas).unwrap_or(0),
            available_replicas: st.and_then(|s| s.available_replicas).unwrap_or(0),
            revision: revision_of(d.metadata.annotations.as_ref()).ok().flatten(),
            paused: spec.and_then(|s| s.paused).unwrap_or(false),
            images: spec
                .map(|s| template_images(&s.template))
                .unwrap_or_default(),
            conditions,
            rollout,
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: st.and_then(|s| s.observed_generation).unwrap_or(0),
            created: time::from_time(d.metadata.creation_timestamp.as_ref()),
            raw: d.clone(),
        }
    }
}

pub(crate) fn template_images(t: &PodTemplateSpec) -> Vec<ContainerImage> {
    t.spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| ContainerImage {
                    container: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}
