//! Per-call options of the deployment operations, and the resources of a vertical change.

use std::time::Duration;

/// Options of [`Deployments::rollout_status`](crate::Deployments::rollout_status).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolloutStatusOptions {
    /// Give up after this long with [`Error::Timeout`](crate::Error::Timeout) (kubectl's
    /// `--timeout`). Default 10 minutes; there is no "forever".
    pub timeout: Duration,
    /// Require this revision (kubectl's `--revision`).
    pub revision: Option<i64>,
    /// Wait for completion (`true`, the default) or return the current state at once
    /// (kubectl's `--watch=false`).
    pub watch: bool,
}

impl Default for RolloutStatusOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            revision: None,
            watch: true,
        }
    }
}

impl RolloutStatusOptions {
    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Requires a revision.
    #[must_use]
    pub fn with_revision(mut self, revision: i64) -> Self {
        self.revision = Some(revision);
        self
    }
    /// Waits (`true`) or reads the state once (`false`).
    #[must_use]
    pub fn with_watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }
}

/// Options of [`Deployments::rollout_undo`](crate::Deployments::rollout_undo).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolloutUndoOptions {
    /// Revision to go back to; `None` (or 0) means the previous one.
    pub to_revision: Option<i64>,
    /// Send the patch with `dryRun=All`.
    pub dry_run: bool,
}

impl RolloutUndoOptions {
    /// Sets the target revision.
    #[must_use]
    pub fn with_to_revision(mut self, revision: i64) -> Self {
        self.to_revision = Some(revision);
        self
    }
    /// As a server-side dry run.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// Options of [`Deployments::set_image`](crate::Deployments::set_image).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetImageOptions {
    /// Recorded as `kubernetes.io/change-cause` (shown by `rollout history`).
    pub change_cause: Option<String>,
    /// Send the patch with `dryRun=All`.
    pub dry_run: bool,
}

impl SetImageOptions {
    /// Records a change cause.
    #[must_use]
    pub fn with_change_cause(mut self, cause: impl Into<String>) -> Self {
        self.change_cause = Some(cause.into());
        self
    }
    /// As a server-side dry run.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// Options of [`Deployments::rollout_restart`](crate::Deployments::rollout_restart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolloutRestartOptions {
    /// Send the patch with `dryRun=All`.
    pub dry_run: bool,
}

impl RolloutRestartOptions {
    /// As a server-side dry run.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// Options of [`Deployments::scale`](crate::Deployments::scale).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScaleOptions {
    /// Send the patch with `dryRun=All`.
    pub dry_run: bool,
}

impl ScaleOptions {
    /// As a server-side dry run.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// Options of [`Deployments::update_resources`](crate::Deployments::update_resources).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateResourcesOptions {
    /// Send the patch with `dryRun=All`.
    pub dry_run: bool,
}

impl UpdateResourcesOptions {
    /// As a server-side dry run.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// Container resources for vertical scaling; each value is a Kubernetes quantity (`500m`,
/// `1Gi`). Unset values are left as they are. The values are the caller's (the runbook's
/// step lives in `fleet_policy::scaling::vertical_step`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ContainerResources {
    /// `requests.cpu`.
    pub cpu_request: Option<String>,
    /// `requests.memory`.
    pub memory_request: Option<String>,
    /// `limits.cpu`.
    pub cpu_limit: Option<String>,
    /// `limits.memory`.
    pub memory_limit: Option<String>,
}

impl ContainerResources {
    /// Sets both requests.
    #[must_use]
    pub fn with_requests(mut self, cpu: impl Into<String>, memory: impl Into<String>) -> Self {
        self.cpu_request = Some(cpu.into());
        self.memory_request = Some(memory.into());
        self
    }
    /// Sets both limits.
    #[must_use]
    pub fn with_limits(mut self, cpu: impl Into<String>, memory: impl Into<String>) -> Self {
        self.cpu_limit = Some(cpu.into());
        self.memory_limit = Some(memory.into());
        self
    }
    /// Sets the memory limit.
    #[must_use]
    pub fn with_memory_limit(mut self, memory: impl Into<String>) -> Self {
        self.memory_limit = Some(memory.into());
        self
    }
}

impl std::fmt::Display for ContainerResources {
    /// `requests cpu=500m memory=512Mi, limits cpu=1000m memory=1Gi` (unset values left out).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |cpu: &Option<String>, mem: &Option<String>| {
            let v: Vec<String> = [("cpu", cpu), ("memory", mem)]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect();
            v.join(" ")
        };
        let requests = part(&self.cpu_request, &self.memory_request);
        let limits = part(&self.cpu_limit, &self.memory_limit);
        match (requests.is_empty(), limits.is_empty()) {
            (false, false) => write!(f, "requests {requests}, limits {limits}"),
            (false, true) => write!(f, "requests {requests}"),
            (true, false) => write!(f, "limits {limits}"),
            (true, true) => f.write_str("no change"),
        }
    }
}
