//! The deploy and rollback procedures end to end on FakeCluster, a real PostgreSQL, a local
//! application for the smoke tests, a Slack receiver and a metrics stand-in.

use std::sync::atomic::Ordering;
use std::time::Duration;

use fleet_guard::{AuditPhase, Mode, StepOutcome};
use fleet_policy::Outcome;
use fleet_runbook::{
    Deploy, DeployOptions, PreflightOptions, Report, Rollback, RollbackOptions, RunStatus, Signals,
    ValidateOptions,
};
use fleet_testkit::k8s::Scenario;

use crate::common::dead_address;
use crate::world::{World, approvals, executor};

pub(crate) const NEW: &str = "registry.example.com/fleet/fleet-api:1.3.0";

pub(crate) fn deploy(w: &World, signals: Signals, preflight: PreflightOptions) -> Deploy {
    let validate =
        ValidateOptions::new("fleet-api", w.smoke()).with_metrics_window(Duration::from_secs(60));
    let options = DeployOptions::new(preflight, "fleet-api", NEW, validate)
        .with_bake(Duration::from_millis(600), Duration::from_millis(150))
        .with_rollout_timeout(Duration::from_secs(30));
    Deploy::new(
        w.kube.clone(),
        Some(w.db.clone()),
        Some(w.azure.clone()),
        signals,
        w.policy.clone(),
        options,
    )
}

pub(crate) fn hotfix() -> PreflightOptions {
    PreflightOptions::new("fleet-api", "v1.3.0").hotfix(approvals(), "main")
}

fn finding(report: &Report, rule: &str) -> Outcome {
    report
        .findings
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| f.outcome)
        .max_by_key(|o| *o as u8)
        .unwrap_or_else(|| panic!("no {rule} in {}", report.to_text()))
}

fn step(report: &Report, id: &str) -> StepOutcome {
    report
        .steps
        .iter()
        .rev()
        .find(|s| s.step.id == id)
        .unwrap_or_else(|| panic!("no step {id} in {}", report.to_text()))
        .outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_release_passes_and_is_audited() {
    let w = World::start().await;
    let old = w.image();
    let report = {
        let (run, audit, progress) = executor("deploy", Mode::Execute, None);
        let report = deploy(&w, w.signals(), hotfix()).run(&run).await;
        let records = audit.records();
        let intents: Vec<_> = records
            .iter()
            .filter(|r| r.phase == AuditPhase::Intent)
            .collect();
        assert_eq!(intents.len(), 1, "only set-image changed: {records:?}");
        assert_eq!(intents[0].step, "set-image");
        assert!(
            records
                .iter()
                .all(|r| r.actor == "oncall@example.com" && r.reason == "CHG-1234")
        );
        assert!(
            progress.events().iter().any(|e| matches!(e, fleet_guard::ProgressEvent::Advanced { step, .. } if step == "wait-rollout")),
            "rollout progress reported"
        );
        report
    };
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(w.image(), NEW);
    let plan = report.plan.step("set-image").expect("planned");
    assert_eq!(plan.before, Some(serde_json::json!(old)));
    assert_eq!(plan.after, Some(serde_json::json!(NEW)));
    assert_eq!(step(&report, "rollout-undo"), StepOutcome::Skipped);
    assert_eq!(finding(&report, "rollback.smoke-tests"), Outcome::Pass);
    assert_eq!(finding(&report, "deploy.preflight"), Outcome::Pass);
    // #deployments heard the start and the end.
    assert_eq!(w.slack.recorded().len(), 2);
    // The smoke app saw the four critical paths.
    assert_eq!(w.app.recorded().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_image_is_rolled_back_automatically_and_validated() {
    let w = World::start().await;
    let old = w.image();
    w.cluster.set_scenario(
        NEW,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 3,
        },
    );
    let (run, audit, progress) = executor("deploy", Mode::Execute, None);
    let report = deploy(&w, w.signals(), hotfix()).run(&run).await;
    // The warning events the rollout wait watched were passed on as they came.
    assert!(
        notes(&progress)
            .iter()
            .any(|n| n.starts_with("event BackOff Pod/fleet-api-")),
        "{:?}",
        notes(&progress)
    );
    assert_eq!(
        finding(&report, "rollback.crash-loop"),
        Outcome::Fail,
        "{}",
        report.to_text()
    );
    assert_eq!(step(&report, "rollout-undo"), StepOutcome::Succeeded);
    assert_eq!(report.exit_code, 1);
    assert_eq!(w.image(), old, "back on the old image");
    // The rolled-back release was validated: its rollout and smoke tests pass.
    let validated: Vec<_> = report
        .findings
        .findings
        .iter()
        .filter(|f| f.subject.contains("rolled back"))
        .collect();
    assert!(
        validated
            .iter()
            .any(|f| f.rule == "rollback.smoke-tests" && f.outcome == Outcome::Pass)
    );
    assert!(
        validated
            .iter()
            .any(|f| f.rule == "rollback.crash-loop" && f.outcome == Outcome::Pass)
    );
    let steps: Vec<String> = audit
        .records()
        .iter()
        .filter(|r| r.phase == AuditPhase::Intent)
        .map(|r| r.step.clone())
        .collect();
    assert_eq!(steps, ["set-image", "rollout-undo"]);
    // #incidents was told.
    assert!(
        w.slack
            .recorded()
            .iter()
            .any(|r| r.json().to_string().contains("rolled back automatically"))
    );
}

/// The progress notes of a run (log lines and events passed on while waiting).
fn notes(progress: &fleet_guard::RecordingProgress) -> Vec<String> {
    progress
        .events()
        .into_iter()
        .filter_map(|e| match e {
            fleet_guard::ProgressEvent::Note { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollout_wait_streams_the_new_pods_log() {
    let w = World::start().await;
    // The new release takes a while to become ready, and says so in its log.
    w.cluster
        .set_scenario(NEW, Scenario::SlowStart(Duration::from_secs(2)));
    let (run, _, progress) = executor("deploy", Mode::Execute, None);
    let procedure = deploy(&w, w.signals(), hotfix());
    let deploying = procedure.run(&run);
    tokio::pin!(deploying);
    let mut written = std::collections::BTreeSet::new();
    let report = loop {
        tokio::select! {
            report = &mut deploying => break report,
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                for pod in w
                    .cluster
                    .store()
                    .list("pods", Some(fleet_testkit::k8s::FLEET_NAMESPACE))
                {
                    let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                    if pod["spec"]["containers"][0]["image"] == NEW && written.insert(name.clone()) {
                        w.cluster.append_log(
                            fleet_testkit::k8s::FLEET_NAMESPACE,
                            &name,
                            "fleet-api",
                            "fleet-api 1.3.0 warming caches",
                        );
                    }
                }
            }
        }
    };
    assert_eq!(report.exit_code, 0, "{}", report.to_text());
    let notes = notes(&progress);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("log fleet-api-")
                && n.ends_with(": fleet-api 1.3.0 warming caches")),
        "{notes:?}"
    );
}

/// Whether a pod of the store shows a container waiting in `CrashLoopBackOff` (read in
/// process: no API request).
fn crash_loop_in_store(w: &World) -> bool {
    w.cluster
        .store()
        .list("pods", Some(fleet_testkit::k8s::FLEET_NAMESPACE))
        .iter()
        .any(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["state"]["waiting"]["reason"] == "CrashLoopBackOff")
                })
        })
}

/// The measurement in docs/BENCHMARKS.md: from the moment a pod of the new release shows
/// `CrashLoopBackOff` in FakeCluster's store to the rollback decision (the start of
/// `rollout-undo`). The deploy samples every 5 s here, so a wait that polled would take up
/// to 5 s; watching, the decision comes one watch event later. The policy has no minimum
/// before a crash loop counts (the first `CrashLoopBackOff` does). Run with `--nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)]
async fn a_crash_loop_is_decided_within_one_watch_event() {
    let w = World::start().await;
    w.cluster.set_scenario(
        NEW,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 3,
        },
    );
    let validate =
        ValidateOptions::new("fleet-api", w.smoke()).with_metrics_window(Duration::from_secs(60));
    let options = DeployOptions::new(hotfix(), "fleet-api", NEW, validate)
        .with_bake(Duration::from_millis(600), Duration::from_secs(5))
        .with_rollout_timeout(Duration::from_secs(30));
    let procedure = Deploy::new(
        w.kube.clone(),
        Some(w.db.clone()),
        Some(w.azure.clone()),
        w.signals(),
        w.policy.clone(),
        options,
    );
    let observe = tokio::time::timeout(Duration::from_secs(60), async {
        while !crash_loop_in_store(&w) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        jiff::Timestamp::now()
    });
    let (run, _, _) = executor("deploy", Mode::Execute, None);
    let (seen, report) = tokio::join!(observe, procedure.run(&run));
    let seen = seen.expect("a pod crash-loops");
    assert_eq!(
        finding(&report, "rollback.crash-loop"),
        Outcome::Fail,
        "{}",
        report.to_text()
    );
    let decided = report
        .steps
        .iter()
        .find(|s| s.step.id == "rollout-undo")
        .expect("rollout-undo ran")
        .started;
    let latency = decided.duration_since(seen);
    eprintln!(
        "crash loop to rollback decision: {} ms (pods sampled every 5000 ms when not watching)",
        latency.as_millis()
    );
    assert!(
        latency < jiff::SignedDuration::from_millis(1000),
        "decided {latency:?} after the pod's status changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_rate_spike_during_bake_rolls_back() {
    let w = World::start().await;
    let old = w.image();
    // From now on, windows report 10 % errors.
    w.metrics.errors.store(100, Ordering::SeqCst);
    w.metrics.spike_after.store(
        u64::try_from(jiff::Timestamp::now().as_millisecond()).expect("ms"),
        Ordering::SeqCst,
    );
    let (run, _, _) = executor("deploy", Mode::Execute, None);
    let report = deploy(&w, w.signals(), hotfix()).run(&run).await;
    assert_eq!(
        finding(&report, "rollback.error-rate"),
        Outcome::Fail,
        "{}",
        report.to_text()
    );
    assert_eq!(step(&report, "bake"), StepOutcome::Succeeded);
    assert_eq!(step(&report, "rollout-undo"), StepOutcome::Succeeded);
    assert_eq!(w.image(), old);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_outside_the_window_is_refused_before_any_write() {
    let w = World::start().await;
    // A standard deploy, judged at a Sunday: outside the Thursday window.
    let sunday: jiff::Timestamp = "2026-07-19T15:00:00Z".parse().expect("t");
    let audit = fleet_guard::MemoryAuditSink::new();
    let guards = fleet_guard::Guards::new(std::sync::Arc::new(audit.clone()))
        .with_clock(std::sync::Arc::new(fleet_guard::ManualClock::new(sunday)));
    let context =
        fleet_guard::RunContext::new("deploy", "oncall@example.com", "CHG-1", Mode::Execute)
            .expect("context");
    let run = fleet_guard::Executor::new(context, guards);
    w.cluster.clear_requests();
    let report = deploy(
        &w,
        w.signals(),
        PreflightOptions::new("fleet-api", "v1.3.0"),
    )
    .run(&run)
    .await;
    assert_eq!(report.status, RunStatus::Blocked, "{}", report.to_text());
    assert_eq!(finding(&report, "deploy.window"), Outcome::Fail);
    assert_eq!(finding(&report, "deploy.preflight"), Outcome::Fail);
    assert_eq!(step(&report, "set-image"), StepOutcome::Skipped);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    assert!(audit.records().is_empty());
    assert!(w.slack.recorded().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sends_no_mutating_request_without_dry_run() {
    let w = World::start().await;
    let old = w.image();
    w.cluster.clear_requests();
    let (run, audit, _) = executor("deploy", Mode::DryRun, None);
    let report = deploy(&w, w.signals(), hotfix()).run(&run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(step(&report, "set-image"), StepOutcome::Planned);
    assert_eq!(step(&report, "validate-set-image"), StepOutcome::Succeeded);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    let dry: Vec<_> = w
        .cluster
        .requests()
        .into_iter()
        .filter(|r| r.query.contains("dryRun=All"))
        .collect();
    assert_eq!(dry.len(), 1, "the server validated the patch");
    assert_eq!(w.image(), old);
    assert!(audit.records().is_empty());
    assert!(w.slack.recorded().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_endpoint_that_is_down_does_not_fail_the_deploy() {
    let w = World::start().await;
    let down = format!("http://{}/hooks/deployments", dead_address().await);
    let signals = Signals::new(vec![w.slack_notifier(&down)], Some(w.metrics.clone()));
    let (run, _, _) = executor("deploy", Mode::Execute, None);
    let report = deploy(&w, signals, hotfix()).run(&run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(w.image(), NEW);
    assert_eq!(
        report.undelivered().count(),
        2,
        "start and end not delivered, reported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_lists_revisions_and_needs_the_typed_word() {
    let w = World::start().await;
    let old = w.image();
    let (run, _, _) = executor("deploy", Mode::Execute, None);
    let report = deploy(&w, w.signals(), hotfix()).run(&run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());

    let rollback = Rollback::new(
        w.kube.clone(),
        w.signals(),
        w.policy.clone(),
        RollbackOptions::new(ValidateOptions::new("fleet-api", w.smoke()))
            .with_poll_interval(Duration::from_millis(100)),
    );
    let lines = rollback
        .list(jiff::Timestamp::now())
        .await
        .expect("history");
    assert!(
        lines[0].current && lines[0].images[0].ends_with(NEW),
        "{lines:?}"
    );
    assert!(
        lines[0]
            .change_cause
            .as_deref()
            .is_some_and(|c| c.contains("v1.3.0"))
    );
    assert!(lines[1].images[0].ends_with(&old));

    // A wrong word changes nothing.
    w.cluster.clear_requests();
    let (run, audit, _) = executor("rollback", Mode::Execute, Some("rollback"));
    let refused = rollback.run(&run).await;
    assert_eq!(refused.status, RunStatus::Refused, "{}", refused.to_text());
    assert_eq!(refused.exit_code, 2);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    assert_eq!(w.image(), NEW);
    assert_eq!(audit.records().len(), 1, "the refusal is on record");

    // ROLLBACK rolls back, validates and tells #incidents.
    let before = w.slack.recorded().len();
    let (run, audit, _) = executor("rollback", Mode::Execute, Some("ROLLBACK"));
    let done = rollback.run(&run).await;
    assert_eq!(done.status, RunStatus::Ok, "{}", done.to_text());
    assert_eq!(w.image(), old);
    assert_eq!(finding(&done, "rollback.smoke-tests"), Outcome::Pass);
    assert_eq!(audit.records().len(), 2);
    assert_eq!(w.slack.recorded().len(), before + 1);
}

/// kubectl with the cluster's kubeconfig in the fleet namespace; whether it succeeded.
async fn kubectl(w: &World, args: &[&str]) -> bool {
    let mut cmd = tokio::process::Command::from(w.cluster.kubectl());
    cmd.args(["-n", "fleet-management"]).args(args);
    cmd.output().await.expect("kubectl runs").status.success()
}

/// (all requests, requests other than discovery) since the last clear.
fn counted(w: &World) -> (usize, usize) {
    let all = w.cluster.requests();
    let api = all
        .iter()
        .filter(|r| r.op != fleet_testkit::k8s::Op::Discovery)
        .count();
    (all.len(), api)
}

/// The measurement in docs/BENCHMARKS.md: API requests of a deploy and a rollback beside
/// kubectl doing the same reads and writes. Run with `--nocapture` to see the numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)]
async fn api_requests_of_a_deploy_and_a_rollback_beside_kubectl() {
    let w = World::start().await;
    let old = w.image();
    let bake = Duration::from_millis(600);

    w.cluster.clear_requests();
    let (run, _, _) = executor("deploy", Mode::Execute, None);
    let report = deploy(&w, w.signals(), hotfix()).run(&run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    let ours_deploy = counted(&w);

    let rollback = Rollback::new(
        w.kube.clone(),
        w.signals(),
        w.policy.clone(),
        RollbackOptions::new(ValidateOptions::new("fleet-api", w.smoke()))
            .with_poll_interval(Duration::from_millis(150)),
    );
    w.cluster.clear_requests();
    let (run, _, _) = executor("rollback", Mode::Execute, Some("ROLLBACK"));
    let done = rollback.run(&run).await;
    assert_eq!(done.status, RunStatus::Ok, "{}", done.to_text());
    let ours_rollback = counted(&w);

    // kubectl, the same steps: the pre-flight's reads, set image, rollout status, the pods
    // during the bake (as often as the procedure samples them), the validation's reads.
    let img = format!("fleet-api={NEW}-k");
    w.cluster.clear_requests();
    let mut ok = kubectl(&w, &["get", "deployment", "fleet-api", "-o", "json"]).await;
    ok &= kubectl(&w, &["get", "pods", "-l", "app=fleet-api"]).await;
    // The same questions the pre-flight asks (one list: fleet_runbook::deploy_permissions).
    for check in fleet_runbook::deploy_permissions("fleet-management") {
        let resource = if check.group.is_empty() {
            check.resource.clone()
        } else {
            format!("{}.{}", check.resource, check.group)
        };
        let what = match &check.subresource {
            Some(s) => format!("{resource}/{s}"),
            None => resource,
        };
        let _ = kubectl(&w, &["auth", "can-i", &check.verb, &what]).await;
    }
    ok &= kubectl(&w, &["top", "pods", "-l", "app=fleet-api"]).await;
    ok &= kubectl(&w, &["set", "image", "deployment/fleet-api", &img]).await;
    ok &= kubectl(
        &w,
        &["rollout", "status", "deployment/fleet-api", "--timeout=30s"],
    )
    .await;
    let samples = (bake.as_millis() / 150 + 1) as usize;
    for _ in 0..samples {
        ok &= kubectl(&w, &["get", "deployment", "fleet-api", "-o", "json"]).await;
        ok &= kubectl(&w, &["get", "pods", "-l", "app=fleet-api"]).await;
    }
    ok &= kubectl(&w, &["get", "deployment", "fleet-api", "-o", "json"]).await;
    ok &= kubectl(&w, &["get", "pods", "-l", "app=fleet-api"]).await;
    assert!(ok, "kubectl steps succeed");
    let kubectl_deploy = counted(&w);

    w.cluster.clear_requests();
    ok &= kubectl(&w, &["rollout", "history", "deployment/fleet-api"]).await;
    ok &= kubectl(&w, &["rollout", "undo", "deployment/fleet-api"]).await;
    ok &= kubectl(
        &w,
        &["rollout", "status", "deployment/fleet-api", "--timeout=30s"],
    )
    .await;
    ok &= kubectl(&w, &["get", "deployment", "fleet-api", "-o", "json"]).await;
    ok &= kubectl(&w, &["get", "pods", "-l", "app=fleet-api"]).await;
    assert!(ok, "kubectl rollback steps succeed");
    let kubectl_rollback = counted(&w);
    assert!(w.image().ends_with(&old) || w.image().ends_with(NEW));

    eprintln!(
        "deploy: fleet-runbook {} requests ({} without discovery), kubectl {} ({})",
        ours_deploy.0, ours_deploy.1, kubectl_deploy.0, kubectl_deploy.1
    );
    eprintln!(
        "rollback: fleet-runbook {} requests ({} without discovery), kubectl {} ({})",
        ours_rollback.0, ours_rollback.1, kubectl_rollback.0, kubectl_rollback.1
    );
    // One client, discovery once: never more requests in total than kubectl's processes.
    assert!(
        ours_deploy.0 <= kubectl_deploy.0,
        "{ours_deploy:?} vs {kubectl_deploy:?}"
    );
    assert!(
        ours_rollback.0 <= kubectl_rollback.0,
        "{ours_rollback:?} vs {kubectl_rollback:?}"
    );
}

/// One operation at a time, at the procedure level: two deploys of fleet-api started together,
/// each on its own `LeaseLock` (two engineers' machines), and a crashed holder's Lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_racing_deploys_one_runs_and_the_other_stops_at_the_lock_naming_the_holder() {
    use std::sync::Arc;

    use fleet_guard::TargetLock as _;
    use fleet_k8s::{LeaseLock, LeaseLockOptions};

    let w = World::start().await;
    let lease = || -> Arc<dyn fleet_guard::TargetLock> {
        let options = LeaseLockOptions::default().with_renew_every(Duration::from_millis(200));
        Arc::new(
            LeaseLock::new(&crate::world::cluster_client(&w.cluster), options).expect("lease lock"),
        )
    };
    let a = deploy(&w, w.signals(), hotfix()).with_lock(lease());
    let b = deploy(&w, w.signals(), hotfix()).with_lock(lease());
    let (run_a, _, _) = executor("deploy", Mode::Execute, None);
    let context =
        fleet_guard::RunContext::new("deploy", "bob@example.com", "CHG-5678", Mode::Execute)
            .expect("context");
    let run_b = fleet_guard::Executor::new(
        context,
        fleet_guard::Guards::new(Arc::new(fleet_guard::MemoryAuditSink::new())),
    );
    w.cluster.clear_requests();
    let (ra, rb) = tokio::join!(a.run(&run_a), b.run(&run_b));
    let (won, lost, winner) = match (ra.status, rb.status) {
        (RunStatus::Ok, RunStatus::Failed) => (ra, rb, "oncall@example.com"),
        (RunStatus::Failed, RunStatus::Ok) => (rb, ra, "bob@example.com"),
        (x, y) => panic!("exactly one deploy runs: {x:?} / {y:?}"),
    };
    assert_eq!(
        step(&lost, "take-lock"),
        StepOutcome::Failed,
        "{}",
        lost.to_text()
    );
    assert!(
        lost.steps.iter().all(|s| s.step.id != "set-image"),
        "the loser changed nothing: {}",
        lost.to_text()
    );
    let stopped = lost.stopped.clone().unwrap_or_default();
    assert!(stopped.contains(winner), "the holder is shown: {stopped}");
    assert_eq!(step(&won, "set-image"), StepOutcome::Succeeded);
    // One image change only, and the winner gave the Lease back.
    let patches = w
        .cluster
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.resource.as_deref() == Some("deployments"))
        .filter(|r| !r.query.contains("dryRun"))
        .count();
    assert!(patches >= 1, "the winner changed the image");
    let leases = w
        .cluster
        .store()
        .list("leases", Some(fleet_testkit::k8s::FLEET_NAMESPACE));
    assert!(
        leases.iter().all(|l| l["spec"]["holderIdentity"]
            .as_str()
            .is_none_or(str::is_empty)),
        "released: {leases:?}"
    );

    // A crashed run's claim (never renewed) blocks until it expires, then the next one runs.
    let crashed = LeaseLock::new(
        &crate::world::cluster_client(&w.cluster),
        LeaseLockOptions::default().with_renew_every(Duration::from_secs(3600)),
    )
    .expect("lease lock");
    let request = fleet_guard::LockRequest {
        target: "deployment/fleet-management/fleet-api".into(),
        holder: "carol (run-crashed)".into(),
        reason: "deploy interrupted".into(),
        ttl: Duration::from_secs(1),
    };
    let handle = crashed.acquire(&request).await.expect("claim");
    std::mem::forget(handle);
    let (run_c, _, _) = executor("deploy", Mode::Execute, None);
    let refused = deploy(&w, w.signals(), hotfix())
        .with_lock(lease())
        .run(&run_c)
        .await;
    assert_eq!(
        step(&refused, "take-lock"),
        StepOutcome::Failed,
        "{}",
        refused.to_text()
    );
    assert!(
        refused
            .stopped
            .clone()
            .unwrap_or_default()
            .contains("carol (run-crashed)"),
        "{}",
        refused.to_text()
    );
    // Expired: its TTL and the lock's one-second clock-skew allowance have passed.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (run_d, _, _) = executor("deploy", Mode::Execute, None);
    let after = deploy(&w, w.signals(), hotfix())
        .with_lock(lease())
        .run(&run_d)
        .await;
    assert_eq!(
        step(&after, "take-lock"),
        StepOutcome::Succeeded,
        "{}",
        after.to_text()
    );
}
