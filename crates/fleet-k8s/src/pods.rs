//! Pods: listing with the columns `kubectl get pods` prints, and diagnosis of a pod into causes
//! a person acts on.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;

use crate::error::Result;
use crate::events::EventRecord;

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

    /// Reads a pod, computing the columns as kubectl's printer does.
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
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            containers,
        }
    }
}

fn nonneg(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn termination(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> Termination {
    Termination {
        reason: t.reason.clone().unwrap_or_default(),
        exit_code: t.exit_code,
        signal: t.signal.filter(|s| *s != 0),
        finished_at: t.finished_at.as_ref().map(|x| x.0),
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
            started_at: r.started_at.as_ref().map(|x| x.0),
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
    let mut total = spec.map_or(0, |s| s.containers.len()) as u32;
    total += init_specs
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .count() as u32;
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
        restarts += nonneg(c.restart_count);
        let last_end = c
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref())
            .map(|t| t.0);
        last_restart = later(last_restart, last_end);
        let sidecar = is_sidecar(&c.name);
        if sidecar {
            sidecar_restarts += nonneg(c.restart_count);
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
                ready += 1;
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
            restarts += nonneg(c.restart_count);
            last_restart = later(
                last_restart,
                c.last_state
                    .as_ref()
                    .and_then(|l| l.terminated.as_ref())
                    .and_then(|t| t.finished_at.as_ref())
                    .map(|t| t.0),
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
                ready += 1;
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
pub fn human_duration(d: k8s_openapi::jiff::SignedDuration) -> String {
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

/// The kind of configuration object a container references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[non_exhaustive]
pub enum ConfigKind {
    /// A Secret.
    Secret,
    /// A ConfigMap.
    ConfigMap,
}

impl std::fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConfigKind::Secret => "Secret",
            ConfigKind::ConfigMap => "ConfigMap",
        })
    }
}

/// A cause of a pod's trouble, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum Cause {
    /// The container keeps exiting and the kubelet backs off restarting it.
    CrashLoopBackOff {
        /// Container name.
        container: String,
        /// Restarts so far.
        restarts: u32,
        /// How the previous instance ended.
        last_termination: Option<Termination>,
    },
    /// The container was killed for exceeding its memory limit.
    OomKilled {
        /// Container name.
        container: String,
        /// The memory limit it hit.
        memory_limit: Option<String>,
        /// Restarts so far.
        restarts: u32,
        /// When it was killed.
        finished_at: Option<Timestamp>,
    },
    /// The image cannot be pulled (`ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`).
    ImagePull {
        /// Container name.
        container: String,
        /// Image.
        image: String,
        /// The kubelet's reason.
        reason: String,
        /// The kubelet's or event's message.
        message: Option<String>,
    },
    /// `CreateContainerConfigError` because a referenced Secret or ConfigMap does not exist
    /// (checked against the API).
    MissingConfig {
        /// Container name.
        container: String,
        /// Secret or ConfigMap.
        kind: ConfigKind,
        /// Its name.
        name: String,
    },
    /// `CreateContainerConfigError` for another reason (e.g. a missing key).
    ContainerConfig {
        /// Container name.
        container: String,
        /// The kubelet's message.
        message: String,
    },
    /// A volume could not be mounted (`FailedMount` events).
    FailedMount {
        /// The event's message.
        message: String,
    },
    /// The scheduler finds no node for the pod.
    Unschedulable {
        /// The scheduler's message (`0/3 nodes are available: 3 Insufficient cpu.`).
        message: String,
    },
    /// The container runs but fails its readiness probe.
    NotReady {
        /// Container name.
        container: String,
        /// Probe failure messages from `Unhealthy` events, newest last.
        probe_failures: Vec<String>,
    },
    /// The container ended with an error and is not restarting (yet).
    Terminated {
        /// Container name.
        container: String,
        /// How it ended.
        termination: Termination,
    },
    /// Something else is holding the container (waiting with another reason).
    Waiting {
        /// Container name.
        container: String,
        /// Reason.
        reason: String,
        /// Message.
        message: Option<String>,
    },
}

impl Cause {
    /// One line on what is wrong.
    pub fn summary(&self) -> String {
        match self {
            Cause::CrashLoopBackOff {
                container,
                restarts,
                last_termination,
            } => {
                let last = last_termination.as_ref().map_or_else(String::new, |t| {
                    let when = t
                        .finished_at
                        .map_or_else(String::new, |w| format!(" at {w}"));
                    let reason = if t.reason.is_empty() {
                        "exited"
                    } else {
                        &t.reason
                    };
                    format!("; last exit: {reason} with code {}{when}", t.exit_code)
                });
                format!("container {container:?} is crash-looping ({restarts} restarts){last}")
            }
            Cause::OomKilled {
                container,
                memory_limit,
                restarts,
                ..
            } => format!(
                "container {container:?} was OOMKilled (exit 137) at its memory limit of {} ({restarts} restarts)",
                memory_limit.as_deref().unwrap_or("<none>")
            ),
            Cause::ImagePull {
                container,
                image,
                reason,
                message,
            } => format!(
                "container {container:?} cannot pull image {image:?}: {reason}{}",
                message
                    .as_deref()
                    .map_or_else(String::new, |m| format!(" ({m})"))
            ),
            Cause::MissingConfig {
                container,
                kind,
                name,
            } => {
                format!("container {container:?} references {kind} {name:?}, which does not exist")
            }
            Cause::ContainerConfig { container, message } => {
                format!("container {container:?} has a configuration error: {message}")
            }
            Cause::FailedMount { message } => format!("a volume cannot be mounted: {message}"),
            Cause::Unschedulable { message } => format!("the pod cannot be scheduled: {message}"),
            Cause::NotReady {
                container,
                probe_failures,
            } => match probe_failures.last() {
                Some(m) => format!("container {container:?} fails its readiness probe: {m}"),
                None => format!("container {container:?} is running but not ready"),
            },
            Cause::Terminated {
                container,
                termination,
            } => format!(
                "container {container:?} terminated: {} (exit code {})",
                termination.reason, termination.exit_code
            ),
            Cause::Waiting {
                container,
                reason,
                message,
            } => format!(
                "container {container:?} is waiting: {reason}{}",
                message
                    .as_deref()
                    .map_or_else(String::new, |m| format!(" ({m})"))
            ),
        }
    }

    /// What a person should do next.
    pub fn action(&self) -> String {
        match self {
            Cause::CrashLoopBackOff { .. } => "read the previous instance's logs (`logs --previous`) for the crash; roll back if it started with a deploy".into(),
            Cause::OomKilled { .. } => "scale vertically: raise the memory limit (runbook default step: requests 512Mi/500m, limits 1Gi/1000m) with update_resources, then watch memory with top pods".into(),
            Cause::ImagePull { .. } => "check the image name and tag exist in the registry and that the pull secret is valid; roll back to the previous image if a deploy introduced it".into(),
            Cause::MissingConfig { kind, name, .. } => format!("create the {kind} {name:?} in the namespace (or restore it from backup), then the pod starts by itself"),
            Cause::ContainerConfig { .. } => "fix the referenced Secret/ConfigMap key named in the message".into(),
            Cause::FailedMount { .. } => "create the missing volume source (Secret, ConfigMap, PVC) named in the message, or fix the volume spec".into(),
            Cause::Unschedulable { .. } => "free or add capacity (scale the node pool), or lower the pod's resource requests".into(),
            Cause::NotReady { .. } => "check the application's health endpoint and its dependencies (database connectivity); see the pod's logs".into(),
            Cause::Terminated { .. } => "read the container's logs for why it exited".into(),
            Cause::Waiting { .. } => "describe the pod and read its events".into(),
        }
    }
}

/// A pod's diagnosis: its summary, the causes found (empty when healthy), and its events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PodDiagnosis {
    /// The pod.
    pub pod: PodSummary,
    /// Causes found, most specific first.
    pub causes: Vec<Cause>,
    /// The pod's events, oldest first.
    pub events: Vec<EventRecord>,
}

impl PodDiagnosis {
    /// Whether nothing is wrong.
    pub fn is_healthy(&self) -> bool {
        self.causes.is_empty()
    }
}

/// Secrets and ConfigMaps a `CreateContainerConfigError` message names (`secret "x" not found`,
/// `configmap "y" not found`), with the pod's references as a fallback when the message does
/// not name one.
pub(crate) fn config_refs_to_check(pod: &Pod) -> BTreeSet<(ConfigKind, String)> {
    let mut out = BTreeSet::new();
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    for s in statuses {
        let Some(w) = s.state.as_ref().and_then(|st| st.waiting.as_ref()) else {
            continue;
        };
        if w.reason.as_deref() != Some("CreateContainerConfigError") {
            continue;
        }
        let msg = w.message.as_deref().unwrap_or("");
        if let Some(r) = named_ref(msg) {
            out.insert(r);
        } else {
            out.extend(env_refs(pod, &s.name));
        }
    }
    out
}

/// Parses `secret "NAME" not found` / `configmap "NAME" not found` out of a kubelet message.
fn named_ref(msg: &str) -> Option<(ConfigKind, String)> {
    for (word, kind) in [
        ("secret \"", ConfigKind::Secret),
        ("configmap \"", ConfigKind::ConfigMap),
    ] {
        if let Some(i) = msg.find(word) {
            let rest = &msg[i + word.len()..];
            if let Some(end) = rest.find('"') {
                return Some((kind, rest[..end].to_string()));
            }
        }
    }
    None
}

/// Every Secret and ConfigMap a container's env and envFrom reference (non-optional ones).
fn env_refs(pod: &Pod, container: &str) -> Vec<(ConfigKind, String)> {
    let mut out = Vec::new();
    let Some(c) = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == container))
    else {
        return out;
    };
    for e in c.env.as_deref().unwrap_or(&[]) {
        if let Some(v) = &e.value_from {
            if let Some(s) = v
                .secret_key_ref
                .as_ref()
                .filter(|s| s.optional != Some(true))
            {
                out.push((ConfigKind::Secret, s.name.clone()));
            }
            if let Some(m) = v
                .config_map_key_ref
                .as_ref()
                .filter(|s| s.optional != Some(true))
            {
                out.push((ConfigKind::ConfigMap, m.name.clone()));
            }
        }
    }
    for f in c.env_from.as_deref().unwrap_or(&[]) {
        if let Some(s) = f.secret_ref.as_ref().filter(|s| s.optional != Some(true)) {
            out.push((ConfigKind::Secret, s.name.clone()));
        }
        if let Some(m) = f
            .config_map_ref
            .as_ref()
            .filter(|s| s.optional != Some(true))
        {
            out.push((ConfigKind::ConfigMap, m.name.clone()));
        }
    }
    out
}

/// Diagnoses a pod from its status and events. `missing` lists the Secrets and ConfigMaps
/// that were checked and found absent (see [`Pods::diagnose_pod`]).
pub fn diagnose(
    pod: &Pod,
    events: &[EventRecord],
    missing: &BTreeSet<(ConfigKind, String)>,
) -> Vec<Cause> {
    let summary = PodSummary::from_pod(pod);
    let mut causes = Vec::new();
    let conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[]);
    let unschedulable = conditions.iter().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    let last_event = |reason: &str| events.iter().rev().find(|e| e.reason == reason);
    if let Some(ev) = last_event("FailedScheduling") {
        causes.push(Cause::Unschedulable {
            message: ev.message.clone(),
        });
    } else if let Some(c) = unschedulable {
        causes.push(Cause::Unschedulable {
            message: c.message.clone().unwrap_or_default(),
        });
    }
    if let Some(ev) = last_event("FailedMount") {
        causes.push(Cause::FailedMount {
            message: ev.message.clone(),
        });
    }
    for c in &summary.containers {
        match &c.state {
            ContainerState::Waiting { reason, message } => match reason.as_str() {
                "CrashLoopBackOff" => {
                    let oom = c
                        .last_termination
                        .as_ref()
                        .filter(|t| t.reason == "OOMKilled");
                    if let Some(t) = oom {
                        causes.push(Cause::OomKilled {
                            container: c.name.clone(),
                            memory_limit: c.memory_limit.clone(),
                            restarts: c.restarts,
                            finished_at: t.finished_at,
                        });
                    } else {
                        causes.push(Cause::CrashLoopBackOff {
                            container: c.name.clone(),
                            restarts: c.restarts,
                            last_termination: c.last_termination.clone(),
                        });
                    }
                }
                "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => {
                    let from_event = events
                        .iter()
                        .rev()
                        .find(|e| e.reason == "Failed" && e.message.contains("pull"))
                        .map(|e| e.message.clone());
                    causes.push(Cause::ImagePull {
                        container: c.name.clone(),
                        image: c.image.clone(),
                        reason: reason.clone(),
                        message: from_event.or_else(|| message.clone()),
                    });
                }
                "CreateContainerConfigError" => {
                    let msg = message.clone().unwrap_or_default();
                    let named = named_ref(&msg);
                    let absent: Vec<_> = match named {
                        Some(r) if missing.contains(&r) => vec![r],
                        Some(_) => Vec::new(),
                        None => env_refs(pod, &c.name)
                            .into_iter()
                            .filter(|r| missing.contains(r))
                            .collect(),
                    };
                    if absent.is_empty() {
                        causes.push(Cause::ContainerConfig {
                            container: c.name.clone(),
                            message: msg,
                        });
                    }
                    for (kind, name) in absent {
                        causes.push(Cause::MissingConfig {
                            container: c.name.clone(),
                            kind,
                            name,
                        });
                    }
                }
                // Still starting, or explained by a pod-level cause above.
                "ContainerCreating" | "PodInitializing" | "" => {}
                other => causes.push(Cause::Waiting {
                    container: c.name.clone(),
                    reason: other.to_string(),
                    message: message.clone(),
                }),
            },
            ContainerState::Terminated(t) if t.exit_code != 0 => {
                if t.reason == "OOMKilled" {
                    causes.push(Cause::OomKilled {
                        container: c.name.clone(),
                        memory_limit: c.memory_limit.clone(),
                        restarts: c.restarts,
                        finished_at: t.finished_at,
                    });
                } else {
                    causes.push(Cause::Terminated {
                        container: c.name.clone(),
                        termination: t.clone(),
                    });
                }
            }
            ContainerState::Running { .. } if !c.ready => {
                let failures: Vec<String> = events
                    .iter()
                    .filter(|e| {
                        e.reason == "Unhealthy"
                            && e.message.starts_with("Readiness probe")
                            && e.field_path
                                .as_deref()
                                .is_none_or(|f| f.contains(&format!("{{{}}}", c.name)))
                    })
                    .map(|e| e.message.clone())
                    .collect();
                // A container that has only just started is not yet a problem unless its
                // probe has failed.
                if !failures.is_empty() || summary.phase == "Running" && summary.status == "Running"
                {
                    causes.push(Cause::NotReady {
                        container: c.name.clone(),
                        probe_failures: failures,
                    });
                }
            }
            ContainerState::Running { .. } if c.restarts > 0 => {
                if let Some(t) = c
                    .last_termination
                    .as_ref()
                    .filter(|t| t.reason == "OOMKilled")
                {
                    causes.push(Cause::OomKilled {
                        container: c.name.clone(),
                        memory_limit: c.memory_limit.clone(),
                        restarts: c.restarts,
                        finished_at: t.finished_at,
                    });
                }
            }
            _ => {}
        }
    }
    causes
}

/// Reading pods.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Pods: Send + Sync {
    /// Every pod of the namespace (`kubectl get pods`), paged.
    async fn list_pods(&self) -> Result<Vec<PodSummary>>;
    /// Pods matching a label selector (`kubectl get pods -l app=fleet-api`).
    async fn list_pods_by_selector(&self, selector: &str) -> Result<Vec<PodSummary>>;
    /// One pod.
    async fn get_pod(&self, name: &str) -> Result<PodSummary>;
    /// The pod's events (`kubectl describe pod`'s Events), oldest first.
    async fn pod_events(&self, name: &str) -> Result<Vec<EventRecord>>;
    /// Diagnoses the pod: status, events, and an existence check of every Secret or ConfigMap
    /// a `CreateContainerConfigError` points at.
    async fn diagnose_pod(&self, name: &str) -> Result<PodDiagnosis>;
}

mod kube_impl {
    use std::collections::BTreeSet;

    use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret};
    use kube::api::ListParams;

    use super::{ConfigKind, PodDiagnosis, PodSummary, Pods, config_refs_to_check, diagnose};
    use crate::cluster::KubeCluster;
    use crate::error::Result;
    use crate::events::{EventRecord, sort_events};
    use crate::validate;

    impl KubeCluster {
        pub(crate) async fn read_pod(&self, name: &str) -> Result<Pod> {
            validate::object_name("pod name", name)?;
            let api = self.api::<Pod>();
            self.call(&format!("get pod {name}"), || api.get(name))
                .await
        }

        /// Events of a pod as `kubectl describe pod` selects them.
        pub(crate) async fn events_of_pod(&self, pod: &Pod) -> Result<Vec<EventRecord>> {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let mut fields = format!(
                "involvedObject.name={name},involvedObject.namespace={},involvedObject.kind=Pod",
                self.namespace()
            );
            if let Some(uid) = &pod.metadata.uid {
                fields.push_str(&format!(",involvedObject.uid={uid}"));
            }
            let api = self.api::<Event>();
            let lp = ListParams::default().fields(&fields);
            let events = self
                .list_all(&api, &lp, &format!("list events of pod {name}"))
                .await?;
            let mut v: Vec<EventRecord> = events.iter().map(EventRecord::from_event).collect();
            sort_events(&mut v);
            Ok(v)
        }

        async fn config_exists(&self, kind: ConfigKind, name: &str) -> Result<bool> {
            // Metadata only: a Secret's data is never fetched for this check.
            let found = match kind {
                ConfigKind::Secret => {
                    let api = self.api::<Secret>();
                    self.call(&format!("get secret {name}"), || api.get_metadata_opt(name))
                        .await?
                        .is_some()
                }
                ConfigKind::ConfigMap => {
                    let api = self.api::<ConfigMap>();
                    self.call(&format!("get configmap {name}"), || {
                        api.get_metadata_opt(name)
                    })
                    .await?
                    .is_some()
                }
            };
            Ok(found)
        }
    }

    #[async_trait::async_trait]
    impl Pods for KubeCluster {
        async fn list_pods(&self) -> Result<Vec<PodSummary>> {
            let api = self.api::<Pod>();
            let pods = self
                .list_all(&api, &ListParams::default(), "list pods")
                .await?;
            Ok(pods.iter().map(PodSummary::from_pod).collect())
        }

        async fn list_pods_by_selector(&self, selector: &str) -> Result<Vec<PodSummary>> {
            let api = self.api::<Pod>();
            let lp = ListParams::default().labels(selector);
            let pods = self
                .list_all(&api, &lp, &format!("list pods -l {selector}"))
                .await?;
            Ok(pods.iter().map(PodSummary::from_pod).collect())
        }

        async fn get_pod(&self, name: &str) -> Result<PodSummary> {
            Ok(PodSummary::from_pod(&self.read_pod(name).await?))
        }

        async fn pod_events(&self, name: &str) -> Result<Vec<EventRecord>> {
            let pod = self.read_pod(name).await?;
            self.events_of_pod(&pod).await
        }

        async fn diagnose_pod(&self, name: &str) -> Result<PodDiagnosis> {
            let pod = self.read_pod(name).await?;
            let events = self.events_of_pod(&pod).await?;
            let mut missing = BTreeSet::new();
            for (kind, cfg) in config_refs_to_check(&pod) {
                if !self.config_exists(kind, &cfg).await? {
                    missing.insert((kind, cfg));
                }
            }
            let causes = diagnose(&pod, &events, &missing);
            tracing::debug!(pod = name, causes = causes.len(), "diagnosed");
            Ok(PodDiagnosis {
                pod: PodSummary::from_pod(&pod),
                causes,
                events,
            })
        }
    }
}
