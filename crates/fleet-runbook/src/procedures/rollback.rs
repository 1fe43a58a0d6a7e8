//! Roll back a deployment (`./scripts/rollback-production.sh [--list]`, runbook "Rollback
//! Procedures", "Rollback Steps").
//!
//! Steps:
//!
//! 1. `read-history`: the revisions (image, change cause, age): what `--list` shows.
//! 2. `take-lock`: the target's lock, when a [`TargetLock`] is given.
//! 3. `validate-undo` (dry run only): the undo patch sent with `dryRun=All`.
//! 4. `rollout-undo`: back to the previous or the named revision; destructive, confirmed with
//!    the typed word `ROLLBACK`. A refused confirmation changes nothing.
//! 5. `wait-undo`: the rollout to completion (progress events).
//! 6. The validation reads ([`crate::Validate`]).
//! 7. `notify-incident`: #incidents.
//!
//! RBAC: `get`, `watch`, `patch` deployments; `list` replicasets and pods.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fleet_guard::{ConfirmWord, Executor, Plan, Step, TargetLock};
use fleet_k8s::{RolloutRevision, RolloutUndoOptions};
use fleet_policy::Policy;
use jiff::Timestamp;
use serde::Serialize;

use crate::error::Error;
use crate::notify::{Action, Channel, Notification, Severity, notify_all};
use crate::procedures::deploy::watch_rollout;
use crate::procedures::deps::{Kube, Signals};
use crate::procedures::validate::{Validate, ValidateOptions};
use crate::procedures::{access, lock};
use crate::report::Report;

/// One revision as `--list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RevisionLine {
    /// The revision number.
    pub revision: i64,
    /// `container=image` of each container.
    pub images: Vec<String>,
    /// `kubernetes.io/change-cause`, when recorded.
    pub change_cause: Option<String>,
    /// When its ReplicaSet was created.
    pub created: Option<Timestamp>,
    /// Its age at `now`, in seconds.
    pub age_secs: Option<i64>,
    /// Whether it is the running revision.
    pub current: bool,
}

impl fmt::Display for RevisionLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let age = self
            .age_secs
            .map_or_else(|| "?".to_owned(), |s| format!("{}m", s / 60));
        write!(
            f,
            "{:>4}{} {:>6}  {}  {}",
            self.revision,
            if self.current { "*" } else { " " },
            age,
            self.images.join(","),
            self.change_cause.as_deref().unwrap_or("<none>")
        )
    }
}

/// The revisions of `history` as lines, newest first.
pub fn revision_lines(history: &[RolloutRevision], now: Timestamp) -> Vec<RevisionLine> {
    let mut lines: Vec<RevisionLine> = history
        .iter()
        .map(|r| {
            let created = r.created.as_ref().and_then(crate::evidence::timestamp);
            RevisionLine {
                revision: r.revision,
                images: r
                    .images
                    .iter()
                    .map(|i| format!("{}={}", i.container, i.image))
                    .collect(),
                change_cause: r.change_cause.clone(),
                created,
                age_secs: created.map(|c| now.duration_since(c).as_secs()),
                current: r.current,
            }
        })
        .collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.revision));
    lines
}

/// What to roll back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RollbackOptions {
    /// The deployment (`fleet-api`).
    pub deployment: String,
    /// The revision to go back to; `None`: the previous one.
    pub to_revision: Option<i64>,
    /// How long the rollback's rollout may take (10 minutes).
    pub rollout_timeout: Duration,
    /// Not used by the wait, which watches the rollout as `kubectl rollout status` does (it
    /// samples nothing); kept so that existing callers still build (2 s).
    pub poll_interval: Duration,
    /// The validation afterwards.
    pub validate: ValidateOptions,
    /// How long the target's lock lasts (1 hour).
    pub lock_ttl: Duration,
}

impl RollbackOptions {
    /// Rolls `validate.deployment` back to the previous revision.
    pub fn new(validate: ValidateOptions) -> Self {
        Self {
            deployment: validate.deployment.clone(),
            to_revision: None,
            rollout_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(2),
            validate,
            lock_ttl: Duration::from_secs(3600),
        }
    }

    /// Rolls back to `revision`.
    #[must_use]
    pub fn to_revision(mut self, revision: i64) -> Self {
        self.to_revision = Some(revision);
        self
    }

    /// Sets the sampling interval.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }
}

/// The rollback procedure.
#[derive(Clone)]
#[non_exhaustive]
pub struct Rollback {
    /// The cluster.
    pub kube: Kube,
    /// Notifiers and the metrics source.
    pub signals: Signals,
    /// The rules.
    pub policy: Policy,
    /// What to roll back.
    pub options: RollbackOptions,
    /// One operation at a time on the deployment, when given.
    pub lock: Option<Arc<dyn TargetLock>>,
}

impl fmt::Debug for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rollback")
            .field("kube", &self.kube)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Rollback {
    /// A rollback on these clients.
    pub fn new(kube: Kube, signals: Signals, policy: Policy, options: RollbackOptions) -> Self {
        Self {
            kube,
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

    fn target(&self) -> String {
        format!(
            "deployment/{}/{}",
            self.kube.namespace, self.options.deployment
        )
    }

    /// `--list`: the revisions, newest first.
    ///
    /// # Errors
    /// The cluster's error, as [`Error::Step`].
    pub async fn list(&self, now: Timestamp) -> Result<Vec<RevisionLine>, Error> {
        let history = self
            .kube
            .deployments
            .rollout_history(&self.options.deployment)
            .await
            .map_err(|e| Error::Step {
                step: "read-history".into(),
                transient: e.is_transient(),
                source: Box::new(e),
            })?;
        Ok(revision_lines(&history, now))
    }

    /// The revision a rollback goes to: the named one, or the newest before the current one.
    fn target_revision<'a>(&self, lines: &'a [RevisionLine]) -> Option<&'a RevisionLine> {
        match self.options.to_revision {
            Some(r) => lines.iter().find(|l| l.revision == r),
            None => {
                let current = lines.iter().find(|l| l.current)?.revision;
                lines.iter().find(|l| l.revision < current)
            }
        }
    }

    /// The plan, from the revisions as they are now.
    pub fn plan(&self, lines: &[RevisionLine]) -> Plan {
        let target = self.target();
        let current = lines.iter().find(|l| l.current);
        let to = self.target_revision(lines);
        let mut plan = Plan::new("rollback");
        plan.push(access::access_step(&self.kube, "rollback"));
        plan.push(Step::read(
            "read-history",
            &target,
            "the revisions (rollout history)",
        ));
        if self.lock.is_some() {
            plan.push(Step::change(
                "take-lock",
                &target,
                "take the deployment's lock",
            ));
        }
        plan.push(
            Step::change(
                "rollout-undo",
                &target,
                match to {
                    Some(to) => format!(
                        "roll back to revision {} ({})",
                        to.revision,
                        to.images.join(",")
                    ),
                    None => "roll back (no earlier revision found)".to_owned(),
                },
            )
            .with_before(current.map(|c| (c.revision, c.images.clone())))
            .with_after(to.map(|t| (t.revision, t.images.clone())))
            .with_confirm(ConfirmWord::rollback()),
        );
        plan.push(Step::wait(
            "wait-undo",
            &target,
            "the rollback's rollout complete",
        ));
        for step in Validate::new(
            self.kube.clone(),
            self.signals.clone(),
            self.policy.clone(),
            self.options.validate.clone(),
        )
        .steps()
        {
            plan.push(step);
        }
        plan.push(Step::notify(
            "notify-incident",
            "#incidents",
            "the rollback and its validation",
        ));
        plan
    }

    /// Runs the rollback (confirmed with `ROLLBACK`), validates it and tells #incidents.
    pub async fn run(&self, run: &Executor) -> Report {
        let started = run.now();
        let target = self.target();
        if let Err(denied) = access::verify(run, &self.kube, "rollback").await {
            return denied.report(run, self.plan(&[]), &self.policy, started);
        }
        let lines = run
            .read(
                Step::read("read-history", &target, "the revisions (rollout history)"),
                self.list(started),
            )
            .await
            .unwrap_or_default();
        let plan = self.plan(&lines);
        let step = |id: &str| {
            plan.step(id)
                .cloned()
                .unwrap_or_else(|| Step::read(id, &target, id))
        };
        let Some(to) = self.target_revision(&lines).map(|l| l.revision) else {
            run.skip(step("rollout-undo"), "no revision to roll back to");
            let mut report = Report::from_run(run, plan, &self.policy, Vec::new(), started);
            if report.stopped.is_none() {
                report.status = crate::report::RunStatus::Invalid;
                report.exit_code = report.status.exit_code();
                report.stopped = Some("no revision to roll back to".into());
            }
            return report;
        };

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
            Err(_) => return Report::from_run(run, plan, &self.policy, Vec::new(), started),
        };

        let mut findings = Vec::new();
        if run.is_dry_run() {
            let _ = run
                .read(
                    Step::read("validate-undo", &target, "the undo patch with dryRun=All"),
                    self.kube.deployments.rollout_undo(
                        &self.options.deployment,
                        Some(
                            RolloutUndoOptions::default()
                                .with_to_revision(to)
                                .with_dry_run(true),
                        ),
                    ),
                )
                .await;
        }
        let undone = run
            .change(step("rollout-undo"), || {
                self.kube.deployments.rollout_undo(
                    &self.options.deployment,
                    Some(RolloutUndoOptions::default().with_to_revision(to)),
                )
            })
            .await;
        if matches!(undone, Ok(ref a) if a.is_done()) {
            let o = &self.options;
            let _ = run
                .wait(step("wait-undo"), || {
                    watch_rollout(
                        &self.kube,
                        &o.deployment,
                        o.rollout_timeout,
                        o.poll_interval,
                        run,
                        "wait-undo",
                        false,
                    )
                })
                .await;
            let validate = Validate::new(
                self.kube.clone(),
                self.signals.clone(),
                self.policy.clone(),
                o.validate.clone(),
            );
            findings = validate
                .check(run, &format!("{} revision {to}", o.deployment))
                .await;
            let note = Notification::new(
                Channel::incidents(),
                Action::Post,
                Severity::Warning,
                format!(
                    "{} rolled back to revision {to} by {}",
                    o.deployment,
                    run.context().actor
                ),
                &o.deployment,
                run.now(),
            )
            .with_body(run.context().reason.clone());
            notify_all(run, "notify-incident", &self.signals.notifiers, &note).await;
        }
        held.release().await;
        Report::from_run(run, plan, &self.policy, findings, started)
    }
}
