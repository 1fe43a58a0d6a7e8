//! Pods: listing with the columns `kubectl get pods` prints ([`columns`]), and diagnosis of a
//! pod into causes a person acts on ([`diagnosis`]); the kube calls are in [`kube_impl`].

mod columns;
mod diagnosis;
mod kube_impl;

pub use columns::{ContainerState, ContainerSummary, PodSummary, Termination};
pub use diagnosis::{Cause, ConfigKind, PodDiagnosis, diagnose};

use crate::error::Result;
use crate::events::EventRecord;
use crate::selector::LabelSelector;

/// Reading pods.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Pods: Send + Sync {
    /// Every pod of the namespace (`kubectl get pods`), paged.
    async fn list_pods(&self) -> Result<Vec<PodSummary>>;
    /// Pods matching a label selector (`kubectl get pods -l app=fleet-api`).
    async fn list_pods_by_selector(&self, selector: &LabelSelector) -> Result<Vec<PodSummary>>;
    /// One pod.
    async fn get_pod(&self, name: &str) -> Result<PodSummary>;
    /// The pod's events (`kubectl describe pod`'s Events), oldest first.
    async fn pod_events(&self, name: &str) -> Result<Vec<EventRecord>>;
    /// Diagnoses the pod: status, events, and an existence check of every Secret or ConfigMap
    /// a `CreateContainerConfigError` points at (metadata only; names that are not valid
    /// object names are not looked up).
    async fn diagnose_pod(&self, name: &str) -> Result<PodDiagnosis>;
}
