//! The Kubernetes steps of the fleet runbook as typed, mockable operations over
//! [`kube`](https://docs.rs/kube), with kubectl's semantics.
//!
//! Each concern is a narrow, object-safe trait ([`Pods`], [`Deployments`], [`Events`], ...)
//! with domain types in its signatures, so higher layers can hold an `Arc<dyn Deployments>`
//! and test against mocks (`MockDeployments` etc. behind the `test-util` feature).
//! [`KubeCluster`] implements all of them over a `kube::Client` for one namespace
//! (`fleet-management` by default).
//!
//! What kubectl does is done the same way: `get pods` columns (STATUS, READY, RESTARTS),
//! `rollout status` in kubectl's decision order, `rollout history` and `rollout undo` from the
//! deployment's ReplicaSets with the JSON patch and annotation handling of kubectl,
//! `rollout restart` with `kubectl.kubernetes.io/restartedAt`, `scale` through the scale
//! subresource. Input (names, images, replica counts, CIDRs) is validated before any request;
//! transient failures are retried under a [`RetryPolicy`].
//!
//! Writes can be made server-side dry runs for the whole cluster handle
//! ([`KubeCluster::as_dry_run`]) or per undo ([`UndoOptions::dry_run`]).
//!
//! # RBAC needed (namespace-scoped unless noted)
//!
//! | operation | verbs |
//! |---|---|
//! | pods, diagnosis | `get`, `list` pods and events; `get` secrets and configmaps (metadata only is read) |
//! | logs | `get` pods, `get` pods/log; `get` deployments for `deployment_logs` |
//! | events | `list`, `watch` events |
//! | get deployment, rollout status | `get`, `list`, `watch` deployments |
//! | set image, restart, resources, undo | `get`, `patch` deployments; `list` replicasets (undo, history) |
//! | scale | `patch` deployments/scale |
//! | autoscaling | `get`, `create`, `patch` horizontalpodautoscalers |
//! | networking | `get`, `list` ingresses and services; `patch` ingresses (block/unblock) |
//! | metrics | `list` pods and nodes in metrics.k8s.io (nodes cluster-scoped), `list` nodes |
//! | exec | `create` pods/exec |
//! | export | discovery, `list` every exported resource (including secrets) |
//!
//! The crate enables no k8s-openapi version feature: the final binary picks one (1.36 and
//! 1.37 field shapes are both supported).
//!
//! # Example
//!
//! ```no_run
//! use fleet_k8s::{Deployments, KubeCluster, Pods, RolloutWait, SetImage};
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // At the binary's edge: kubeconfig / in-cluster inference by kube.
//! let client = kube::Client::try_default().await?;
//! let cluster = KubeCluster::new(client);
//!
//! for pod in cluster.list_pods().await? {
//!     if !pod.is_healthy() {
//!         let diagnosis = cluster.diagnose_pod(&pod.name).await?;
//!         for cause in &diagnosis.causes {
//!             eprintln!("{}: {} -> {}", pod.name, cause.summary(), cause.action());
//!         }
//!     }
//! }
//!
//! cluster
//!     .set_image("fleet-api", &SetImage::new("fleet-api", "registry.example.com/fleet/fleet-api:1.5.0").change_cause("deploy 1.5.0"))
//!     .await?;
//! cluster.rollout_status("fleet-api", &RolloutWait::timeout(Duration::from_secs(600))).await?;
//! # Ok(())
//! # }
//! ```

mod apply;
pub mod autoscaling;
mod cluster;
mod compat;
pub mod deployments;
pub mod error;
pub mod events;
pub mod exec;
pub mod export;
pub mod logs;
pub mod metrics;
pub mod networking;
pub mod pods;
pub mod quantity;
pub mod retry;
pub mod validate;

pub use apply::{ApplyObjects, DynamicRef, WriteOptions};
pub use autoscaling::{AutoscalerSpec, AutoscalerStatus, Autoscaling};
pub use exec::{Exec, ExecOutput};
pub use export::{Export, ExportKind, ExportOptions, ExportedObject};
pub use logs::{LogLine, LogQuery, Logs};
pub use metrics::{ContainerUsage, Metrics, NodeUsage, PodUsage};
pub use networking::{DenylistChange, IngressInfo, IngressPath, Networking, ServiceInfo};

pub use cluster::{ClusterOptions, DEFAULT_NAMESPACE, KubeCluster};
pub use deployments::{
    Condition, ContainerImage, ContainerResources, DeploymentInfo, Deployments, RolloutRevision,
    RolloutState, RolloutWait, SetImage, UndoOptions, UndoOutcome,
};
pub use error::{Error, ErrorKind, Result};
pub use events::{EventFilter, EventRecord, Events};
pub use pods::{
    Cause, ConfigKind, ContainerState, ContainerSummary, PodDiagnosis, PodSummary, Pods,
    Termination,
};
pub use retry::RetryPolicy;
pub use validate::Cidr;

#[cfg(any(test, feature = "test-util"))]
pub use apply::MockApplyObjects;
#[cfg(any(test, feature = "test-util"))]
pub use autoscaling::MockAutoscaling;
#[cfg(any(test, feature = "test-util"))]
pub use deployments::MockDeployments;
#[cfg(any(test, feature = "test-util"))]
pub use events::MockEvents;
#[cfg(any(test, feature = "test-util"))]
pub use exec::MockExec;
#[cfg(any(test, feature = "test-util"))]
pub use export::MockExport;
#[cfg(any(test, feature = "test-util"))]
pub use logs::MockLogs;
#[cfg(any(test, feature = "test-util"))]
pub use metrics::MockMetrics;
#[cfg(any(test, feature = "test-util"))]
pub use networking::MockNetworking;
#[cfg(any(test, feature = "test-util"))]
pub use pods::MockPods;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Every trait is usable as `Arc<dyn Trait>` and has a mock.
    #[tokio::test]
    async fn traits_are_object_safe_and_mockable() {
        let mut deployments = MockDeployments::new();
        deployments
            .expect_scale()
            .withf(|name, n| name == "fleet-api" && *n == 5)
            .returning(|_, n| Ok(n));
        let mut pods = MockPods::new();
        pods.expect_list_pods().returning(|| Ok(Vec::new()));
        let mut net = MockNetworking::new();
        net.expect_block_cidrs()
            .returning(|_, _| Err(Error::invalid("CIDR", "x", "not a CIDR")));
        let d: Arc<dyn Deployments> = Arc::new(deployments);
        let p: Arc<dyn Pods> = Arc::new(pods);
        let n: Arc<dyn Networking> = Arc::new(net);
        let _others: Vec<Box<dyn Send + Sync>> = vec![
            Box::new(Arc::new(MockEvents::new()) as Arc<dyn Events>),
            Box::new(Arc::new(MockLogs::new()) as Arc<dyn Logs>),
            Box::new(Arc::new(MockAutoscaling::new()) as Arc<dyn Autoscaling>),
            Box::new(Arc::new(MockMetrics::new()) as Arc<dyn Metrics>),
            Box::new(Arc::new(MockExec::new()) as Arc<dyn Exec>),
            Box::new(Arc::new(MockExport::new()) as Arc<dyn Export>),
        ];
        assert_eq!(d.scale("fleet-api", 5).await.ok(), Some(5));
        assert!(p.list_pods().await.is_ok_and(|v| v.is_empty()));
        assert!(
            n.block_cidrs("fleet-ingress", &["x".into()])
                .await
                .is_err_and(|e| e.is_invalid_input())
        );
    }
}
