//! Deployments: state and image updates ([`info`]), kubectl's rollout algorithms (status,
//! history, undo, restart: [`rollout`]), scaling through the scale subresource and vertical
//! resource changes; per-call [`options`]; the kube calls in [`kube_impl`].

mod info;
mod kube_impl;
mod options;
mod rollout;

pub use info::{Condition, ContainerImage, DeploymentInfo};
pub use options::{
    ContainerResources, RolloutRestartOptions, RolloutStatusOptions, RolloutUndoOptions,
    ScaleOptions, SetImageOptions, UpdateResourcesOptions,
};
pub use rollout::{RolloutRevision, RolloutState, UndoOutcome, rollout_revisions};

use crate::error::Result;
use crate::outcome::WriteOutcome;

/// Deployment operations. Every write takes `dry_run` in its options (forced on by
/// [`KubeCluster::as_dry_run`](crate::KubeCluster::as_dry_run)) and says whether it was applied.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Deployments: Send + Sync {
    /// The deployment with its rollout state.
    async fn get_deployment(&self, name: &str) -> Result<DeploymentInfo>;
    /// Changes a container's image (strategic merge patch, as `kubectl set image
    /// deployment/NAME CONTAINER=IMAGE`), recording the change cause when given. Fails with a
    /// not-found error naming the container when the template has no such container.
    async fn set_image(
        &self,
        name: &str,
        container: &str,
        image: &str,
        options: Option<SetImageOptions>,
    ) -> Result<WriteOutcome<DeploymentInfo>>;
    /// Waits for the rollout in `kubectl rollout status`'s decision order; a passed progress
    /// deadline is [`Error::ProgressDeadlineExceeded`](crate::Error::ProgressDeadlineExceeded),
    /// a passed timeout [`Error::Timeout`](crate::Error::Timeout).
    async fn rollout_status(
        &self,
        name: &str,
        options: Option<RolloutStatusOptions>,
    ) -> Result<RolloutState>;
    /// Revisions, ascending (`kubectl rollout history`).
    async fn rollout_history(&self, name: &str) -> Result<Vec<RolloutRevision>>;
    /// Rolls back as `kubectl rollout undo` does.
    async fn rollout_undo(
        &self,
        name: &str,
        options: Option<RolloutUndoOptions>,
    ) -> Result<UndoOutcome>;
    /// Restarts the pods as `kubectl rollout restart` does; returns the instant written to the
    /// pod template's `kubectl.kubernetes.io/restartedAt` (seconds precision).
    async fn rollout_restart(
        &self,
        name: &str,
        options: Option<RolloutRestartOptions>,
    ) -> Result<WriteOutcome<jiff::Timestamp>>;
    /// Sets the replica count through the scale subresource (`kubectl scale`); returns the
    /// new desired count.
    async fn scale(
        &self,
        name: &str,
        replicas: u32,
        options: Option<ScaleOptions>,
    ) -> Result<WriteOutcome<u32>>;
    /// Changes a container's requests and limits (vertical scaling).
    async fn update_resources(
        &self,
        name: &str,
        container: &str,
        resources: &ContainerResources,
        options: Option<UpdateResourcesOptions>,
    ) -> Result<WriteOutcome<DeploymentInfo>>;
}
