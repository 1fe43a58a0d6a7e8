//! Diagnosis: a pod's status and events turned into causes, each with what to do next.

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::columns::{ContainerState, PodSummary, Termination};
use crate::events::EventRecord;
use crate::validate;

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
            Cause::OomKilled { .. } => "scale vertically: raise the memory limit with update_resources (the policy's vertical step), then watch memory with top pods".into(),
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
    // The names come from kubelet messages and pod specs and go into URL paths: only valid
    // object names are looked up (a message naming `../x` is reported, never requested).
    out.retain(|(kind, name)| {
        let ok = validate::object_name("config reference", name).is_ok();
        if !ok {
            tracing::debug!(%kind, name = %name.escape_debug(), "not looking up an invalid object name");
        }
        ok
    });
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
/// that were checked and found absent ([`Pods::diagnose_pod`](crate::Pods::diagnose_pod) does
/// the check); this is for pods and events obtained otherwise.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::from;

    fn pod_with_message(msg: &str) -> Pod {
        from(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app", "image": "a:1",
                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "Bad_Name", "key": "k"}}}]}]},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "app", "image": "a:1", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "CreateContainerConfigError", "message": msg}}}]}
        }))
    }

    /// Names taken from kubelet messages (or env references) go into URL paths only when they
    /// are object names; before, `secret "../x"` was looked up as it came.
    #[test]
    fn only_valid_names_are_looked_up() {
        let ok = pod_with_message("secret \"db-credentials\" not found");
        assert_eq!(
            config_refs_to_check(&ok).into_iter().collect::<Vec<_>>(),
            [(ConfigKind::Secret, "db-credentials".to_string())]
        );
        for msg in [
            "secret \"../../../api/v1/namespaces/kube-system/secrets/admin\" not found",
            "secret \"a/b\" not found",
            "configmap \"x?watch=true\" not found",
            "secret \"\" not found",
            "secret \"é\" not found",
            // No name in the message: the env references are used, and this one is invalid.
            "couldn't find key k",
        ] {
            assert!(
                config_refs_to_check(&pod_with_message(msg)).is_empty(),
                "{msg}"
            );
        }
    }
}
