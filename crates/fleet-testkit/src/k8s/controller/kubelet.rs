//! The kubelet stand-in: binds pods to nodes and moves them from Pending to Running and Ready
//! over the cluster's `pod_ready_after`, or into the failure a [`Scenario`] asks for (crash
//! loop, OOMKilled, image pull failure, unschedulable, stuck), with the events and logs a real
//! node produces. A Secret or ConfigMap referenced from `env` that does not exist gives
//! `CreateContainerConfigError`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cx::{Cx, controller_ref};
use super::pod_status::decorate_pod_status;
use crate::k8s::knobs::{ContainerLogs, Scenario, lock};
use crate::k8s::resources::ResourceType;
use crate::k8s::store::Stored;
use crate::k8s::util::{at, format_ts, name_of, namespace_of, str_at, uid_of};

/// When a managed pod was first seen, so that its lifecycle runs on a stable clock.
struct PodTrack {
    seen: Instant,
    seen_wall: jiff::Timestamp,
    events: HashSet<String>,
    /// Containers started once: a Secret or ConfigMap deleted later does not stop them.
    started: bool,
    /// Time to Ready, fixed when the pod is first seen.
    ready_after: Duration,
}

fn uid_hash(uid: &str) -> u64 {
    uid.bytes()
        .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)))
}

/// The pod IP and host IP of a pod, stable for its uid.
pub(super) fn addresses(uid: &str) -> (String, String) {
    let h = uid_hash(uid);
    (
        format!("10.244.{}.{}", (h >> 8) % 250 + 1, h % 250 + 2),
        format!("10.0.0.{}", (h >> 20) % 200 + 10),
    )
}

/// The kubelet's memory of the pods it runs.
#[derive(Default)]
pub(super) struct Kubelet {
    pods: HashMap<String, PodTrack>,
    /// While the seed settles, pods are ready at once: the seeded world has been running.
    pub(super) settling: bool,
}

impl Kubelet {
    /// Forgets pods that no longer exist.
    pub(super) fn retain(&mut self, live: &HashSet<&str>) {
        self.pods.retain(|uid, _| live.contains(uid.as_str()));
    }

    /// Missing Secret / ConfigMap referenced from env: the kubelet's
    /// `CreateContainerConfigError` message, if any.
    pub(super) fn missing_ref(cx: &Cx, ns: &str, pod: &Value) -> Option<String> {
        let exists = |rt: &ResourceType, n: &str| cx.sh.store.get_in(rt, ns, n).is_some();
        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
            for e in c["env"].as_array().into_iter().flatten() {
                if let Some(n) = str_at(e, &["valueFrom", "secretKeyRef", "name"])
                    && !exists(cx.t.secrets, n)
                    && e["valueFrom"]["secretKeyRef"]["optional"] != true
                {
                    return Some(format!("secret \"{n}\" not found"));
                }
                if let Some(n) = str_at(e, &["valueFrom", "configMapKeyRef", "name"])
                    && !exists(cx.t.configmaps, n)
                    && e["valueFrom"]["configMapKeyRef"]["optional"] != true
                {
                    return Some(format!("configmap \"{n}\" not found"));
                }
            }
            for e in c["envFrom"].as_array().into_iter().flatten() {
                if let Some(n) = str_at(e, &["secretRef", "name"])
                    && !exists(cx.t.secrets, n)
                    && e["secretRef"]["optional"] != true
                {
                    return Some(format!("secret \"{n}\" not found"));
                }
                if let Some(n) = str_at(e, &["configMapRef", "name"])
                    && !exists(cx.t.configmaps, n)
                    && e["configMapRef"]["optional"] != true
                {
                    return Some(format!("configmap \"{n}\" not found"));
                }
            }
        }
        None
    }

    /// The node a pod lands on: one of the nodes, chosen by its name.
    pub(super) fn pick_node(cx: &Cx, pod_name: &str) -> Option<String> {
        let (nodes, _) = cx.sh.store.list_in(cx.t.nodes, None);
        if nodes.is_empty() {
            return None;
        }
        let h = pod_name
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Some(name_of(&nodes[(h % nodes.len() as u64) as usize].value).to_string())
    }

    /// Moves one pod along its lifecycle; returns when its next transition is due.
    pub(super) fn step(&mut self, cx: &Cx, p: &Arc<Stored>) -> Option<Duration> {
        let pod = &p.value;
        let uid = uid_of(pod).to_string();
        if controller_ref(pod).is_some_and(|(kind, _)| kind == "Job") {
            // Job pods run as processes (see `process`).
            return None;
        }
        if !self.pods.contains_key(&uid) {
            // Pods whose status the test wrote itself are left alone.
            if at(pod, &["status", "containerStatuses"]).is_some() {
                return None;
            }
        }
        let ns = namespace_of(pod).to_string();
        let name = name_of(pod).to_string();
        let images: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["image"].as_str())
            .collect();
        let scenario = cx.sh.knobs.scenario_for(&ns, &name, &images);
        let settling = self.settling;
        let knob = *lock(&cx.sh.knobs.pod_ready_after);
        let track = self.pods.entry(uid.clone()).or_insert_with(|| PodTrack {
            seen: Instant::now(),
            seen_wall: jiff::Timestamp::now(),
            events: HashSet::new(),
            started: false,
            ready_after: match &scenario {
                _ if settling => Duration::ZERO,
                Scenario::SlowStart(d) => *d,
                _ => knob,
            },
        });
        let ready_after = track.ready_after;
        let already_started = self.pods.get(&uid).is_some_and(|t| t.started);
        let missing = if already_started {
            None
        } else {
            Self::missing_ref(cx, &ns, pod)
        };
        let track = self.pods.get(&uid)?;
        let elapsed = track.seen.elapsed();
        let t0 = track.seen_wall;
        let at_offset =
            |d: Duration| format_ts(t0 + jiff::SignedDuration::try_from(d).unwrap_or_default());
        let half = ready_after / 2;
        let mut pending_events: Vec<(&'static str, &'static str, String, Option<String>)> =
            Vec::new();
        let mut next = None;
        let node = str_at(pod, &["spec", "nodeName"])
            .map(String::from)
            .or_else(|| {
                if matches!(scenario, Scenario::Unschedulable { .. }) {
                    None
                } else {
                    Self::pick_node(cx, &name)
                }
            });
        let h = uid_hash(&uid);
        let (pod_ip, host_ip) = addresses(&uid);
        let scheduled_at = at_offset(Duration::ZERO);
        let cond = |t: &str, s: bool, when: &str| json!({"type": t, "status": if s { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": when});
        let containers: Vec<(String, String)> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["image"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let cid = |c: &str| {
            format!(
                "containerd://{:016x}{:016x}{:016x}{:016x}",
                h,
                h ^ 0x5555,
                h.rotate_left(7) ^ c.len() as u64,
                h.rotate_right(9)
            )
        };
        let image_id = |img: &str| {
            let ih = img.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |a, b| {
                (a ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!(
                "{}@sha256:{:016x}{:016x}{:016x}{:016x}",
                img.split(':').next().unwrap_or(img),
                ih,
                ih.rotate_left(13),
                ih.rotate_left(29),
                ih.rotate_left(41)
            )
        };
        let mut status = json!({"qosClass": pod["status"].get("qosClass").cloned().unwrap_or(json!("BestEffort"))});
        if let Scenario::Unschedulable { message } = &scenario {
            status["phase"] = json!("Pending");
            status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "lastProbeTime": null, "lastTransitionTime": scheduled_at, "reason": "Unschedulable", "message": message}]);
            pending_events.push(("Warning", "FailedScheduling", message.clone(), None));
            Self::write_pod(cx, pod, None, status);
            self.pod_events(cx, &uid, pod, pending_events);
            return None;
        }
        status["hostIP"] = json!(host_ip);
        status["hostIPs"] = json!([{"ip": host_ip}]);
        status["startTime"] = json!(scheduled_at);
        pending_events.push((
            "Normal",
            "Scheduled",
            format!(
                "Successfully assigned {ns}/{name} to {}",
                node.clone().unwrap_or_default()
            ),
            None,
        ));
        let waiting_status = |c: &(String, String),
                              reason: &str,
                              message: Option<String>,
                              restarts: u32,
                              last: Value| {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"name": c.0, "state": {"waiting": w}, "lastState": last, "ready": false, "restartCount": restarts, "image": c.1, "imageID": if restarts > 0 { json!(image_id(&c.1)) } else { json!("") }, "started": false})
        };
        let failing = |reason: &str| match &scenario {
            Scenario::ImagePullFailure => Some(("ImagePullBackOff".to_string(), None)),
            _ => missing.clone().map(|m| (reason.to_string(), Some(m))),
        };
        let crash = match &scenario {
            Scenario::CrashLoop {
                exit_code,
                restarts,
            } => Some((
                *exit_code,
                *restarts,
                if *exit_code == 137 {
                    "OOMKilled"
                } else {
                    "Error"
                },
            )),
            Scenario::OomKilled { restarts } => Some((137, *restarts, "OOMKilled")),
            _ => None,
        };
        let unready_msg = format!(
            "containers with unready status: [{}]",
            containers
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let all_cond = |ready: bool, started: bool, when_ready: &str| {
            let mut ready_c = cond("Ready", ready, when_ready);
            let mut containers_c = cond("ContainersReady", ready, when_ready);
            if !ready {
                for c in [&mut ready_c, &mut containers_c] {
                    c["reason"] = json!("ContainersNotReady");
                    c["message"] = json!(unready_msg);
                }
            }
            Value::Array(vec![
                cond("PodReadyToStartContainers", started, &scheduled_at),
                cond("Initialized", true, &scheduled_at),
                ready_c,
                containers_c,
                cond("PodScheduled", true, &scheduled_at),
            ])
        };
        if let Some((reason, message)) = failing("CreateContainerConfigError") {
            status["phase"] = json!("Pending");
            status["conditions"] = all_cond(false, true, &scheduled_at);
            status["containerStatuses"] = containers
                .iter()
                .map(|c| {
                    waiting_status(
                        c,
                        &reason,
                        message.clone().or_else(|| {
                            (reason == "ImagePullBackOff")
                                .then(|| format!("Back-off pulling image \"{}\"", c.1))
                        }),
                        0,
                        json!({}),
                    )
                })
                .collect();
            if matches!(scenario, Scenario::ImagePullFailure) {
                for c in &containers {
                    let fp = Some(format!("spec.containers{{{}}}", c.0));
                    pending_events.push((
                        "Normal",
                        "Pulling",
                        format!("Pulling image \"{}\"", c.1),
                        fp.clone(),
                    ));
                    pending_events.push(("Warning", "Failed", format!("Failed to pull image \"{}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{}\": not found", c.1, c.1), fp.clone()));
                    pending_events.push((
                        "Warning",
                        "Failed",
                        "Error: ErrImagePull".into(),
                        fp.clone(),
                    ));
                    pending_events.push((
                        "Normal",
                        "BackOff",
                        format!("Back-off pulling image \"{}\"", c.1),
                        fp.clone(),
                    ));
                    pending_events.push((
                        "Warning",
                        "Failed",
                        "Error: ImagePullBackOff".into(),
                        fp,
                    ));
                }
            } else if let Some(m) = &message {
                for c in &containers {
                    pending_events.push((
                        "Warning",
                        "Failed",
                        format!("Error: {m}"),
                        Some(format!("spec.containers{{{}}}", c.0)),
                    ));
                }
            }
        } else if matches!(scenario, Scenario::Stuck) || elapsed < half {
            status["phase"] = json!("Pending");
            status["conditions"] = all_cond(false, false, &scheduled_at);
            status["containerStatuses"] = containers
                .iter()
                .map(|c| waiting_status(c, "ContainerCreating", None, 0, json!({})))
                .collect();
            if !matches!(scenario, Scenario::Stuck) {
                next = Some(half - elapsed);
            }
        } else {
            let started_at = at_offset(half);
            status["phase"] = json!("Running");
            if let Some(t) = self.pods.get_mut(&uid) {
                t.started = true;
            }
            status["podIP"] = json!(pod_ip);
            status["podIPs"] = json!([{"ip": pod_ip}]);
            for c in &containers {
                let fp = Some(format!("spec.containers{{{}}}", c.0));
                pending_events.push((
                    "Normal",
                    "Pulled",
                    format!("Container image \"{}\" already present on machine", c.1),
                    fp.clone(),
                ));
                pending_events.push((
                    "Normal",
                    "Created",
                    format!("Created container: {}", c.0),
                    fp.clone(),
                ));
                pending_events.push((
                    "Normal",
                    "Started",
                    format!("Started container {}", c.0),
                    fp,
                ));
            }
            if let Some((code, restarts, reason)) = crash {
                status["conditions"] = all_cond(false, true, &started_at);
                status["containerStatuses"] = containers.iter().map(|c| {
                    let last = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": started_at, "containerID": cid(&c.0)}});
                    let mut s = waiting_status(c, "CrashLoopBackOff", Some(format!("back-off 5m0s restarting failed container={} pod={name}_{ns}({uid})", c.0)), restarts.max(1), last);
                    s["containerID"] = json!(cid(&c.0));
                    s
                }).collect();
                for c in &containers {
                    pending_events.push((
                        "Warning",
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {} in pod {name}_{ns}({uid})",
                            c.0
                        ),
                        Some(format!("spec.containers{{{}}}", c.0)),
                    ));
                    let mut logs = lock(&cx.sh.knobs.logs);
                    let entry = logs
                        .entry((ns.clone(), name.clone(), c.0.clone()))
                        .or_default();
                    if entry.previous.is_none() {
                        entry.previous = Some(if reason == "OOMKilled" {
                            vec![
                                format!("{} INFO starting {} ({})", started_at, c.0, c.1),
                                format!(
                                    "{} WARN memory usage above limit, allocation failed",
                                    started_at
                                ),
                            ]
                        } else {
                            vec![
                                format!("{} INFO starting {} ({})", started_at, c.0, c.1),
                                format!(
                                    "{} FATAL unrecoverable error, exiting with code {code}",
                                    started_at
                                ),
                            ]
                        });
                    }
                }
            } else {
                let ready = elapsed >= ready_after;
                if !ready {
                    next = Some(ready_after - elapsed);
                }
                let ready_at = at_offset(ready_after);
                status["conditions"] =
                    all_cond(ready, true, if ready { &ready_at } else { &started_at });
                status["containerStatuses"] = containers.iter().map(|c| json!({
                    "name": c.0, "state": {"running": {"startedAt": started_at}}, "lastState": {},
                    "ready": ready, "restartCount": 0, "image": c.1, "imageID": image_id(&c.1),
                    "containerID": cid(&c.0), "started": true
                })).collect();
                let mut logs = lock(&cx.sh.knobs.logs);
                for c in &containers {
                    logs.entry((ns.clone(), name.clone(), c.0.clone()))
                        .or_insert_with(|| ContainerLogs {
                            current: vec![
                                format!("{started_at} INFO starting {} ({})", c.0, c.1),
                                format!("{started_at} INFO listening on :8080"),
                                format!("{started_at} INFO ready"),
                            ],
                            previous: None,
                        });
                }
            }
        }
        Self::write_pod(cx, pod, node, status);
        self.pod_events(cx, &uid, pod, pending_events);
        next
    }

    /// Writes a pod's status (and its node when first bound), decorated as a kubelet
    /// reports it; nothing is written when nothing changed.
    pub(super) fn write_pod(cx: &Cx, pod: &Value, node: Option<String>, mut status: Value) {
        let (ns, name) = (namespace_of(pod), name_of(pod));
        decorate_pod_status(pod, &mut status);
        let bound = pod["spec"].get("nodeName").is_some() || node.is_none();
        if bound && pod["status"] == status {
            // Nothing changed: skip the write (and its copies) altogether.
            return;
        }
        let _ = cx.sh.store.modify_in(cx.t.pods, ns, name, |v| {
            if let Some(n) = &node
                && v["spec"].get("nodeName").is_none()
            {
                v["spec"]["nodeName"] = json!(n);
            }
            v["status"] = status.clone();
        });
    }

    fn pod_events(
        &mut self,
        cx: &Cx,
        uid: &str,
        pod: &Value,
        events: Vec<(&'static str, &'static str, String, Option<String>)>,
    ) {
        let mut fresh = Vec::new();
        if let Some(track) = self.pods.get_mut(uid) {
            for e in events {
                let key = format!("{}|{}", e.1, e.2);
                if track.events.insert(key) {
                    fresh.push(e);
                }
            }
        }
        for (ty, reason, message, fp) in fresh {
            let component = if reason == "FailedScheduling" || reason == "Scheduled" {
                "default-scheduler"
            } else {
                "kubelet"
            };
            cx.event(pod, "Pod", ty, reason, &message, component, fp.as_deref());
        }
    }
}
