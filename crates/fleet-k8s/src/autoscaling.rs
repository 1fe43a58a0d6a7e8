//! Autoscaling: create or update the `autoscaling/v2` HorizontalPodAutoscaler of a deployment
//! (as `kubectl autoscale` builds it) and read its status.

use crate::error::Result;
use crate::outcome::WriteOutcome;

/// The autoscaler to have for a deployment. The numbers are the caller's (the runbook's
/// autoscaler lives in `fleet_policy::scaling::default_hpa`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutoscalerSpec {
    /// Deployment to scale (also the HPA's name, as kubectl names it).
    pub deployment: String,
    /// `minReplicas` (at least 1).
    pub min_replicas: u32,
    /// `maxReplicas` (at least `min_replicas`).
    pub max_replicas: u32,
    /// Target average CPU utilization, percent of requests.
    pub cpu_utilization: Option<u32>,
    /// Target average memory utilization, percent of requests.
    pub memory_utilization: Option<u32>,
}

impl AutoscalerSpec {
    /// An autoscaler for `deployment` between `min` and `max` replicas, with no target yet
    /// (set one with [`with_cpu`](Self::with_cpu) or [`with_memory`](Self::with_memory)).
    pub fn new(deployment: impl Into<String>, min: u32, max: u32) -> Self {
        Self {
            deployment: deployment.into(),
            min_replicas: min,
            max_replicas: max,
            cpu_utilization: None,
            memory_utilization: None,
        }
    }
    /// Sets the bounds.
    #[must_use]
    pub fn with_replicas(mut self, min: u32, max: u32) -> Self {
        self.min_replicas = min;
        self.max_replicas = max;
        self
    }
    /// Sets the CPU target.
    #[must_use]
    pub fn with_cpu(mut self, percent: u32) -> Self {
        self.cpu_utilization = Some(percent);
        self
    }
    /// Sets the memory target.
    #[must_use]
    pub fn with_memory(mut self, percent: u32) -> Self {
        self.memory_utilization = Some(percent);
        self
    }
}

/// Options of [`Autoscaling::apply_autoscaler`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyAutoscalerOptions {
    /// Send the create or patch with `dryRun=All`.
    pub dry_run: bool,
}

impl ApplyAutoscalerOptions {
    /// As a server-side dry run.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// An autoscaler's spec and status, as `kubectl get hpa` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AutoscalerStatus {
    /// Name.
    pub name: String,
    /// Target (`Deployment/fleet-api`).
    pub reference: String,
    /// `minReplicas`.
    pub min_replicas: i32,
    /// `maxReplicas`.
    pub max_replicas: i32,
    /// Target CPU utilization.
    pub cpu_target: Option<i32>,
    /// Current CPU utilization.
    pub cpu_current: Option<i32>,
    /// Target memory utilization.
    pub memory_target: Option<i32>,
    /// Current memory utilization.
    pub memory_current: Option<i32>,
    /// `status.currentReplicas`.
    pub current_replicas: i32,
    /// `status.desiredReplicas`.
    pub desired_replicas: i32,
    /// Conditions as (type, status, reason).
    pub conditions: Vec<(String, String, Option<String>)>,
}

/// Horizontal autoscaling.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Autoscaling: Send + Sync {
    /// Creates the deployment's HPA, or updates its bounds and metrics when it exists.
    async fn apply_autoscaler(
        &self,
        spec: &AutoscalerSpec,
        options: Option<ApplyAutoscalerOptions>,
    ) -> Result<WriteOutcome<AutoscalerStatus>>;
    /// Reads an HPA.
    async fn get_autoscaler(&self, name: &str) -> Result<AutoscalerStatus>;
}

mod kube_impl {
    use k8s_openapi::api::autoscaling::v2::{
        CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
        MetricSpec, MetricTarget, ResourceMetricSource,
    };
    use kube::api::Patch;
    use serde_json::json;

    use super::{ApplyAutoscalerOptions, AutoscalerSpec, AutoscalerStatus, Autoscaling};
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};
    use crate::outcome::{WriteOutcome, verb};
    use crate::validate;

    /// The checked spec in the API's `int32` terms.
    struct Checked {
        min: i32,
        max: i32,
        cpu: Option<i32>,
        memory: Option<i32>,
    }

    fn resource_metric(name: &str, percent: i32) -> MetricSpec {
        MetricSpec {
            type_: "Resource".into(),
            resource: Some(ResourceMetricSource {
                name: name.into(),
                target: MetricTarget {
                    type_: "Utilization".into(),
                    average_utilization: Some(percent),
                    ..MetricTarget::default()
                },
            }),
            ..MetricSpec::default()
        }
    }

    fn status_of(h: &HorizontalPodAutoscaler) -> AutoscalerStatus {
        let target = |res: &str| {
            h.spec
                .metrics
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .find_map(|m| {
                    m.resource
                        .as_ref()
                        .filter(|r| r.name == res)
                        .and_then(|r| r.target.average_utilization)
                })
        };
        let st = h.status.clone().unwrap_or_default();
        let current = |res: &str| {
            st.current_metrics
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .find_map(|m| {
                    m.resource
                        .as_ref()
                        .filter(|r| r.name == res)
                        .and_then(|r| r.current.average_utilization)
                })
        };
        AutoscalerStatus {
            name: h.metadata.name.clone().unwrap_or_default(),
            reference: format!(
                "{}/{}",
                h.spec.scale_target_ref.kind, h.spec.scale_target_ref.name
            ),
            min_replicas: h.spec.min_replicas.unwrap_or(1),
            max_replicas: h.spec.max_replicas,
            cpu_target: target("cpu"),
            cpu_current: current("cpu"),
            memory_target: target("memory"),
            memory_current: current("memory"),
            current_replicas: st.current_replicas.unwrap_or(0),
            desired_replicas: st.desired_replicas,
            conditions: st
                .conditions
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.type_, c.status, c.reason))
                .collect(),
        }
    }

    fn check(spec: &AutoscalerSpec, max: u32) -> Result<Checked> {
        validate::object_name("deployment name", &spec.deployment)?;
        let max_replicas = validate::replicas("maxReplicas", spec.max_replicas, max)?;
        if spec.min_replicas < 1 {
            return Err(Error::invalid(
                "minReplicas",
                spec.min_replicas.to_string(),
                "must be at least 1",
            ));
        }
        if spec.max_replicas < spec.min_replicas {
            return Err(Error::invalid(
                "maxReplicas",
                spec.max_replicas.to_string(),
                format!("must be at least minReplicas ({})", spec.min_replicas),
            ));
        }
        let min_replicas = validate::replicas("minReplicas", spec.min_replicas, max)?;
        let mut targets = [None, None];
        for (slot, (what, v)) in targets.iter_mut().zip([
            ("CPU utilization", spec.cpu_utilization),
            ("memory utilization", spec.memory_utilization),
        ]) {
            if let Some(p) = v {
                let p = i32::try_from(p).ok().filter(|p| *p >= 1).ok_or_else(|| {
                    Error::invalid(what, p.to_string(), "must be a positive percentage")
                })?;
                *slot = Some(p);
            }
        }
        let [cpu, memory] = targets;
        if cpu.is_none() && memory.is_none() {
            return Err(Error::invalid(
                "autoscaler metrics",
                "none",
                "set a CPU or memory target",
            ));
        }
        Ok(Checked {
            min: min_replicas,
            max: max_replicas,
            cpu,
            memory,
        })
    }

    #[async_trait::async_trait]
    impl Autoscaling for KubeCluster {
        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), hpa = %spec.deployment))]
        async fn apply_autoscaler(
            &self,
            spec: &AutoscalerSpec,
            options: Option<ApplyAutoscalerOptions>,
        ) -> Result<WriteOutcome<AutoscalerStatus>> {
            let options = options.unwrap_or_default();
            let checked = check(spec, self.opts.max_replicas)?;
            let dry_run = self.dry_run(options.dry_run);
            let name = spec.deployment.as_str();
            let mut metrics = Vec::new();
            if let Some(p) = checked.cpu {
                metrics.push(resource_metric("cpu", p));
            }
            if let Some(p) = checked.memory {
                metrics.push(resource_metric("memory", p));
            }
            let hpa_spec = HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".into()),
                    kind: "Deployment".into(),
                    name: name.into(),
                },
                min_replicas: Some(checked.min),
                max_replicas: checked.max,
                metrics: Some(metrics),
                ..HorizontalPodAutoscalerSpec::default()
            };
            let api = self.api::<HorizontalPodAutoscaler>();
            let existing = self
                .call(&format!("get hpa {name}"), || api.get_opt(name))
                .await?;
            let hpa = match existing {
                None => {
                    let mut h = HorizontalPodAutoscaler {
                        spec: hpa_spec,
                        ..HorizontalPodAutoscaler::default()
                    };
                    h.metadata.name = Some(name.into());
                    let pp = self.post_params(dry_run);
                    self.call(&format!("create hpa {name}"), || api.create(&pp, &h))
                        .await?
                }
                Some(_) => {
                    // A merge patch replaces the metrics list as a whole, so stale targets go.
                    let patch = Patch::Merge(json!({"spec": hpa_spec}));
                    let pp = self.patch_params(dry_run);
                    self.call(&format!("update hpa {name}"), || {
                        api.patch(name, &pp, &patch)
                    })
                    .await?
                }
            };
            tracing::info!(
                hpa = name,
                min = spec.min_replicas,
                max = spec.max_replicas,
                dry_run,
                "{}",
                verb(dry_run, "autoscaler applied", "would apply autoscaler")
            );
            Ok(WriteOutcome::new(status_of(&hpa), dry_run))
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), hpa = name))]
        async fn get_autoscaler(&self, name: &str) -> Result<AutoscalerStatus> {
            validate::object_name("hpa name", name)?;
            let api = self.api::<HorizontalPodAutoscaler>();
            let h = self
                .call(&format!("get hpa {name}"), || api.get(name))
                .await?;
            Ok(status_of(&h))
        }
    }
}
