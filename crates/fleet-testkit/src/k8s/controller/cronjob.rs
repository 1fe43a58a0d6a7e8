//! The CronJob controller: at each time the schedule names (in `spec.timeZone`, UTC by
//! default) it creates a Job `<cronjob>-<minutes since the epoch>` from the template, as the
//! real controller does, honouring `suspend`, `startingDeadlineSeconds` and the concurrency
//! policy (`Allow`, `Forbid`, `Replace`); it tracks active Jobs, `lastScheduleTime` and
//! `lastSuccessfulTime`, and keeps `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`
//! finished Jobs. Time can be moved forward for it
//! ([`FakeCluster::advance_cron_clock`](crate::k8s::FakeCluster::advance_cron_clock)), and a run
//! can be started at once
//! ([`FakeCluster::trigger_cronjob`](crate::k8s::FakeCluster::trigger_cronjob)).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::cx::{Cx, controller_ref, owner_ref};
use super::job::finished;
use crate::k8s::cron::Schedule;
use crate::k8s::knobs::lock;
use crate::k8s::status::ApiError;
use crate::k8s::store::Stored;
use crate::k8s::util::{
    at, format_ts, i64_at, name_of, namespace_of, parse_ts, random_suffix, str_at, uid_of,
};

/// The controller's clock: real time moved forward by the knob.
fn now(cx: &Cx) -> Timestamp {
    let offset = *lock(&cx.sh.knobs.cron_clock_offset);
    Timestamp::now() + jiff::SignedDuration::try_from(offset).unwrap_or_default()
}

fn zone(cj: &Value) -> TimeZone {
    str_at(cj, &["spec", "timeZone"])
        .and_then(|z| TimeZone::get(z).ok())
        .unwrap_or(TimeZone::UTC)
}

/// A Job from the CronJob's template (labels and annotations of the template, owned by the
/// CronJob), not yet stored.
fn job_from(cj: &Value, name: &str, annotations: &[(&str, String)]) -> Value {
    let tpl = &cj["spec"]["jobTemplate"];
    let mut meta = tpl["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    meta["name"] = json!(name);
    meta["namespace"] = json!(namespace_of(cj));
    for (k, v) in annotations {
        meta["annotations"][*k] = json!(v);
    }
    meta["ownerReferences"] = json!([owner_ref(cj, "batch/v1", "CronJob")]);
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": tpl["spec"]})
}

fn job_ref(job: &Value) -> Value {
    json!({"kind": "Job", "namespace": namespace_of(job), "name": name_of(job), "uid": uid_of(job),
        "apiVersion": "batch/v1", "resourceVersion": job["metadata"]["resourceVersion"]})
}

/// Creates a Job from `cj` now, as `kubectl create job --from=cronjob/...` does.
pub(crate) fn trigger(cx: &Cx, ns: &str, name: &str) -> Result<String, ApiError> {
    let cj = cx.sh.store.existing(cx.t.cronjobs, ns, name)?;
    let job_name = format!("{name}-manual-{}", random_suffix(5));
    let job = job_from(
        &cj.value,
        &job_name,
        &[("cronjob.kubernetes.io/instantiate", "manual".into())],
    );
    cx.sh.store.create(cx.t.jobs, ns, job, false)?;
    Ok(job_name)
}

/// Reconciles every CronJob; returns when the next scheduled time falls due.
pub(super) fn sync_all(cx: &Cx) -> Option<Duration> {
    let (cronjobs, _) = cx.sh.store.list_in(cx.t.cronjobs, None);
    if cronjobs.is_empty() {
        return None;
    }
    let (jobs, _) = cx.sh.store.list_in(cx.t.jobs, None);
    let mut next: Option<Duration> = None;
    for cj in &cronjobs {
        let mine: Vec<&Arc<Stored>> = jobs
            .iter()
            .filter(|j| controller_ref(&j.value).is_some_and(|(_, u)| u == uid_of(&cj.value)))
            .collect();
        if let Some(d) = sync(cx, &cj.value, &mine) {
            next = Some(next.map_or(d, |n| n.min(d)));
        }
    }
    next
}

fn sync(cx: &Cx, cj: &Value, jobs: &[&Arc<Stored>]) -> Option<Duration> {
    let (ns, name) = (namespace_of(cj), name_of(cj));
    let schedule = Schedule::parse(str_at(cj, &["spec", "schedule"]).unwrap_or("")).ok()?;
    let tz = zone(cj);
    let now = now(cx);
    let mut status = cj["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    // Active Jobs: the unfinished ones this CronJob owns.
    let mut active: Vec<Value> = Vec::new();
    let mut finished_jobs: Vec<(&str, &Value)> = Vec::new();
    for j in jobs {
        match finished(&j.value) {
            None => active.push(job_ref(&j.value)),
            Some(outcome) => {
                finished_jobs.push((outcome, &j.value));
                let was_active = status["active"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|r| r["uid"] == j.value["metadata"]["uid"]));
                if was_active {
                    cx.event(
                        cj,
                        "CronJob",
                        "Normal",
                        "SawCompletedJob",
                        &format!(
                            "Saw completed job: {}, condition: {outcome}",
                            name_of(&j.value)
                        ),
                        "cronjob-controller",
                        None,
                    );
                }
                if outcome == "Complete"
                    && let Some(done) = at(&j.value, &["status", "completionTime"])
                    && parse_ts(Some(done)) > parse_ts(status.get("lastSuccessfulTime"))
                {
                    status["lastSuccessfulTime"] = done.clone();
                }
            }
        }
    }
    // History limits, oldest first.
    for (outcome, limit) in [
        (
            "Complete",
            i64_at(cj, &["spec", "successfulJobsHistoryLimit"], 3),
        ),
        ("Failed", i64_at(cj, &["spec", "failedJobsHistoryLimit"], 1)),
    ] {
        let mut done: Vec<&Value> = finished_jobs
            .iter()
            .filter(|(o, _)| *o == outcome)
            .map(|(_, j)| *j)
            .collect();
        // Oldest start first, ties by name, as the real controller orders them.
        done.sort_by_key(|j| {
            (
                parse_ts(at(j, &["status", "startTime"])),
                name_of(j).to_string(),
            )
        });
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        for j in &done[..excess] {
            let _ = cx
                .sh
                .store
                .delete_in(cx.t.jobs, ns, name_of(j), None, false);
        }
    }
    // The most recent scheduled time not yet acted on.
    let earliest = parse_ts(status.get("lastScheduleTime"))
        .or_else(|| parse_ts(at(cj, &["metadata", "creationTimestamp"])))
        .unwrap_or(now);
    let mut due = None;
    let mut t = schedule.next_after(earliest, &tz);
    let mut missed = 0;
    while let Some(at_t) = t {
        if at_t > now || missed > 100 {
            break;
        }
        due = Some(at_t);
        missed += 1;
        t = schedule.next_after(at_t, &tz);
    }
    let wait = t.map(|n| {
        Duration::try_from(n.duration_since(now)).unwrap_or_default() + Duration::from_millis(10)
    });
    let suspended = cj["spec"]["suspend"] == true;
    if let Some(scheduled) = due.filter(|_| !suspended) {
        let late = now.as_second() - scheduled.as_second();
        let too_late = at(cj, &["spec", "startingDeadlineSeconds"])
            .and_then(Value::as_i64)
            .is_some_and(|d| late > d);
        let policy = str_at(cj, &["spec", "concurrencyPolicy"]).unwrap_or("Allow");
        if too_late {
            cx.event(
                cj,
                "CronJob",
                "Warning",
                "MissSchedule",
                &format!(
                    "Missed scheduled time to start a job: {}",
                    format_ts(scheduled)
                ),
                "cronjob-controller",
                None,
            );
            status["lastScheduleTime"] = json!(format_ts(scheduled));
        } else if policy == "Forbid" && !active.is_empty() {
            cx.event(cj, "CronJob", "Normal", "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
                "cronjob-controller", None);
        } else {
            if policy == "Replace" {
                for r in &active {
                    let jn = r["name"].as_str().unwrap_or("");
                    let _ = cx.sh.store.delete_in(cx.t.jobs, ns, jn, None, false);
                    cx.event(
                        cj,
                        "CronJob",
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted job {jn}"),
                        "cronjob-controller",
                        None,
                    );
                }
                active.clear();
            }
            let job_name = format!("{name}-{}", scheduled.as_second() / 60);
            let stamp = tz
                .to_zoned_datetime(tz.to_datetime(scheduled))
                .map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
                .unwrap_or_else(|_| format_ts(scheduled));
            let job = job_from(
                cj,
                &job_name,
                &[("batch.kubernetes.io/cronjob-scheduled-timestamp", stamp)],
            );
            match cx.sh.store.create(cx.t.jobs, ns, job, false) {
                Ok(created) => {
                    active.push(job_ref(&created.value));
                    cx.event(
                        cj,
                        "CronJob",
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created job {job_name}"),
                        "cronjob-controller",
                        None,
                    );
                }
                Err(e) if e.reason == "AlreadyExists" => {}
                Err(e) => {
                    tracing::debug!(error = %e, "fake cluster could not create a scheduled Job");
                }
            }
            status["lastScheduleTime"] = json!(format_ts(scheduled));
        }
    }
    if active.is_empty() {
        if let Some(m) = status.as_object_mut() {
            m.remove("active");
        }
    } else {
        status["active"] = Value::Array(active);
    }
    if status != cj["status"] {
        let _ = cx
            .sh
            .store
            .modify_in(cx.t.cronjobs, ns, name, |v| v["status"] = status.clone());
    }
    wait
}
