//! A pod as `kubectl get pods` prints it: STATUS, READY, RESTARTS and AGE computed by
//! kubectl's printer rules.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::time;

/// How one container last ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Termination {
    /// `OOMKilled`, `Error`, `Completed`... (may be empty).
    pub reason: String,
    /// Exit code.
    pub exit_code: i32,
    /// Signal, when killed by one.
    pub signal: Option<i32>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// Message, when the runtime gave one.
    pub message: Option<String>,
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum ContainerState {
    /// Running since.
    Running {
        /// Start time.
        started_at: Option<Timestamp>,
    },
    /// Waiting, with the kubelet's reason (`CrashLoopBackOff`, `ImagePullBackOff`...).
    Waiting {
        /// Reason.
        reason: String,
        /// Message.
        message: Option<String>,
    },
    /// Terminated.
    Terminated(Termination),
    /// No status reported yet.
    Unknown,
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ContainerSummary {
    /// Container name.
    pub name: String,
    /// Image in the spec.
    pub image: String,
    /// Readiness.
    pub ready: bool,
    /// Restart count.
    pub restarts: u32,
    /// Current state.
    pub state: ContainerState,
    /// The previous instance's termination, if it restarted.
    pub last_termination: Option<Termination>,
    /// Memory limit in the spec, as written (`512Mi`).
    pub memory_limit: Option<String>,
}

/// A pod as `kubectl get pods` shows it, plus what diagnosis and callers need.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PodSummary {
    /// Pod name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The STATUS column (`Running`, `CrashLoopBackOff`, `Init:0/1`, `Terminating`...).
    pub status: String,
    /// Ready containers (READY column numerator).
    pub ready: u32,
    /// Containers counted in the READY column (app containers and restartable init containers).
    pub total: u32,
    /// The RESTARTS column's count.
    pub restarts: u32,
    /// When the most recent restart's previous instance ended (for "(5m ago)").
    pub last_restart: Option<Timestamp>,
    /// `status.phase`.
    pub phase: String,
    /// Node the pod runs on.
    pub node: Option<String>,
    /// Pod IP.
    pub ip: Option<String>,
    /// Creation time (AGE column).
    pub created: Option<Timestamp>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// App containers, in spec order.
    pub containers: Vec<ContainerSummary>,
}

impl PodSummary {
    /// READY as kubectl prints it: `1/1`.
    pub fn ready_column(&self) -> String {
        format!("{}/{}", self.ready, self.total)
    }

    /// RESTARTS as kubectl prints it at `now`: `4 (2m ago)` or `0`.
    pub fn restarts_column(&self, now: Timestamp) -> String {
        match self.last_restart {
            Some(t) if self.restarts != 0 => {
                format!(
                    "{} ({} ago)",
                    self.restarts,
                    human_duration(now.duration_since(t))
                )
            }
            _ => self.restarts.to_string(),
        }
    }

    /// AGE as kubectl prints it at `now`.
    pub fn age_column(&self, now: Timestamp) -> String {
        self.created.map_or_else(
            || "<unknown>".to_string(),
            |t| human_duration(now.duration_since(t)),
        )
    }

    /// Whether every container is ready and the pod runs.
    pub fn is_healthy(&self) -> bool {
        self.status == "Running" && self.ready == self.total
    }

    /// Reads a pod, computing the columns as kubectl's printer does. Pods the API sends are
    /// read through the [`Pods`](crate::Pods) operations; this is for pods obtained otherwise
    /// (a watch of one's own, a file).
    pub fn from_pod(pod: &Pod) -> Self {
        let cols = status_columns(pod);
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or(&[]);
        let containers = spec
            .map(|s| s.containers.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|c| {
                let st = statuses.iter().find(|s| s.name == c.name);
                ContainerSummary {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    ready: st.is_some_and(|s| s.ready),
                    restarts: st.map_or(0, |s| nonneg(s.restart_count)),
                    state: st.map_or(ContainerState::Unknown, container_state),
                    last_termination: st
                        .and_then(|s| s.last_state.as_ref())
                        .and_then(|l| l.terminated.as_ref())
                        .map(termination),
                    memory_limit: c
                        .resources
                        .as_ref()
                        .and_then(|r| r.limits.as_ref())
                        .and_then(|l| l.get("memory"))
                        .map(|q| q.0.clone()),
                }
            })
            .collect();
        PodSummary {
            name: pod.metadata.name.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            status: cols.status,
            ready: cols.ready,
            total: cols.total,
            restarts: cols.restarts,
            last_restart: cols.last_restart,
            phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
            node: spec.and_then(|s| s.node_name.clone()),
            ip: status.and_then(|s| s.pod_ip.clone()),
            created: time::from_time(pod.metadata.creation_timestamp.as_ref()),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            containers,
        }
    }
}

fn nonneg(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn termination(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> Termination {
    Termination {
        reason: t.reason.clone().unwrap_or_default(),
        exit_code: t.exit_code,
        signal: t.signal.filter(|s| *s != 0),
        finished_at: time::from_time(t.finished_at.as_ref()),
        message: t.message.clone().filter(|m| !m.is_empty()),
    }
}

fn container_state(s: &ContainerStatus) -> ContainerState {
    let Some(st) = s.state.as_ref() else {
        return ContainerState::Unknown;
    };
    if let Some(w) = &st.waiting {
        ContainerState::Waiting {
            reason: w.reason.clone().unwrap_or_default(),
            message: w.message.clone().filter(|m| !m.is_empty()),
        }
    } else if let Some(t) = &st.terminated {
        ContainerState::Terminated(termination(t))
    } else if let Some(r) = &st.running {
        ContainerState::Running {
            started_at: time::from_time(r.started_at.as_ref()),
        }
    } else {
        ContainerState::Unknown
    }
}

/// STATUS, READY and RESTARTS of `kubectl get pods`.
struct Columns {
    status: String,
    ready: u32,
    total: u32,
    restarts: u32,
    last_restart: Option<Timestamp>,
}

fn later(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Computes the columns the way kubectl's pod printer does: phase, overridden by the pod's
/// reason, then by the first failing init container, then by the app containers (visited
/// last to first, so the first one in spec order that is not running has the last word).
fn status_columns(pod: &Pod) -> Columns {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.clone()).unwrap_or_default();
    let mut reason = status
        .and_then(|s| s.reason.clone())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| phase.clone());
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    if conditions
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".into();
    }
    let init_specs = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or(&[]);
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
    };
    let sidecars = init_specs
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .count();
    let total = count(
        spec.map_or(0, |s| s.containers.len())
            .saturating_add(sidecars),
    );
    let mut ready = 0u32;
    let mut restarts = 0u32;
    let mut last_restart = None;
    let mut sidecar_restarts = 0u32;
    let mut sidecar_last = None;
    let mut initializing = false;
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or(&[]);
    for (i, c) in init_statuses.iter().enumerate() {
        restarts = restarts.saturating_add(nonneg(c.restart_count));
        let last_end = c
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| time::from_time(t.finished_at.as_ref()));
        last_restart = later(last_restart, last_end);
        let sidecar = is_sidecar(&c.name);
        if sidecar {
            sidecar_restarts = restarts.saturating_add(nonneg(c.restart_count));
            sidecar_last = later(sidecar_last, last_end);
        }
        let state = c.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        let waiting = state.and_then(|s| s.waiting.as_ref());
        if terminated.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if sidecar && c.started == Some(true) {
            if c.ready {
                ready = ready.saturating_add(1);
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => match t.signal.filter(|s| *s != 0) {
                    Some(sig) => format!("Init:Signal:{sig}"),
                    None => format!("Init:ExitCode:{}", t.exit_code),
                },
            };
        } else if let Some(r) = waiting
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    let initialized = conditions
        .iter()
        .any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = sidecar_last;
        let mut has_running = false;
        let statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or(&[]);
        for c in statuses.iter().rev() {
            restarts = restarts.saturating_add(nonneg(c.restart_count));
            last_restart = later(
                last_restart,
                c.last_state
                    .as_ref()
                    .and_then(|l| l.terminated.as_ref())
                    .and_then(|t| time::from_time(t.finished_at.as_ref())),
            );
            let state = c.state.as_ref();
            let waiting = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(w) = waiting {
                reason = w.to_string();
            } else if let Some(t) = terminated {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None => match t.signal.filter(|s| *s != 0) {
                        Some(sig) => format!("Signal:{sig}"),
                        None => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if c.ready && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready = ready.saturating_add(1);
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        if status.and_then(|s| s.reason.as_deref()) == Some("NodeLost") {
            reason = "Unknown".into();
        } else if phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".into();
        }
    }
    Columns {
        status: reason,
        ready,
        total,
        restarts,
        last_restart,
    }
}

/// A duration as kubectl prints ages (`45s`, `2m30s`, `5h`, `3d4h`, `2y`).
pub(crate) fn human_duration(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}
