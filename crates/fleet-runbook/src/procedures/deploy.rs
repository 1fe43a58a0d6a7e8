//! Deploy a version (`./scripts/deploy-to-production.sh v1.2.3`, runbook "Deployment
//! Procedures"; the hotfix command with `SKIP_PREFLIGHT=false` is the same procedure with a
//! hotfix pre-flight).
//!
//! Steps:
//!
//! 1. `read-current`: the deployment and the image it runs (the plan names old and new).
//! 2. The pre-flight's reads ([`crate::Preflight`]); a blocking finding stops the deploy
//!    before any write (`deploy.preflight`: never skipped, hotfix or not).
//! 3. `take-lock`: the target's lock, when a [`TargetLock`] is given (one operation at a
//!    time).
//! 4. `notify-start`: #deployments.
//! 5. `validate-set-image` (dry run only): the patch sent with `dryRun=All`, so the server
//!    validates it and stores nothing; `set-image`: the container's image, change cause
//!    recorded.
//! 6. `wait-rollout`: the rollout to completion or its deadline, watched as `kubectl rollout
//!    status` watches it, beside a watch on pod warnings: a crash-looping pod ends the wait one
//!    watch event after its status changes (progress events: updated and ready replicas).
//! 7. `bake`: the bake period, sampling the pods and the [`crate::MetricsSource`]; fleet-policy's
//!    rollback rules decide (`rollback.crash-loop`, `rollback.error-rate`,
//!    `rollback.degradation`).
//! 8. `smoke-tests` and the validation reads ([`crate::Validate`]).
//! 9. On a rollback finding: `rollout-undo` (automatic when
//!    [`DeployOptions::auto_rollback`], else recommended), `wait-undo`, validation again,
//!    #incidents.
//! 10. `notify-end`: #deployments with the outcome.
//!
//! RBAC ([`crate::deploy_permissions`], from the `deploy` entry of
//! [`crate::PROCEDURE_PERMISSIONS`]): `get`, `list`, `watch`, `patch` deployments; `list`
//! replicasets and pods; `list`, `watch` events; `get`, `create`, `update` leases (the lock);
//! plus the pre-flight's and the validation's reads.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fleet_guard::{Executor, Plan, Step, TargetLock};
use fleet_k8s::{
    DeploymentInfo, EventOptions, RolloutState, RolloutStatusOptions, RolloutUndoOptions,
    SetImageOptions, UndoOutcome,
};
use fleet_policy::deploy::{self, DeployRequest};
use fleet_policy::{Finding, Policy, rollback};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::Error;
use crate::evidence::crash_looping;
use crate::metrics::Window;
use crate::notify::{Action, Channel, Notification, Severity, notify_all};
use crate::procedures::deps::{AzureDatabase, Db, Kube, Signals};
use crate::procedures::preflight::{Preflight, PreflightOptions, selector_of};
use crate::procedures::validate::{Validate, ValidateOptions, judge_metrics};
use crate::procedures::{access, lock};
use crate::report::Report;

/// What to deploy and how long to watch it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeployOptions {
    /// The pre-flight's options: deployment, version, standard or hotfix.
    pub preflight: PreflightOptions,
    /// The container whose image changes (`fleet-api`).
    pub container: String,
    /// The new image (`registry.example.com/fleet/fleet-api:1.2.3`).
    pub image: String,
    /// How long the rollout may take (10 minutes).
    pub rollout_timeout: Duration,
    /// How often the bake samples the pods and the metrics, and the rollout wait the pods
    /// when pod warnings cannot be watched (2 s).
    pub poll_interval: Duration,
    /// The bake period after the rollout (10 minutes; the runbook watches for 30).
    pub bake: Duration,
    /// Roll back without asking when fleet-policy's rules say so (`true`).
    pub auto_rollback: bool,
    /// The smoke tests and metrics window of the validation.
    pub validate: ValidateOptions,
    /// How long the target's lock lasts (1 hour).
    pub lock_ttl: Duration,
}

impl DeployOptions {
    /// Deploys `image` into `container`, with the defaults above.
    pub fn new(
        preflight: PreflightOptions,
        container: impl Into<String>,
        image: impl Into<String>,
        validate: ValidateOptions,
    ) -> Self {
        Self {
            preflight,
            container: container.into(),
            image: image.into(),
            rollout_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(2),
            bake: Duration::from_secs(600),
            auto_rollback: true,
            validate,
            lock_ttl: Duration::from_secs(3600),
        }
    }

    /// Sets the bake period and the sampling interval.
    #[must_use]
    pub fn with_bake(mut self, bake: Duration, poll_interval: Duration) -> Self {
        self.bake = bake;
        self.poll_interval = poll_interval;
        self
    }

    /// Sets the rollout timeout.
    #[must_use]
    pub fn with_rollout_timeout(mut self, timeout: Duration) -> Self {
        self.rollout_timeout = timeout;
        self
    }

    /// Rolls back automatically (`true`) or only recommends it.
    #[must_use]
    pub fn with_auto_rollback(mut self, on: bool) -> Self {
        self.auto_rollback = on;
        self
    }
}

/// The deploy procedure.
#[derive(Clone)]
#[non_exhaustive]
pub struct Deploy {
    /// The cluster.
    pub kube: Kube,
    /// The database (pre-flight).
    pub db: Option<Db>,
    /// The database server's backups (pre-flight).
    pub azure: Option<AzureDatabase>,
    /// Notifiers and the metrics source.
    pub signals: Signals,
    /// The rules.
    pub policy: Policy,
    /// What to deploy.
    pub options: DeployOptions,
    /// One operation at a time on the deployment, when given.
    pub lock: Option<Arc<dyn TargetLock>>,
}

impl fmt::Debug for Deploy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deploy")
            .field("kube", &self.kube)
            .field("signals", &self.signals)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How a watched period ended.
pub(crate) enum Watch {
    Healthy,
    CrashLoop(Vec<String>),
    Judged(Vec<Finding>),
}

impl Deploy {
    /// A deploy on these clients.
    pub fn new(
        kube: Kube,
        db: Option<Db>,
        azure: Option<AzureDatabase>,
        signals: Signals,
        policy: Policy,
        options: DeployOptions,
    ) -> Self {
        Self {
            kube,
            db,
            azure,
            signals,
            policy,
            options,
            lock: None,
        }
    }

    /// Holds `lock` on the deployment for the run.
    #[must_use]
    pub fn with_lock(mut self, lock: Arc<dyn TargetLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    fn name(&self) -> &str {
        &self.options.preflight.deployment
    }

    fn target(&self) -> String {
        format!("deployment/{}/{}", self.kube.namespace, self.name())
    }

    fn subject(&self) -> String {
        format!("{} {}", self.name(), self.options.preflight.version)
    }

    fn preflight(&self) -> Preflight {
        Preflight::new(
            self.kube.clone(),
            self.db.clone(),
            self.azure.clone(),
            self.policy.clone(),
            self.options.preflight.clone(),
        )
    }

    fn validate(&self) -> Validate {
        Validate::new(
            self.kube.clone(),
            self.signals.clone(),
            self.policy.clone(),
            self.options.validate.clone(),
        )
    }

    fn old_image(&self, info: &DeploymentInfo) -> Option<String> {
        info.images
            .iter()
            .find(|i| i.container == self.options.container)
            .map(|i| i.image.clone())
    }

    fn note(
        &self,
        title: String,
        severity: Severity,
        channel: Channel,
        run: &Executor,
    ) -> Notification {
        Notification::new(
            channel,
            Action::Post,
            severity,
            title,
            self.name(),
            run.now(),
        )
    }

    /// The full plan, from the deployment as it is now.
    pub fn plan(&self, current: Option<&DeploymentInfo>) -> Plan {
        let target = self.target();
        let o = &self.options;
        let old = current.and_then(|i| self.old_image(i));
        let mut plan = Plan::new("deploy");
        plan.push(access::access_step(&self.kube, "deploy"));
        plan.push(Step::read(
            "read-current",
            &target,
            "the deployment and its image",
        ));
        for step in self.preflight().steps() {
            plan.push(step);
        }
        if self.lock.is_some() {
            plan.push(Step::change(
                "take-lock",
                &target,
                "take the deployment's lock",
            ));
        }
        plan.push(Step::notify(
            "notify-start",
            "#deployments",
            format!("deploying {}", self.subject()),
        ));
        plan.push(
            Step::change(
                "set-image",
                &target,
                format!("set image {}={}", o.container, o.image),
            )
            .with_before(old.clone().unwrap_or_else(|| "(unknown)".into()))
            .with_after(o.image.clone()),
        );
        plan.push(Step::wait(
            "wait-rollout",
            &target,
            format!("rollout complete within {} s", o.rollout_timeout.as_secs()),
        ));
        plan.push(Step::wait(
            "bake",
            &target,
            format!(
                "bake for {} s, sampling every {} ms",
                o.bake.as_secs(),
                o.poll_interval.as_millis()
            ),
        ));
        for step in self.validate().steps() {
            plan.push(step);
        }
        plan.push(
            Step::change(
                "rollout-undo",
                &target,
                "roll back to the previous revision",
            )
            .with_before(o.image.clone())
            .with_after(old.unwrap_or_else(|| "(previous revision)".into())),
        );
        plan.push(Step::notify("notify-end", "#deployments", "the outcome"));
        plan.note("stops before any write when the pre-flight blocks");
        plan.note(if o.auto_rollback {
            "rollout-undo runs only when fleet-policy's rollback rules fail (crash loop, error rate, degradation, smoke tests)"
        } else {
            "rollout-undo is only recommended: automatic rollback is off"
        });
        plan
    }

    /// Runs the deploy and returns its report (exit 0: released and healthy).
    pub async fn run(&self, run: &Executor) -> Report {
        let started = run.now();
        let target = self.target();
        if let Err(denied) = access::verify(run, &self.kube, "deploy").await {
            return denied.report(run, self.plan(None), &self.policy, started);
        }
        let current = run
            .read(
                Step::read("read-current", &target, "the deployment and its image"),
                self.kube.deployments.get_deployment(self.name()),
            )
            .await
            .ok();
        let plan = self.plan(current.as_ref());
        let Some(current) = current else {
            return Report::from_run(run, plan, &self.policy, Vec::new(), started);
        };

        // Pre-flight: judged as the gate judges it; blocking stops before any write.
        let mut findings = self.preflight().check(run).await;
        let gate = fleet_policy::Report::new(&self.policy, run.now(), findings.clone());
        let passed = if gate.blocked {
            deploy::Preflight::Failed
        } else {
            deploy::Preflight::Passed
        };
        let request = DeployRequest {
            service: self.name().to_owned(),
            version: self.options.preflight.version.clone(),
            kind: self.options.preflight.kind,
            at: None,
            preflight: passed,
            approvals: self.options.preflight.approvals.clone(),
            base_branch: self.options.preflight.base_branch.clone(),
        };
        findings.extend(
            deploy::evaluate(&self.policy, &request, run.now())
                .into_iter()
                .filter(|f| f.rule == "deploy.preflight"),
        );
        if passed == deploy::Preflight::Failed {
            for step in plan.steps.iter().filter(|s| {
                matches!(
                    s.id.as_str(),
                    "take-lock" | "set-image" | "wait-rollout" | "bake" | "rollout-undo"
                )
            }) {
                run.skip(step.clone(), "the pre-flight blocks the deploy");
            }
            return Report::from_run(run, plan, &self.policy, findings, started);
        }

        // One operation at a time.
        let held = match lock::take(
            run,
            &plan,
            self.lock.as_ref(),
            target.clone(),
            self.options.lock_ttl,
        )
        .await
        {
            Ok(held) => held,
            Err(_) => return Report::from_run(run, plan, &self.policy, findings, started),
        };

        let outcome = self.release(run, &plan, &current, &mut findings).await;
        let (title, severity) = match outcome {
            Ok(true) => (
                format!("{} released and healthy", self.subject()),
                Severity::Info,
            ),
            Ok(false) => (
                format!("{} failed and was rolled back", self.subject()),
                Severity::Error,
            ),
            Err(e) => (
                format!("{} did not complete: {e}", self.subject()),
                Severity::Error,
            ),
        };
        let note = self.note(title, severity, Channel::deployments(), run);
        notify_all(run, "notify-end", &self.signals.notifiers, &note).await;
        held.release().await;
        Report::from_run(run, plan, &self.policy, findings, started)
    }

    /// Set image, rollout, bake, validation and, when the rules say so, the rollback. `Ok(true)`:
    /// released; `Ok(false)`: rolled back (or rollback recommended).
    async fn release(
        &self,
        run: &Executor,
        plan: &Plan,
        current: &DeploymentInfo,
        findings: &mut Vec<Finding>,
    ) -> Result<bool, Error> {
        let o = &self.options;
        let step = |id: &str| {
            plan.step(id)
                .cloned()
                .unwrap_or_else(|| Step::read(id, "", id))
        };
        let start = self.note(
            format!("deploying {} ({})", self.subject(), o.image),
            Severity::Info,
            Channel::deployments(),
            run,
        );
        notify_all(run, "notify-start", &self.signals.notifiers, &start).await;

        let cause = format!("{} {}", o.preflight.version, run.context().reason);
        if run.is_dry_run() {
            // The server validates the patch and stores nothing.
            run.read(
                Step::read(
                    "validate-set-image",
                    &self.target(),
                    "set image with dryRun=All",
                ),
                self.kube.deployments.set_image(
                    self.name(),
                    &o.container,
                    &o.image,
                    Some(SetImageOptions::default().with_dry_run(true)),
                ),
            )
            .await
            .map_err(|e| Error::from_step(e, fleet_k8s::Error::is_transient))?;
        }
        let set = run
            .change(step("set-image"), || {
                self.kube.deployments.set_image(
                    self.name(),
                    &o.container,
                    &o.image,
                    Some(SetImageOptions::default().with_change_cause(cause.clone())),
                )
            })
            .await
            .map_err(|e| Error::from_step(e, fleet_k8s::Error::is_transient))?;
        if !set.is_done() {
            // Dry run: nothing to wait for or judge.
            for id in [
                "validate-rollout",
                "validate-pods",
                "smoke-tests",
                "validate-metrics",
            ] {
                run.skip(step(id), "dry run: nothing was deployed");
            }
            run.skip(step("rollout-undo"), "dry run: nothing was deployed");
            return Ok(true);
        }
        let deploy_started = run.now();

        let watched = run
            .wait(step("wait-rollout"), || {
                watch_rollout(
                    &self.kube,
                    self.name(),
                    o.rollout_timeout,
                    o.poll_interval,
                    run,
                    "wait-rollout",
                    true,
                )
            })
            .await
            .map_err(|e| Error::from_step(e, Error::is_transient))?
            .done()
            .unwrap_or(Watch::Healthy);
        let mut judged = match watched {
            Watch::CrashLoop(pods) => {
                run.skip(step("bake"), "the release crash-loops");
                vec![rollback::crash_loop(&self.subject(), &pods)]
            }
            Watch::Judged(f) => f,
            Watch::Healthy => {
                match run
                    .wait(step("bake"), || self.bake(run, deploy_started))
                    .await
                    .map_err(|e| Error::from_step(e, Error::is_transient))?
                    .done()
                {
                    Some(Watch::CrashLoop(pods)) => {
                        vec![rollback::crash_loop(&self.subject(), &pods)]
                    }
                    Some(Watch::Judged(f)) => f,
                    _ => Vec::new(),
                }
            }
        };
        if !rollback::rollback_required(&judged) {
            let validated = self.validate().check(run, &self.subject()).await;
            judged.extend(validated);
        }
        let roll_back = rollback::rollback_required(&judged);
        findings.append(&mut judged);
        if !roll_back {
            run.skip(step("rollout-undo"), "fleet-policy's rollback rules pass");
            return Ok(true);
        }
        if !o.auto_rollback {
            run.skip(
                step("rollout-undo"),
                "rollback recommended; automatic rollback is off",
            );
            return Ok(false);
        }
        let to = current.revision;
        let undo = run
            .change(step("rollout-undo"), || {
                let mut options = RolloutUndoOptions::default();
                if let Some(r) = to {
                    options = options.with_to_revision(r);
                }
                self.kube
                    .deployments
                    .rollout_undo(self.name(), Some(options))
            })
            .await
            .map_err(|e| Error::from_step(e, fleet_k8s::Error::is_transient))?;
        if let Some(UndoOutcome::RolledBack { to_revision, .. }) = undo.done() {
            run.note(
                "rollout-undo",
                format!("rolled back to revision {to_revision}"),
            );
        }
        let _ = run
            .wait(
                Step::wait(
                    "wait-undo",
                    &self.target(),
                    "the rollback's rollout complete",
                ),
                || {
                    watch_rollout(
                        &self.kube,
                        self.name(),
                        o.rollout_timeout,
                        o.poll_interval,
                        run,
                        "wait-undo",
                        false,
                    )
                },
            )
            .await;
        // The rolled-back release is validated; its findings are reported under its own subject.
        let previous = format!("{} (rolled back)", self.name());
        let validated = self.validate().check(run, &previous).await;
        findings.extend(validated);
        let incident = self.note(
            format!(
                "{} rolled back automatically: {}",
                self.subject(),
                findings
                    .iter()
                    .filter(|f| f.rule.starts_with("rollback.")
                        && f.outcome == fleet_policy::Outcome::Fail)
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Severity::Error,
            Channel::incidents(),
            run,
        );
        notify_all(run, "notify-incident", &self.signals.notifiers, &incident).await;
        Ok(false)
    }

    /// The bake period: pods and metrics sampled every interval, judged each time.
    async fn bake(&self, run: &Executor, deployed: jiff::Timestamp) -> Result<Watch, Error> {
        let o = &self.options;
        let begun = tokio::time::Instant::now();
        let total = o.bake.as_secs().max(1);
        loop {
            let info = self
                .kube
                .deployments
                .get_deployment(self.name())
                .await
                .map_err(|e| k8s("get deployment", e))?;
            if let Some(selector) = selector_of(&info) {
                let pods = self
                    .kube
                    .pods
                    .list_pods_by_selector(&selector)
                    .await
                    .map_err(|e| k8s("list pods", e))?;
                let looping: Vec<String> = crash_looping(&pods)
                    .iter()
                    .map(|p| p.name.clone())
                    .collect();
                if !looping.is_empty() {
                    return Ok(Watch::CrashLoop(looping));
                }
            }
            if let Some(source) = &self.signals.metrics {
                let now = run.now();
                let current = Window::new(
                    deployed,
                    now.max(
                        deployed
                            .checked_add(jiff::SignedDuration::from_millis(1))
                            .unwrap_or(deployed),
                    ),
                )?;
                let comparison = source.compare(current, current.preceding()?).await?;
                let judged = judge_metrics(&self.policy, &self.subject(), &comparison);
                if rollback::rollback_required(&judged) {
                    return Ok(Watch::Judged(judged));
                }
            }
            let elapsed = begun.elapsed();
            run.advance(
                "bake",
                elapsed.as_secs().min(total),
                Some(total),
                "seconds",
                "baking",
            );
            if elapsed >= o.bake {
                return Ok(Watch::Healthy);
            }
            tokio::time::sleep(o.poll_interval.min(o.bake.saturating_sub(elapsed))).await;
        }
    }
}

/// Waits for the rollout as `kubectl rollout status` does (one watch on the deployment,
/// [`fleet_k8s::Deployments::rollout_status`]) until it completes, fails or times out.
///
/// With `stop_on_crash_loop`, a watch on the namespace's pod warnings runs beside it: a
/// `BackOff` warning about a pod (the kubelet's, written with the pod's `CrashLoopBackOff`
/// status) makes it list the deployment's pods once, and a crash-looping pod ends the wait at
/// once. So the decision comes one watch event after the pod's status changes, not at the next
/// sample. When the warnings cannot be watched (no `watch events` right, a failed watch), the
/// pods are sampled every `interval` instead.
pub(crate) async fn watch_rollout(
    kube: &Kube,
    name: &str,
    timeout: Duration,
    interval: Duration,
    run: &Executor,
    step: &str,
    stop_on_crash_loop: bool,
) -> Result<Watch, Error> {
    let info = kube
        .deployments
        .get_deployment(name)
        .await
        .map_err(|e| k8s("get deployment", e))?;
    run.advance(
        step,
        u64::try_from(info.updated_replicas.min(info.ready_replicas)).unwrap_or(0),
        u64::try_from(info.replicas).ok(),
        "replicas",
        info.rollout.message(),
    );
    let status = async {
        let state = kube
            .deployments
            .rollout_status(
                name,
                Some(RolloutStatusOptions::default().with_timeout(timeout)),
            )
            .await
            .map_err(|e| Error::Step {
                step: step.into(),
                transient: e.is_transient() || e.is_timeout(),
                source: Box::new(e),
            })?;
        run.advance(
            step,
            u64::try_from(info.replicas).unwrap_or(0),
            u64::try_from(info.replicas).ok(),
            "replicas",
            state.message(),
        );
        match state {
            RolloutState::Complete { .. } => Ok(Watch::Healthy),
            RolloutState::Failed { message } => Err(Error::Step {
                step: step.into(),
                transient: false,
                source: message.into(),
            }),
            other => Err(Error::Step {
                step: step.into(),
                transient: true,
                source: format!("not complete: {}", other.message()).into(),
            }),
        }
    };
    let selector = selector_of(&info);
    let (true, Some(selector)) = (stop_on_crash_loop, selector) else {
        return status.await;
    };
    tokio::pin!(status);
    let looping = || async {
        let pods = kube
            .pods
            .list_pods_by_selector(&selector)
            .await
            .map_err(|e| k8s("list pods", e))?;
        Ok::<_, Error>(
            crash_looping(&pods)
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<String>>(),
        )
    };
    let warnings = EventOptions::default().with_warnings_only(true);
    let mut events = match kube.events.watch_events(Some(warnings)).await {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::warn!(error = %e, "pod warnings cannot be watched; sampling the pods");
            None
        }
    };
    // The pods there before the rollout: the first pod not among them is the new release's,
    // whose log is followed while the rollout goes on (`kubectl logs -f`).
    let before: Vec<String> = kube
        .pods
        .list_pods_by_selector(&selector)
        .await
        .map_err(|e| k8s("list pods", e))?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut log: Option<(String, BoxStream<'static, fleet_k8s::Result<String>>)> = None;
    // Whether to stop looking for a pod to follow: one is followed (or three tries failed).
    let mut log_done = false;
    let mut log_tries = 0u32;
    let mut look_for_pod = tokio::time::interval(interval);
    // Anything that crash-looped before the watch started.
    let found = looping().await?;
    if !found.is_empty() {
        return Ok(Watch::CrashLoop(found));
    }
    loop {
        let next = async {
            match events.as_mut() {
                Some(stream) => stream.next().await,
                None => {
                    tokio::time::sleep(interval).await;
                    None
                }
            }
        };
        let next_line = async {
            match log.as_mut() {
                Some((_, lines)) => lines.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            done = &mut status => return done,
            line = next_line => match line {
                Some(Ok(line)) => {
                    if let Some((pod, _)) = &log {
                        run.note(step, format!("log {pod}: {line}"));
                    }
                }
                // The container stopped or the stream broke: not followed again.
                _ => log = None,
            },
            _ = look_for_pod.tick(), if !log_done => {
                let Ok(pods) = kube.pods.list_pods_by_selector(&selector).await else {
                    continue;
                };
                // A container that has not started has no log yet (the API answers 400).
                let newest = pods
                    .into_iter()
                    .filter(|p| !before.contains(&p.name) && p.phase == "Running")
                    .max_by_key(|p| p.created);
                if let Some(pod) = newest {
                    log_tries += 1;
                    match kube.logs.follow_logs(&pod.name, None).await {
                        Ok(lines) => {
                            log = Some((pod.name, lines));
                            log_done = true;
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, pod = %pod.name, "log not followed");
                            log_done = log_tries >= 3;
                        }
                    }
                }
            },
            event = next => {
                match event {
                    Some(Ok(e)) => {
                        run.note(
                            step,
                            format!(
                                "event {} {}/{}: {}",
                                e.reason, e.object_kind, e.object_name, e.message
                            ),
                        );
                        if !(e.object_kind == "Pod" && e.reason == "BackOff") {
                            continue;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "the pod warning watch ended; sampling the pods");
                        events = None;
                    }
                    None if events.is_some() => events = None,
                    None => {}
                }
                let found = looping().await?;
                if !found.is_empty() {
                    return Ok(Watch::CrashLoop(found));
                }
            }
        }
    }
}

fn k8s(op: &'static str, e: fleet_k8s::Error) -> Error {
    Error::Step {
        step: op.into(),
        transient: e.is_transient(),
        source: Box::new(e),
    }
}
