//! Job pods run for real: the first container's `command` and `args` become the argument
//! vector of a child process of the test process (no shell), with the environment the pod
//! would have (its `env` and `envFrom`, Secret and ConfigMap values resolved, `fieldRef`s of the
//! pod, `$(VAR)` expansion) on top of `PATH`, `HOME` and `HOSTNAME`, and `KUBECONFIG` pointing
//! at a kubeconfig that acts as the pod's service account. Its stdout and stderr lines become
//! the container's log as they come (so `kubectl logs -f` follows them); its exit code becomes
//! the container's terminated state and the pod's phase. A command that cannot be started ends
//! the container with `StartError` (exit code 128), as a container runtime reports it.
//! Deleting the pod kills the process.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

use super::cx::Cx;
use super::kubelet::{Kubelet, addresses};
use crate::k8s::auth::Identity;
use crate::k8s::defaults::base64_decode;
use crate::k8s::knobs::{ContainerKey, Knobs, lock};
use crate::k8s::store::{Store, Stored};
use crate::k8s::util::{name_of, namespace_of, now_rfc3339, str_at, uid_of};

/// Where one process is.
#[derive(Debug, Clone)]
enum State {
    Starting,
    Running {
        started: String,
    },
    Exited {
        code: i32,
        started: String,
        finished: String,
    },
    StartFailed {
        message: String,
        at: String,
    },
}

struct Proc {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
    restarts: u32,
    /// The last termination, for `lastState` after an `OnFailure` restart.
    last: Option<Value>,
}

/// The processes of the Job pods, by pod uid.
#[derive(Default)]
pub(super) struct ProcessRunner {
    procs: HashMap<String, Proc>,
}

impl Drop for ProcessRunner {
    fn drop(&mut self) {
        for p in self.procs.values() {
            p.task.abort();
        }
    }
}

/// `$(NAME)` references to variables defined before, `$$` as a literal `$`, as the kubelet
/// expands them.
fn expand(text: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A `fieldRef` of the pod.
fn field_ref(pod: &Value, path: &str) -> Option<String> {
    let quoted = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
    };
    if let Some(k) = quoted("metadata.labels") {
        return str_at(pod, &["metadata", "labels", k]).map(String::from);
    }
    if let Some(k) = quoted("metadata.annotations") {
        return str_at(pod, &["metadata", "annotations", k]).map(String::from);
    }
    let (pod_ip, host_ip) = addresses(uid_of(pod));
    Some(match path {
        "metadata.name" => name_of(pod).to_string(),
        "metadata.namespace" => namespace_of(pod).to_string(),
        "metadata.uid" => uid_of(pod).to_string(),
        "spec.nodeName" => str_at(pod, &["spec", "nodeName"]).unwrap_or("").to_string(),
        "spec.serviceAccountName" => str_at(pod, &["spec", "serviceAccountName"])
            .unwrap_or("default")
            .to_string(),
        "status.podIP" => pod_ip,
        "status.hostIP" => host_ip,
        _ => return None,
    })
}

/// The container's environment, or why it cannot be built (the kubelet's
/// `CreateContainerConfigError` message).
fn environment(cx: &Cx, pod: &Value, container: &Value) -> Result<Vec<(String, String)>, String> {
    let ns = namespace_of(pod);
    let secret = |name: &str| cx.sh.store.get_in(cx.t.secrets, ns, name);
    let config = |name: &str| cx.sh.store.get_in(cx.t.configmaps, ns, name);
    let decode = |v: &Value| {
        v.as_str()
            .and_then(base64_decode)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let mut vars: Vec<(String, String)> = Vec::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or("");
        let (source, optional) = if let Some(n) = str_at(from, &["configMapRef", "name"]) {
            (
                config(n).map(|c| {
                    c.value["data"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect::<Vec<_>>()
                }),
                from["configMapRef"]["optional"] == true,
            )
        } else if let Some(n) = str_at(from, &["secretRef", "name"]) {
            (
                secret(n).map(|s| {
                    s.value["data"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), decode(v).unwrap_or_default()))
                        .collect::<Vec<_>>()
                }),
                from["secretRef"]["optional"] == true,
            )
        } else {
            continue;
        };
        match source {
            Some(pairs) => vars.extend(pairs.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v))),
            None if optional => {}
            None => {
                let (kind, name) = if from.get("configMapRef").is_some() {
                    ("configmap", str_at(from, &["configMapRef", "name"]))
                } else {
                    ("secret", str_at(from, &["secretRef", "name"]))
                };
                return Err(format!("{kind} \"{}\" not found", name.unwrap_or("")));
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or("").to_string();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            Some(expand(v, &vars))
        } else if let Some(r) = e["valueFrom"].get("secretKeyRef") {
            let (n, k) = (
                r["name"].as_str().unwrap_or(""),
                r["key"].as_str().unwrap_or(""),
            );
            match secret(n) {
                Some(s) => match decode(&s.value["data"][k]) {
                    Some(v) => Some(v),
                    None if r["optional"] == true => None,
                    None => return Err(format!("couldn't find key {k} in Secret {ns}/{n}")),
                },
                None if r["optional"] == true => None,
                None => return Err(format!("secret \"{n}\" not found")),
            }
        } else if let Some(r) = e["valueFrom"].get("configMapKeyRef") {
            let (n, k) = (
                r["name"].as_str().unwrap_or(""),
                r["key"].as_str().unwrap_or(""),
            );
            match config(n) {
                Some(c) => match c.value["data"][k].as_str() {
                    Some(v) => Some(v.to_string()),
                    None if r["optional"] == true => None,
                    None => return Err(format!("couldn't find key {k} in ConfigMap {ns}/{n}")),
                },
                None if r["optional"] == true => None,
                None => return Err(format!("configmap \"{n}\" not found")),
            }
        } else if let Some(path) = str_at(e, &["valueFrom", "fieldRef", "fieldPath"]) {
            field_ref(pod, path)
        } else {
            None
        };
        if let Some(v) = value {
            vars.push((name, v));
        }
    }
    Ok(vars)
}

/// Runs the child and records what happens to it.
async fn run(
    mut cmd: tokio::process::Command,
    program: String,
    state: Arc<Mutex<State>>,
    knobs: Arc<Knobs>,
    key: ContainerKey,
    store: Store,
) {
    let set = |s: State| {
        *lock(&state) = s;
        store.poke();
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!("exec: \"{program}\": executable file not found in $PATH")
            } else {
                format!("exec: \"{program}\": {e}")
            };
            set(State::StartFailed {
                message,
                at: now_rfc3339(),
            });
            return;
        }
    };
    let started = now_rfc3339();
    set(State::Running {
        started: started.clone(),
    });
    let pump = |reader: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        let knobs = knobs.clone();
        let key = key.clone();
        async move {
            let Some(reader) = reader else { return };
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                lock(&knobs.logs)
                    .entry(key.clone())
                    .or_default()
                    .current
                    .push(line);
            }
        }
    };
    let out = pump(child.stdout.take().map(|s| Box::new(s) as _));
    let err = pump(child.stderr.take().map(|s| Box::new(s) as _));
    let (_, _, status) = tokio::join!(out, err, child.wait());
    let code = match status {
        Ok(s) => s.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + s.signal().unwrap_or(9)
        }),
        Err(_) => 128,
    };
    set(State::Exited {
        code,
        started,
        finished: now_rfc3339(),
    });
}

impl ProcessRunner {
    /// Kills the processes of pods that are gone.
    pub(super) fn retain(&mut self, live: &HashSet<&str>) {
        self.procs.retain(|uid, p| {
            let keep = live.contains(uid.as_str());
            if !keep {
                p.task.abort();
            }
            keep
        });
    }

    fn start(&self, cx: &Cx, pod: &Value) -> Result<(Arc<Mutex<State>>, JoinHandle<()>), String> {
        let container = &pod["spec"]["containers"][0];
        let mut vars = environment(cx, pod, container)?;
        let mut argv: Vec<String> = container["command"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(container["args"].as_array().into_iter().flatten())
            .filter_map(|a| a.as_str().map(|s| expand(s, &vars)))
            .collect();
        let state = Arc::new(Mutex::new(State::Starting));
        let ns = namespace_of(pod);
        let key: ContainerKey = (
            ns.to_string(),
            name_of(pod).to_string(),
            container["name"].as_str().unwrap_or("").to_string(),
        );
        if container["command"].as_array().is_none_or(Vec::is_empty) {
            *lock(&state) = State::StartFailed {
                message: "this fake cluster runs a Job's first container as a process and needs its `command`; the image's entrypoint is not known".into(),
                at: now_rfc3339(),
            };
            return Ok((state, tokio::spawn(async {})));
        }
        let program = argv.remove(0);
        let sa = str_at(pod, &["spec", "serviceAccountName"]).unwrap_or("default");
        let kubeconfig = cx
            .sh
            .kubeconfigs
            .write(Some(&Identity::service_account(ns, sa)), None)
            .map(|(p, _)| p)
            .map_err(|e| format!("cannot write the service account's kubeconfig: {e}"))?;
        let dir = cx.sh.kubeconfigs.dir();
        let workdir = container["workingDir"]
            .as_str()
            .map(std::path::PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(|| dir.to_path_buf());
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&argv)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("HOSTNAME", name_of(pod))
            .env("KUBECONFIG", &kubeconfig)
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        vars.retain(|(k, _)| !k.is_empty());
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let task = tokio::spawn(run(
            cmd,
            program,
            state.clone(),
            cx.sh.knobs.clone(),
            key,
            cx.sh.store.clone(),
        ));
        Ok((state, task))
    }

    /// Moves one Job pod along: starts its process, then reports it as the kubelet would.
    pub(super) fn step(&mut self, cx: &Cx, p: &Arc<Stored>) {
        let pod = &p.value;
        if matches!(
            str_at(pod, &["status", "phase"]),
            Some("Succeeded" | "Failed")
        ) {
            return;
        }
        let uid = uid_of(pod).to_string();
        if !self.procs.contains_key(&uid) {
            match self.start(cx, pod) {
                Ok((state, task)) => {
                    self.procs.insert(
                        uid.clone(),
                        Proc {
                            state,
                            task,
                            restarts: 0,
                            last: None,
                        },
                    );
                }
                Err(message) => {
                    // Missing config: the container cannot be created yet; retried later.
                    let w = waiting("CreateContainerConfigError", &message);
                    write(cx, pod, "Pending", w, 0, None);
                    return;
                }
            }
        }
        let Some(proc) = self.procs.get_mut(&uid) else {
            return;
        };
        let state = lock(&proc.state).clone();
        let id = container_id(&uid, proc.restarts);
        let restart_on_failure = str_at(pod, &["spec", "restartPolicy"]) == Some("OnFailure");
        let (phase, cstate) = match state {
            State::Starting => ("Pending", waiting("ContainerCreating", "")),
            State::Running { started } => ("Running", json!({"running": {"startedAt": started}})),
            State::StartFailed { message, at } => (
                "Failed",
                json!({"terminated": {"exitCode": 128, "reason": "StartError", "message": message,
                    "startedAt": "1970-01-01T00:00:00Z", "finishedAt": at, "containerID": id}}),
            ),
            State::Exited {
                code,
                started,
                finished,
            } => {
                let reason = if code == 0 { "Completed" } else { "Error" };
                let terminated = json!({"terminated": {"exitCode": code, "reason": reason,
                    "startedAt": started, "finishedAt": finished, "containerID": id}});
                if code != 0 && restart_on_failure {
                    // OnFailure: the container restarts in the same pod, counted in
                    // restartCount (the Job counts those against its backoff limit).
                    proc.task.abort();
                    proc.restarts += 1;
                    proc.last = Some(terminated);
                    let (restarts, last) = (proc.restarts, proc.last.clone());
                    match self.start(cx, pod) {
                        Ok((state, task)) => {
                            if let Some(proc) = self.procs.get_mut(&uid) {
                                proc.state = state;
                                proc.task = task;
                            }
                            write(
                                cx,
                                pod,
                                "Running",
                                waiting("CrashLoopBackOff", ""),
                                restarts,
                                last,
                            );
                        }
                        Err(message) => {
                            let w = waiting("CreateContainerConfigError", &message);
                            write(cx, pod, "Pending", w, restarts, last);
                        }
                    }
                    return;
                }
                (if code == 0 { "Succeeded" } else { "Failed" }, terminated)
            }
        };
        let (restarts, last) = (proc.restarts, proc.last.clone());
        write(cx, pod, phase, cstate, restarts, last);
    }
}

/// A container ID that stays the same for one run of one pod's container.
fn container_id(uid: &str, restarts: u32) -> String {
    let h = format!("{uid}/{restarts}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!(
        "containerd://{h:016x}{:016x}{:016x}{:016x}",
        h.rotate_left(17),
        h.rotate_left(31),
        h.rotate_left(47)
    )
}

fn waiting(reason: &str, message: &str) -> Value {
    let mut w = json!({"reason": reason});
    if !message.is_empty() {
        w["message"] = json!(message);
    }
    json!({"waiting": w})
}

/// Writes the pod's status for its (first) container's state.
fn write(cx: &Cx, pod: &Value, phase: &str, state: Value, restarts: u32, last: Option<Value>) {
    let uid = uid_of(pod);
    let (pod_ip, host_ip) = addresses(uid);
    let container = &pod["spec"]["containers"][0];
    let running = state.get("running").is_some();
    let done = matches!(phase, "Succeeded" | "Failed");
    let created = str_at(pod, &["metadata", "creationTimestamp"])
        .unwrap_or("")
        .to_string();
    let cond = |t: &str, ok: bool, reason: Option<&str>| {
        let mut c = json!({"type": t, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": created});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        c
    };
    let not_ready = if done {
        Some("PodCompleted")
    } else if running {
        None
    } else {
        Some("ContainersNotReady")
    };
    let mut status = json!({
        "phase": phase,
        "conditions": [
            cond("PodReadyToStartContainers", !done, None),
            cond("Initialized", true, None),
            cond("Ready", running, not_ready),
            cond("ContainersReady", running, not_ready),
            cond("PodScheduled", true, None),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": created,
        "containerStatuses": [{
            "name": container["name"],
            "state": state,
            "lastState": last.unwrap_or_else(|| json!({})),
            "ready": running,
            "restartCount": restarts,
            "image": container["image"],
            "imageID": "",
            "started": running,
        }],
    });
    if running || done {
        status["podIP"] = json!(pod_ip);
        status["podIPs"] = json!([{"ip": pod_ip}]);
    }
    let node = Kubelet::pick_node(cx, name_of(pod));
    Kubelet::write_pod(cx, pod, node, status);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_expand_like_the_kubelet() {
        let vars = vec![
            ("A".to_string(), "x".to_string()),
            ("B".to_string(), "y".to_string()),
        ];
        assert_eq!(expand("$(A)-$(B)", &vars), "x-y");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("$(C) $5", &vars), "$(C) $5");
    }

    #[test]
    fn field_refs() {
        let pod = json!({"metadata": {"name": "p", "namespace": "n", "uid": "u", "labels": {"app": "a"}}, "spec": {"nodeName": "node"}});
        assert_eq!(field_ref(&pod, "metadata.name").as_deref(), Some("p"));
        assert_eq!(
            field_ref(&pod, "metadata.labels['app']").as_deref(),
            Some("a")
        );
        assert_eq!(
            field_ref(&pod, "spec.serviceAccountName").as_deref(),
            Some("default")
        );
        assert_eq!(field_ref(&pod, "nope"), None);
    }
}
