//! Scenario and fault knobs, and the request log.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// What happens to the containers of pods running a given image (or a given pod).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scenario {
    /// Starts and becomes ready after the cluster's `pod_ready_after`.
    Healthy,
    /// Becomes ready only after this long (a slow rollout).
    SlowStart(Duration),
    /// Exits with `exit_code` over and over: `CrashLoopBackOff` with `restarts` restarts, the
    /// last termination recorded, and `BackOff` events.
    CrashLoop {
        /// Exit code of each crash (`1` gives reason `Error`).
        exit_code: i32,
        /// `restartCount` shown.
        restarts: u32,
    },
    /// Killed for exceeding its memory limit (exit 137, reason `OOMKilled`), then backing off.
    OomKilled {
        /// `restartCount` shown.
        restarts: u32,
    },
    /// The image cannot be pulled: `ErrImagePull` / `ImagePullBackOff`, `Failed` events.
    ImagePullFailure,
    /// No node fits: `PodScheduled=False` with reason `Unschedulable`, a `FailedScheduling`
    /// event with this message.
    Unschedulable {
        /// The scheduler's message, e.g. `0/3 nodes are available: 3 Insufficient cpu.`
        message: String,
    },
    /// Stays `ContainerCreating` forever (use with a short `progressDeadlineSeconds` to see
    /// `ProgressDeadlineExceeded`).
    Stuck,
}

/// An API operation, as the request log and fault knobs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `GET` of one object (or a subresource such as `scale`).
    Get,
    /// `GET` of a collection.
    List,
    /// `GET` of a collection with `watch=true`.
    Watch,
    /// `POST`.
    Create,
    /// `PUT`.
    Update,
    /// `PATCH`.
    Patch,
    /// `DELETE` of one object.
    Delete,
    /// `DELETE` of a collection.
    DeleteCollection,
    /// `GET .../pods/NAME/log`.
    Logs,
    /// `.../pods/NAME/exec`.
    Exec,
    /// Discovery and `/version`.
    Discovery,
    /// Matches every operation (for fault knobs).
    Any,
}

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// The operation.
    pub op: Op,
    /// Plural resource name (`deployments`), when the path names one.
    pub resource: Option<String>,
    /// Subresource (`scale`, `status`, `log`).
    pub subresource: Option<String>,
    /// Namespace, when namespaced.
    pub namespace: Option<String>,
    /// Object name, when the path names one.
    pub name: Option<String>,
    /// `Content-Type` of the request.
    pub content_type: Option<String>,
    /// HTTP status answered (200 for a watch that started streaming).
    pub status: u16,
    /// The user the request acted as (after impersonation); empty when it was refused before
    /// authentication finished.
    pub user: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub(crate) op: Op,
    pub(crate) resource: Option<String>,
    pub(crate) status: u16,
    pub(crate) remaining: u32,
}

/// Logs of one container.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContainerLogs {
    pub(crate) current: Vec<String>,
    pub(crate) previous: Option<Vec<String>>,
}

pub(crate) type PodKey = (String, String);
/// Namespace, pod and container.
pub(crate) type ContainerKey = (String, String, String);

/// Everything tests can turn, shared by server and controllers.
pub(crate) struct Knobs {
    pub(crate) faults: Mutex<Vec<Fault>>,
    pub(crate) latency: Mutex<Duration>,
    pub(crate) image_scenarios: Mutex<HashMap<String, Scenario>>,
    pub(crate) pod_scenarios: Mutex<HashMap<PodKey, Scenario>>,
    pub(crate) logs: Mutex<HashMap<ContainerKey, ContainerLogs>>,
    pub(crate) usage: Mutex<HashMap<ContainerKey, (u64, u64)>>,
    pub(crate) requests: Mutex<Vec<RequestRecord>>,
    pub(crate) expire_continue: Mutex<bool>,
    /// Bumped to end every open watch stream.
    pub(crate) drop_watches: watch::Sender<u64>,
    pub(crate) pod_ready_after: Mutex<Duration>,
    pub(crate) bookmark_interval: Mutex<Duration>,
    pub(crate) exec: Mutex<Option<super::exec::ExecHandler>>,
    pub(crate) metrics_api: Mutex<MetricsApi>,
    /// Whether HPAs scale their targets (otherwise they only report).
    pub(crate) autoscaling: Mutex<bool>,
    /// How far the CronJob controller's clock runs ahead of real time.
    pub(crate) cron_clock_offset: Mutex<Duration>,
}

/// Which versions of metrics.k8s.io the cluster serves (what metrics-server provides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MetricsApi {
    /// `v1` (preferred) and `v1beta1`.
    #[default]
    V1AndV1beta1,
    /// Only `v1beta1`, as metrics-server releases before `v1` did.
    V1beta1Only,
    /// No metrics API at all: a cluster without metrics-server.
    Absent,
}

impl MetricsApi {
    /// Whether `version` of metrics.k8s.io is served.
    pub(crate) fn serves(self, version: &str) -> bool {
        match self {
            MetricsApi::V1AndV1beta1 => version == "v1" || version == "v1beta1",
            MetricsApi::V1beta1Only => version == "v1beta1",
            MetricsApi::Absent => false,
        }
    }
}

/// Locks a knob mutex; a poisoned one still holds usable plain data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Knobs {
    pub(crate) fn new(pod_ready_after: Duration) -> Self {
        Self {
            faults: Mutex::new(Vec::new()),
            latency: Mutex::new(Duration::ZERO),
            image_scenarios: Mutex::new(HashMap::new()),
            pod_scenarios: Mutex::new(HashMap::new()),
            logs: Mutex::new(HashMap::new()),
            usage: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            expire_continue: Mutex::new(false),
            drop_watches: watch::channel(0).0,
            pod_ready_after: Mutex::new(pod_ready_after),
            bookmark_interval: Mutex::new(Duration::from_secs(1)),
            exec: Mutex::new(None),
            metrics_api: Mutex::new(MetricsApi::default()),
            autoscaling: Mutex::new(false),
            cron_clock_offset: Mutex::new(Duration::ZERO),
        }
    }

    /// Takes one matching fault, if any is armed.
    pub(crate) fn take_fault(&self, op: Op, resource: Option<&str>) -> Option<u16> {
        let mut faults = lock(&self.faults);
        let pos = faults.iter().position(|f| {
            (f.op == Op::Any || f.op == op)
                && f.resource.as_deref().is_none_or(|r| Some(r) == resource)
                && f.remaining > 0
        })?;
        let f = &mut faults[pos];
        f.remaining -= 1;
        let status = f.status;
        if f.remaining == 0 {
            faults.remove(pos);
        }
        Some(status)
    }

    /// The scenario for a pod: a per-pod one wins over a per-image one.
    pub(crate) fn scenario_for(&self, ns: &str, pod: &str, images: &[&str]) -> Scenario {
        if let Some(s) = lock(&self.pod_scenarios).get(&(ns.to_string(), pod.to_string())) {
            return s.clone();
        }
        let by_image = lock(&self.image_scenarios);
        images
            .iter()
            .find_map(|i| by_image.get(*i).cloned())
            .unwrap_or(Scenario::Healthy)
    }
}
