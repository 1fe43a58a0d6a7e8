//! Validate a deployment (`./scripts/validate-production-deployment.sh`, runbook "Deployment
//! Procedures", Post-Deployment, and step 4 of "Rollback Steps"). Read-only.
//!
//! Steps:
//!
//! 1. `validate-rollout`: the rollout is complete and every desired replica ready
//!    (`preflight.rollout`: the running release is healthy).
//! 2. `validate-pods`: no pod crash-loops (`rollback.crash-loop`).
//! 3. `smoke-tests`: the critical paths' HTTP checks (`rollback.smoke-tests`: a failed one is
//!    "critical functionality broken").
//! 4. `validate-metrics`: requests, errors and p95 over the validation window against the
//!    window before it (`rollback.error-rate`, `rollback.degradation`, `alert.error-rate`,
//!    `metrics.response-time`), when a metrics source is configured.
//!
//! RBAC: `get` deployments, `list` pods. Metrics: read access to the metrics source.

use std::fmt;
use std::time::Duration;

use fleet_guard::{Executor, Plan, Step};
use fleet_k8s::DeploymentInfo;
use fleet_policy::metrics::{self, Metric};
use fleet_policy::preflight as rules;
use fleet_policy::{Finding, Policy, rollback};

use crate::evidence::crash_looping;
use crate::metrics::{Comparison, Window};
use crate::procedures::access;
use crate::procedures::deps::{Kube, Signals};
use crate::procedures::preflight::selector_of;
use crate::report::Report;
use crate::smoke::{SmokeCheck, SmokeOptions, run_smoke_tests};

/// What to validate and how.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ValidateOptions {
    /// The deployment (`fleet-api`).
    pub deployment: String,
    /// The critical paths' checks (login flow, vehicle dashboard, GPS tracking, work orders).
    pub smoke: Vec<SmokeCheck>,
    /// How the checks run.
    pub smoke_options: SmokeOptions,
    /// The telemetry window judged, ending now, against the window before it (the runbook
    /// watches for 30 minutes after a deploy; the default here is 5 minutes).
    pub metrics_window: Duration,
}

impl ValidateOptions {
    /// Validates `deployment` with these smoke checks.
    pub fn new(deployment: impl Into<String>, smoke: Vec<SmokeCheck>) -> Self {
        Self {
            deployment: deployment.into(),
            smoke,
            smoke_options: SmokeOptions::default(),
            metrics_window: Duration::from_secs(300),
        }
    }

    /// Sets the metrics window.
    #[must_use]
    pub fn with_metrics_window(mut self, window: Duration) -> Self {
        self.metrics_window = window;
        self
    }
}

/// The validate procedure.
#[derive(Clone)]
#[non_exhaustive]
pub struct Validate {
    /// The cluster.
    pub kube: Kube,
    /// The metrics source (notifiers are not used: validation only reports).
    pub signals: Signals,
    /// The rules.
    pub policy: Policy,
    /// What to validate.
    pub options: ValidateOptions,
}

impl fmt::Debug for Validate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validate")
            .field("kube", &self.kube)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Validate {
    /// A validation of `options` on `kube`.
    pub fn new(kube: Kube, signals: Signals, policy: Policy, options: ValidateOptions) -> Self {
        Self {
            kube,
            signals,
            policy,
            options,
        }
    }

    fn target(&self) -> String {
        format!(
            "deployment/{}/{}",
            self.kube.namespace, self.options.deployment
        )
    }

    /// The steps, before anything is read.
    pub fn steps(&self) -> Vec<Step> {
        let target = self.target();
        let paths: Vec<&str> = self.options.smoke.iter().map(|c| c.name.as_str()).collect();
        vec![
            Step::read(
                "validate-rollout",
                &target,
                "rollout complete, every replica ready",
            ),
            Step::read("validate-pods", &target, "no pod crash-looping"),
            Step::read(
                "smoke-tests",
                "critical paths",
                format!("HTTP checks: {}", paths.join(", ")),
            ),
            Step::read(
                "validate-metrics",
                &self
                    .signals
                    .metrics
                    .as_ref()
                    .map_or_else(|| "metrics (not configured)".to_owned(), |m| m.describe()),
                format!(
                    "errors and p95 over the last {} s against the {} s before",
                    self.options.metrics_window.as_secs(),
                    self.options.metrics_window.as_secs()
                ),
            ),
        ]
    }

    /// The plan: every read, nothing changed.
    pub fn plan(&self) -> Plan {
        let mut plan = Plan::new("validate");
        plan.push(access::access_step(&self.kube, "validate"));
        for step in self.steps() {
            plan.push(step);
        }
        plan.note("read-only: changes nothing");
        plan
    }

    /// Runs the checks as steps of `run` (for procedures that validate after changing) and
    /// returns the findings.
    pub async fn check(&self, run: &Executor, subject: &str) -> Vec<Finding> {
        let steps = self.steps();
        let target = self.target();
        let step = |i: usize| steps[i].clone();
        let mut out = Vec::new();

        let info: Option<DeploymentInfo> = run
            .read(
                step(0),
                self.kube
                    .deployments
                    .get_deployment(&self.options.deployment),
            )
            .await
            .ok();
        match &info {
            Some(info) => {
                let ready = info.ready_replicas >= info.replicas;
                let message = if ready {
                    info.rollout.message().to_owned()
                } else {
                    format!(
                        "{} ({}/{} replicas ready)",
                        info.rollout.message(),
                        info.ready_replicas,
                        info.replicas
                    )
                };
                out.push(rules::rollout(
                    &target,
                    info.rollout.is_complete() && ready,
                    &message,
                ));
            }
            None => out.push(super::preflight::source_failed(
                "preflight.rollout",
                &target,
                &"the deployment could not be read",
            )),
        }

        match info.as_ref().and_then(selector_of) {
            Some(selector) => {
                match run
                    .read(step(1), self.kube.pods.list_pods_by_selector(&selector))
                    .await
                {
                    Ok(pods) => {
                        let names: Vec<String> = crash_looping(&pods)
                            .iter()
                            .map(|p| p.name.clone())
                            .collect();
                        out.push(rollback::crash_loop(subject, &names));
                    }
                    Err(e) => out.push(super::preflight::source_failed(
                        "rollback.crash-loop",
                        subject,
                        &e,
                    )),
                }
            }
            None => run.skip(step(1), "no deployment or selector to find its pods"),
        }

        let smoke = run
            .read(
                step(2),
                run_smoke_tests(
                    &self.options.smoke,
                    Some(self.options.smoke_options.clone()),
                ),
            )
            .await;
        out.push(match smoke {
            Ok(report) => rollback::smoke_tests(&self.policy, subject, &report.smoke_tests()),
            Err(e) => super::preflight::source_failed("rollback.smoke-tests", subject, &e),
        });

        match &self.signals.metrics {
            Some(source) => {
                let now = run.now();
                let read = run
                    .read(step(3), async {
                        let current = Window::ending_at(now, self.options.metrics_window)?;
                        source.compare(current, current.preceding()?).await
                    })
                    .await;
                match read {
                    Ok(comparison) => out.extend(judge_metrics(&self.policy, subject, &comparison)),
                    Err(e) => out.push(super::preflight::source_failed(
                        "rollback.error-rate",
                        subject,
                        &e,
                    )),
                }
            }
            None => run.skip(step(3), "no metrics source configured"),
        }
        out
    }

    /// Runs the validation and returns its report.
    pub async fn run(&self, run: &Executor) -> Report {
        let started = run.now();
        if let Err(denied) = access::verify(run, &self.kube, "validate").await {
            return denied.report(run, self.plan(), &self.policy, started);
        }
        let subject = format!("{} (running release)", self.options.deployment);
        let findings = self.check(run, &subject).await;
        Report::from_run(run, self.plan(), &self.policy, findings, started)
    }
}

/// fleet-policy's rollback and band rules on a window and its baseline.
pub(crate) fn judge_metrics(policy: &Policy, subject: &str, c: &Comparison) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(rollback::error_rate(
        policy,
        subject,
        Some(c.current.request_window()),
    ));
    out.extend(
        c.degradation()
            .iter()
            .map(|d| rollback::degradation(policy, subject, d)),
    );
    let snapshot = c.current.metrics_snapshot(subject);
    out.push(metrics::check(
        &policy.metrics,
        subject,
        Metric::ResponseTime,
        snapshot.response_time_ms,
    ));
    out
}
