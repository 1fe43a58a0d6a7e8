//! The Kubernetes steps of the fleet runbook as typed, mockable operations over
//! [`kube`](https://docs.rs/kube), with kubectl's semantics.
//!
//! Each concern is a narrow, object-safe trait ([`Pods`], [`Deployments`], [`Events`], ...)
//! with domain types in its signatures, so higher layers can hold an `Arc<dyn Deployments>`
//! and test against mocks (`MockDeployments` etc. behind the `test-util` feature).
//! [`KubeCluster`] implements all of them over a `kube::Client` for one namespace.
//!
//! What kubectl does is done the same way: `get pods` columns (STATUS, READY, RESTARTS),
//! `rollout status` in kubectl's decision order, `rollout history` and `rollout undo` from the
//! deployment's ReplicaSets with the JSON patch and annotation handling of kubectl,
//! `rollout restart` with `kubectl.kubernetes.io/restartedAt`, `scale` through the scale
//! subresource. Input (names, images, replica counts, CIDRs, selectors) is validated before
//! any request; transient failures are retried under a [`RetryPolicy`]; every wait has a
//! deadline and every read a cap.
//!
//! Per-call knobs are `<Operation>Options` structs passed last as `Option<_>` (`None` for the
//! defaults). Every write has `dry_run` in its options, [`KubeCluster::as_dry_run`] forces it
//! for a whole handle, and results say whether the change was applied ([`WriteOutcome`]).
//! Exec is never run in a dry run. Instants are `jiff::Timestamp` (jiff 1.x) throughout; raw
//! k8s-openapi objects handed out on request keep their own types. Every operation runs in a
//! `tracing` span naming its namespace and object.
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
//! | access reviews (`can_i`) | `create` selfsubjectaccessreviews (cluster-scoped; every authenticated identity has it) |
//! | export | discovery, `list` every exported resource (including secrets) |
//! | [`LeaseLock`] (one operation at a time) | `get`, `create`, `update` leases (`coordination.k8s.io`) |
//!
//! The crate enables no k8s-openapi version feature: the final binary picks one (1.36 and
//! 1.37 field shapes are both supported).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use fleet_k8s::{
//!     ClusterOptions, Deployments, KubeCluster, Pods, RolloutStatusOptions, SetImageOptions,
//! };
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // At the binary's edge: kubeconfig / in-cluster inference by kube. `from_config` turns
//! // kube's own retry layer off (retries run under `ClusterOptions::retry`) and sets an idle
//! // timeout.
//! let config = kube::Config::infer().await?;
//! let cluster = KubeCluster::from_config(
//!     config,
//!     ClusterOptions::default().with_namespace("fleet-management"),
//! )?;
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
//! let image = "registry.example.com/fleet/fleet-api:1.5.0";
//! // A server-side dry run first: validated, nothing stored.
//! let check = cluster
//!     .set_image("fleet-api", "fleet-api", image, Some(SetImageOptions::default().with_dry_run(true)))
//!     .await?;
//! assert!(!check.applied);
//! cluster
//!     .set_image("fleet-api", "fleet-api", image, Some(SetImageOptions::default().with_change_cause("deploy 1.5.0")))
//!     .await?;
//! cluster
//!     .rollout_status("fleet-api", Some(RolloutStatusOptions::default().with_timeout(Duration::from_secs(600))))
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod access;
mod apply;
mod autoscaling;
mod cluster;
mod compat;
mod config_data;
mod deployments;
mod error;
mod events;
mod exec;
mod export;
mod lease;
mod logs;
mod metrics;
mod networking;
mod outcome;
mod pods;
mod quantity;
mod retry;
mod selector;
#[cfg(test)]
mod testing;
mod time;
mod triage;
mod validate;
mod watch;

pub use access::{Access, AccessCheck, AccessDecision, AccessRule, AccessRules};
pub use apply::{ApplyObjects, DynamicRef, WriteOptions};
pub use autoscaling::{ApplyAutoscalerOptions, AutoscalerSpec, AutoscalerStatus, Autoscaling};
pub use cluster::{ClusterOptions, KubeCluster};
pub use config_data::{ConfigData, ConfigDataOptions, TokenSecret};
pub use deployments::{
    Condition, ContainerImage, ContainerResources, DeploymentInfo, Deployments,
    RolloutRestartOptions, RolloutRevision, RolloutState, RolloutStatusOptions, RolloutUndoOptions,
    ScaleOptions, SetImageOptions, UndoOutcome, UpdateResourcesOptions, rollout_revisions,
};
pub use error::{Error, ErrorKind, Result};
pub use events::{EventOptions, EventRecord, Events};
pub use exec::{Exec, ExecOptions, ExecOutput};
pub use export::{Export, ExportKind, ExportOptions, ExportSummary, ExportedObject};
pub use lease::{LOCK_REASON_ANNOTATION, LOCK_TARGET_ANNOTATION, LeaseLock, LeaseLockOptions};
pub use logs::{LogLine, LogOptions, Logs};
pub use metrics::{ContainerUsage, Metrics, NodeUsage, PodUsage};
pub use networking::{
    DenylistChange, DenylistOptions, IngressInfo, IngressPath, Networking, ServiceInfo,
};
pub use outcome::WriteOutcome;
pub use pods::{
    Cause, ConfigKind, ContainerState, ContainerSummary, PodDiagnosis, PodSummary, Pods,
    Termination, diagnose,
};
pub use quantity::{cpu_millicores, memory_bytes};
pub use retry::RetryPolicy;
pub use selector::{FieldOp, FieldSelector, FieldTerm, LabelRequirement, LabelSelector};
pub use triage::{TriageOptions, TriageReport, site_down_triage};
pub use validate::Cidr;

#[cfg(any(test, feature = "test-util"))]
pub use access::MockAccess;
#[cfg(any(test, feature = "test-util"))]
pub use apply::MockApplyObjects;
#[cfg(any(test, feature = "test-util"))]
pub use autoscaling::MockAutoscaling;
#[cfg(any(test, feature = "test-util"))]
pub use config_data::MockConfigData;
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
            .withf(|name, n, _| name == "fleet-api" && *n == 5)
            .returning(|_, n, o| Ok(WriteOutcome::new(n, o.is_some_and(|o| o.dry_run))));
        let mut pods = MockPods::new();
        pods.expect_list_pods().returning(|| Ok(Vec::new()));
        let mut net = MockNetworking::new();
        net.expect_block_cidrs()
            .returning(|_, _, _| Err(Error::invalid("CIDR", "x", "not a CIDR")));
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
        let scaled = d.scale("fleet-api", 5, None).await.ok();
        assert_eq!(scaled.map(|o| (o.value, o.applied)), Some((5, true)));
        assert!(p.list_pods().await.is_ok_and(|v| v.is_empty()));
        assert!(
            n.block_cidrs("fleet-ingress", &["x".into()], None)
                .await
                .is_err_and(|e| e.is_invalid_input())
        );
    }
}
