//! The Job controller: keeps `parallelism` pods running until `completions` of them succeeded,
//! counts failures (pods that failed, and container restarts under `OnFailure`) against
//! `backoffLimit`, stops at `activeDeadlineSeconds`, honours `suspend`, and reports status
//! (`startTime`, `active`, `ready`, `succeeded`, `failed`, `completionTime`) and the conditions
//! of a finished Job (`SuccessCriteriaMet` and `Complete`, or `FailureTarget` and `Failed`) with
//! the real reasons. Its pods are run as processes by the process runner.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::cx::{Cx, controller_ref, owner_ref, pod_ready};
use crate::k8s::store::Stored;
use crate::k8s::util::{
    at, i64_at, name_of, namespace_of, now_rfc3339, parse_ts, random_suffix, str_at, uid_of,
};

fn condition_true(job: &Value, ty: &str) -> bool {
    at(job, &["status", "conditions"])
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

/// Whether the Job has finished (complete or failed).
pub(crate) fn finished(job: &Value) -> Option<&'static str> {
    if condition_true(job, "Complete") {
        Some("Complete")
    } else if condition_true(job, "Failed") {
        Some("Failed")
    } else {
        None
    }
}

fn phase(p: &Value) -> &str {
    str_at(p, &["status", "phase"]).unwrap_or("Pending")
}

fn condition(ty: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": ty, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

/// Reconciles every Job; returns when the earliest active deadline falls due.
pub(super) fn sync_all(cx: &Cx) -> Option<Duration> {
    let (jobs, _) = cx.sh.store.list_in(cx.t.jobs, None);
    if jobs.is_empty() {
        return None;
    }
    let (pods, _) = cx.sh.store.list_in(cx.t.pods, None);
    let mut by_owner: HashMap<&str, Vec<&Value>> = HashMap::new();
    for p in &pods {
        if let Some(("Job", uid)) = controller_ref(&p.value) {
            by_owner.entry(uid).or_default().push(&p.value);
        }
    }
    let mut next: Option<Duration> = None;
    for job in &jobs {
        let mine = by_owner.remove(uid_of(&job.value)).unwrap_or_default();
        if let Some(d) = sync(cx, job, &mine) {
            next = Some(next.map_or(d, |n| n.min(d)));
        }
    }
    next
}

fn delete_pods(cx: &Cx, pods: &[&Value]) {
    for p in pods {
        let _ = cx
            .sh
            .store
            .delete_in(cx.t.pods, namespace_of(p), name_of(p), None, false);
    }
}

fn sync(cx: &Cx, job: &Arc<Stored>, pods: &[&Value]) -> Option<Duration> {
    let job = &job.value;
    if finished(job).is_some() || at(job, &["metadata", "deletionTimestamp"]).is_some() {
        return None;
    }
    let (ns, name) = (namespace_of(job), name_of(job));
    let spec = &job["spec"];
    let active: Vec<&Value> = pods
        .iter()
        .copied()
        .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
        .collect();
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let restarts: i64 = pods
        .iter()
        .flat_map(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .map(|c| i64_at(c, &["restartCount"], 0))
        .sum();
    let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64 + restarts;
    let ready = active.iter().filter(|p| pod_ready(p)).count() as i64;
    let now = now_rfc3339();
    let mut status = json!({});
    let mut conditions: Vec<Value> = Vec::new();
    let mut next = None;

    if spec["suspend"] == true {
        delete_pods(cx, &active);
        conditions.push(condition(
            "Suspended",
            "JobSuspended",
            "Job suspended",
            &now,
        ));
    } else {
        let start = at(job, &["status", "startTime"])
            .cloned()
            .unwrap_or_else(|| json!(now));
        status["startTime"] = start.clone();
        let completions = at(spec, &["completions"])
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let parallelism = i64_at(spec, &["parallelism"], 1);
        let backoff = i64_at(spec, &["backoffLimit"], 6);
        let deadline = at(spec, &["activeDeadlineSeconds"]).and_then(Value::as_i64);
        let elapsed = parse_ts(Some(&start))
            .map(|t| jiff::Timestamp::now().as_second() - t.as_second())
            .unwrap_or(0);
        let failure = if failed > backoff {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if deadline.is_some_and(|d| elapsed >= d) {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else {
            None
        };
        if let Some((reason, message)) = failure {
            delete_pods(cx, &active);
            conditions.push(condition("FailureTarget", reason, message, &now));
            conditions.push(condition("Failed", reason, message, &now));
            cx.event(
                job,
                "Job",
                "Warning",
                reason,
                message,
                "job-controller",
                None,
            );
        } else if succeeded >= completions {
            let message = "Reached expected number of succeeded pods";
            conditions.push(condition(
                "SuccessCriteriaMet",
                "CompletionsReached",
                message,
                &now,
            ));
            conditions.push(condition("Complete", "CompletionsReached", message, &now));
            status["completionTime"] = json!(now);
            cx.event(
                job,
                "Job",
                "Normal",
                "Completed",
                "Job completed",
                "job-controller",
                None,
            );
        } else {
            let want = parallelism.min(completions - succeeded).max(0);
            for _ in active.len() as i64..want {
                create_pod(cx, job);
            }
            if let Some(d) = deadline {
                next = Some(Duration::from_secs((d - elapsed).max(0) as u64 + 1));
            }
        }
    }
    // Counts as the pods stand now (created ones start as active).
    let (now_pods, _) = cx.sh.store.list_in(cx.t.pods, Some(ns));
    let active_now = now_pods
        .iter()
        .filter(|p| controller_ref(&p.value).is_some_and(|(_, u)| u == uid_of(job)))
        .filter(|p| !matches!(phase(&p.value), "Succeeded" | "Failed"))
        .count() as i64;
    for (k, n) in [
        ("active", active_now),
        ("succeeded", succeeded),
        ("failed", failed),
    ] {
        if n > 0 {
            status[k] = json!(n);
        }
    }
    status["ready"] = json!(ready);
    status["terminating"] = json!(0);
    status["uncountedTerminatedPods"] = json!({});
    if !conditions.is_empty() {
        status["conditions"] = Value::Array(conditions);
    }
    let old = job["status"].clone();
    if old != status {
        let _ = cx.sh.store.modify_in(cx.t.jobs, ns, name, |v| {
            // Keep transition times of conditions that were already there.
            let mut s = status.clone();
            if let (Some(new), Some(before)) = (
                s.get_mut("conditions").and_then(Value::as_array_mut),
                v["status"].get("conditions").and_then(Value::as_array),
            ) {
                for c in new {
                    if let Some(b) = before.iter().find(|b| b["type"] == c["type"]) {
                        *c = b.clone();
                    }
                }
            }
            v["status"] = s;
        });
    }
    next
}

fn create_pod(cx: &Cx, job: &Value) {
    let (ns, name) = (namespace_of(job), name_of(job));
    let tpl = &job["spec"]["template"];
    let pod_name = format!("{name}-{}", random_suffix(5));
    let mut meta = tpl["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    meta["name"] = json!(pod_name);
    meta["generateName"] = json!(format!("{name}-"));
    meta["namespace"] = json!(ns);
    meta["ownerReferences"] = json!([owner_ref(job, "batch/v1", "Job")]);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tpl["spec"]});
    match cx.sh.store.create(cx.t.pods, ns, pod, false) {
        Ok(_) => cx.event(
            job,
            "Job",
            "Normal",
            "SuccessfulCreate",
            &format!("Created pod: {pod_name}"),
            "job-controller",
            None,
        ),
        Err(e) => tracing::debug!(error = %e, "fake cluster could not create a Job pod"),
    }
}
