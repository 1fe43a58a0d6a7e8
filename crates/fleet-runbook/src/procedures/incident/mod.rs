//! The runbook's "Incident Response" (P0-P3) as a resumable procedure.
//!
//! Every step loads the [`IncidentRecord`] from the [`IncidentBook`], acts through a
//! `fleet_guard::Executor` and saves the record again (a versioned save: a second engineer's
//! concurrent change is refused, never overwritten), so a run interrupted by a crash or a
//! hand-over continues from the record.
//!
//! Steps:
//! 1. [`IncidentResponse::open`] declares and pages; [`IncidentResponse::acknowledge`]
//!    acknowledges the page (PagerDuty), posts in #incidents, and opens the record when the
//!    page came from elsewhere.
//! 2. [`IncidentResponse::assess`]: the evidence bundle (pods, rollout history, the last 100
//!    log lines, warning events, database connections and active queries, request metrics
//!    when a source is configured), severity through fleet-policy's classification, the
//!    decision tree's recommendations; Markdown and JSON, secrets redacted.
//! 3. [`IncidentResponse::mitigate`]: executes one recommendation: rollback
//!    (`kubectl rollout undo`, confirmed with `ROLLBACK`), scale up (policy's bounds), or the
//!    circuit breaker (a ConfigMap flag, confirmed with `BREAK`). The database branch is
//!    guidance for fleet-db's own confirmed remediations.
//! 4. [`IncidentResponse::update`] and [`IncidentResponse::check`]: status updates through
//!    the notifiers (Slack, Statuspage), and the clock: fleet-policy's checklist at `now`,
//!    escalation sent when a deadline has passed.
//! 5. [`IncidentResponse::mark_fixed`], [`IncidentResponse::resolve`] (after the hour of
//!    monitoring) and [`IncidentResponse::post_mortem`] (Markdown, due 48 h after
//!    resolution).
//!
//! Kubernetes RBAC: one Role, `incident` (`docs/rbac.md`), for the two phases that work on the
//! cluster; each starts with `verify-access` and, without every permission of the Role, stops
//! there (status `forbidden`, the record neither changed nor saved) before any read, lock or
//! change. In the namespace: `list` pods, `get` deployments, `list` replicasets (the rollout
//! history), `get` pods/log, `list` events (assess); `patch` deployments (rollback),
//! deployments/scale (scale up) and configmaps (the circuit breaker), and the lease of the
//! target lock (mitigate). The other phases touch no cluster. Database: `pg_read_all_stats`
//! (or `pg_monitor`) to see every session. No Azure role.

mod clock;
mod evidence;
mod mitigate;
mod postmortem;
mod record;

pub use clock::{DueNow, incident_due};
pub use evidence::{
    DatabaseEvidence, DeploymentEvidence, EvidenceBundle, FailureEvidence, RevisionEvidence,
    redact_secrets,
};
pub use mitigate::{
    CircuitBreaker, DecisionOptions, Mitigation, Recommendation, recommend_mitigations,
};
pub use postmortem::{post_mortem_due, post_mortem_markdown};
pub use record::{
    ActionTaken, EscalationSent, EvidenceEntry, IncidentBook, IncidentRecord, StatusUpdate, Tracked,
};

use std::sync::Arc;
use std::time::Duration;

use fleet_guard::{AuditRecord, ConfirmWord, Executor, LockRequest, Plan, Step, TargetLock};
use fleet_k8s::{
    ConfigDataOptions, EventOptions, LabelSelector, LogOptions, RolloutUndoOptions, ScaleOptions,
};
use fleet_policy::Policy;
use fleet_policy::incident::{Severity, Signals as ImpactSignals};
use jiff::Timestamp;

use super::access::{self, Denied};
use super::deps::{Db, Kube, Signals};
use crate::error::{Error, Result};
use crate::metrics::Window;
use crate::notify::{Action, Channel, IncidentStatus, Notification, Severity as Level, notify_all};
use crate::report::Report;

/// The Role of the phases that work on the cluster (assess, mitigate) in
/// `PROCEDURE_PERMISSIONS`.
const INCIDENT_ROLE: &str = "incident";

/// Options of the incident procedure.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IncidentOptions {
    /// The deployments of the service (state and rollout history are collected).
    pub deployments: Vec<String>,
    /// The pods whose logs are read (`app=fleet-api`); default every pod.
    pub log_selector: LabelSelector,
    /// Log lines read per pod (the runbook reads the last 100).
    pub log_lines: u32,
    /// The request-metrics window read for the assessment (default 15 min).
    pub metrics_window: Duration,
    /// The decision tree's options (what counts as recent, the circuit breaker).
    pub decisions: DecisionOptions,
    /// Exceptions and failing dependencies kept from Application Insights (default 5).
    pub failures_top: usize,
}

impl Default for IncidentOptions {
    fn default() -> Self {
        Self {
            deployments: Vec::new(),
            log_selector: LabelSelector::everything(),
            log_lines: 100,
            metrics_window: Duration::from_secs(15 * 60),
            decisions: DecisionOptions::default(),
            failures_top: 5,
        }
    }
}

impl IncidentOptions {
    /// The service's deployments.
    #[must_use]
    pub fn with_deployments<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        names: I,
    ) -> Self {
        self.deployments = names.into_iter().map(Into::into).collect();
        self
    }

    /// The pods whose logs are read.
    #[must_use]
    pub fn with_log_selector(mut self, selector: LabelSelector) -> Self {
        self.log_selector = selector;
        self
    }

    /// The circuit breaker flag.
    #[must_use]
    pub fn with_circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.decisions.circuit_breaker = Some(breaker);
        self
    }
}

/// How an incident is opened.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Declaration {
    /// Incident id (`INC-42`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Service.
    pub service: String,
    /// Declared severity.
    pub severity: Option<Severity>,
    /// Impact signals.
    pub signals: ImpactSignals,
    /// When it was declared (the page's time); default: now.
    pub declared_at: Option<Timestamp>,
    /// The PagerDuty dedup key of the page; default: the incident id.
    pub key: Option<String>,
}

impl Declaration {
    /// An incident of `service` with a title.
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            service: service.into(),
            severity: None,
            signals: ImpactSignals::default(),
            declared_at: None,
            key: None,
        }
    }

    /// The declared severity.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// When it was declared.
    #[must_use]
    pub fn declared_at(mut self, at: Timestamp) -> Self {
        self.declared_at = Some(at);
        self
    }
}

/// What a step of the procedure returns: its report and the record as saved.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IncidentOutcome {
    /// The run's report (fleet-policy's incident findings at the run's `now`).
    pub report: Report,
    /// The record as saved.
    pub record: IncidentRecord,
    /// The clock at the end of the step.
    pub due: DueNow,
    /// The evidence, for an assessment.
    pub evidence: Option<EvidenceBundle>,
}

/// The incident procedure over one namespace (and optionally its database).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IncidentResponse {
    /// The cluster.
    pub kube: Kube,
    /// The database, when the service has one.
    pub db: Option<Db>,
    /// Notifiers and metrics.
    pub signals: Signals,
    /// The rules.
    pub policy: Policy,
    /// Where the records are.
    pub book: IncidentBook,
    /// Options.
    pub options: IncidentOptions,
    /// Held while a mitigation changes the cluster.
    pub lock: Option<Arc<dyn TargetLock>>,
}

fn level(severity: Option<Severity>) -> Level {
    match severity {
        Some(Severity::P0) => Level::Critical,
        Some(Severity::P1) => Level::Error,
        Some(Severity::P2) => Level::Warning,
        _ => Level::Info,
    }
}

impl IncidentResponse {
    /// The procedure with its clients, rules and record book.
    pub fn new(kube: Kube, signals: Signals, policy: Policy, book: IncidentBook) -> Self {
        Self {
            kube,
            db: None,
            signals,
            policy,
            book,
            options: IncidentOptions::default(),
            lock: None,
        }
    }

    /// With the service's database.
    #[must_use]
    pub fn with_db(mut self, db: Db) -> Self {
        self.db = Some(db);
        self
    }

    /// With options.
    #[must_use]
    pub fn with_options(mut self, options: IncidentOptions) -> Self {
        self.options = options;
        self
    }

    /// With a lock held while mitigating.
    #[must_use]
    pub fn with_lock(mut self, lock: Arc<dyn TargetLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    fn notification(
        &self,
        record: &IncidentRecord,
        action: Action,
        title: String,
        at: Timestamp,
    ) -> Notification {
        Notification::new(
            Channel::incidents(),
            action,
            level(record.effective_severity()),
            title,
            record.service.clone(),
            at,
        )
        .with_key(record.key.clone().unwrap_or_else(|| record.id.clone()))
        .with_detail("incident", &record.id)
    }

    async fn finish(
        &self,
        run: &Executor,
        plan: Plan,
        mut tracked: Tracked,
        started: Timestamp,
        evidence: Option<EvidenceBundle>,
    ) -> Result<IncidentOutcome> {
        let steps = run.steps();
        tracked
            .record
            .record_actions(&steps, &run.context().actor, run.run_id());
        let now = run.now();
        let findings =
            fleet_policy::incident::evaluate(&self.policy, &tracked.record.to_policy(), now);
        let report = Report::from_run(run, plan, &self.policy, findings, started);
        let due = incident_due(&self.policy, &tracked.record, now);
        if !run.is_dry_run() {
            self.book.save(&mut tracked).await?;
        }
        Ok(IncidentOutcome {
            report,
            record: tracked.record,
            due,
            evidence,
        })
    }

    /// The outcome of a phase stopped at its access check: the report says why; the record is
    /// neither changed nor saved.
    fn denied(
        &self,
        run: &Executor,
        plan: Plan,
        tracked: Tracked,
        started: Timestamp,
        denied: Denied,
    ) -> IncidentOutcome {
        let due = incident_due(&self.policy, &tracked.record, run.now());
        IncidentOutcome {
            report: denied.report(run, plan, &self.policy, started),
            record: tracked.record,
            due,
            evidence: None,
        }
    }

    fn new_record(declaration: &Declaration, now: Timestamp) -> Tracked {
        let mut r = IncidentRecord::new(
            &declaration.id,
            &declaration.title,
            &declaration.service,
            declaration.declared_at.unwrap_or(now),
        );
        r.severity = declaration.severity;
        r.signals = declaration.signals;
        r.key = declaration
            .key
            .clone()
            .or_else(|| Some(declaration.id.clone()));
        Tracked {
            record: r,
            version: 0,
        }
    }

    /// Declares an incident: opens its record and pages (PagerDuty trigger, #incidents, a
    /// status-page incident). Opening one that is on record already sends nothing.
    ///
    /// # Errors
    /// The record store's failures.
    pub async fn open(&self, run: &Executor, declaration: Declaration) -> Result<IncidentOutcome> {
        let started = run.now();
        let mut plan = Plan::new("incident-open");
        let tracked = match self.book.load(&declaration.id).await? {
            Some(t) => {
                run.note("open", "already on record; nothing sent");
                t
            }
            None => {
                let t = Self::new_record(&declaration, started);
                let note = self.notification(
                    &t.record,
                    Action::Trigger,
                    format!("{}: {}", t.record.id, t.record.title),
                    started,
                );
                for n in self.signals.notifiers.iter().filter(|n| n.accepts(&note)) {
                    plan.push(crate::notify::notify_step("page", n.as_ref(), &note));
                }
                notify_all(run, "page", &self.signals.notifiers, &note).await;
                t
            }
        };
        self.finish(run, plan, tracked, started, None).await
    }

    /// Acknowledges the page, posts in #incidents and opens the record (or loads it when it
    /// exists: acknowledging again keeps the first time).
    ///
    /// # Errors
    /// The record store's failures (a concurrent save is a conflict).
    pub async fn acknowledge(
        &self,
        run: &Executor,
        declaration: Declaration,
    ) -> Result<IncidentOutcome> {
        let started = run.now();
        let mut tracked = match self.book.load(&declaration.id).await? {
            Some(t) => t,
            None => {
                let mut r = IncidentRecord::new(
                    &declaration.id,
                    &declaration.title,
                    &declaration.service,
                    declaration.declared_at.unwrap_or(started),
                );
                r.severity = declaration.severity;
                r.signals = declaration.signals;
                r.key = declaration
                    .key
                    .clone()
                    .or_else(|| Some(declaration.id.clone()));
                Tracked {
                    record: r,
                    version: 0,
                }
            }
        };
        let mut plan = Plan::new("incident-acknowledge");
        let note = self.notification(
            &tracked.record,
            Action::Acknowledge,
            format!(
                "{} acknowledged by {}: {}",
                tracked.record.id,
                run.context().actor,
                tracked.record.title
            ),
            started,
        );
        for n in &self.signals.notifiers {
            if n.accepts(&note) {
                plan.push(crate::notify::notify_step("acknowledge", n.as_ref(), &note));
            }
        }
        plan.note(format!(
            "opens or updates record incident-{}",
            tracked.record.id
        ));
        if tracked.record.acknowledged_at.is_none() {
            notify_all(run, "acknowledge", &self.signals.notifiers, &note).await;
            if !run.is_dry_run() {
                tracked.record.acknowledged_at = Some(started);
            }
        } else {
            run.note("acknowledge", "already acknowledged; nothing sent");
        }
        self.finish(run, plan, tracked, started, None).await
    }

    /// Collects the evidence bundle, classifies the severity, and records the decision
    /// tree's recommendations.
    ///
    /// # Errors
    /// [`Error::NotFound`] without a record; the record store's failures. A source that
    /// cannot be read is a gap of the bundle (and a failed step of the report), not an error.
    pub async fn assess(&self, run: &Executor, id: &str) -> Result<IncidentOutcome> {
        let started = run.now();
        let mut tracked = self.book.get(id).await?;
        let ns = self.kube.namespace.clone();
        let mut plan = Plan::new("incident-assess");
        plan.push(access::access_step(&self.kube, INCIDENT_ROLE));
        if let Err(denied) = access::verify(run, &self.kube, INCIDENT_ROLE).await {
            return Ok(self.denied(run, plan, tracked, started, denied));
        }
        let mut gaps = Vec::new();

        let step = Step::read("pods", &format!("namespace/{ns}"), "kubectl get pods");
        plan.push(step.clone());
        let pods = run
            .read(step, self.kube.pods.list_pods())
            .await
            .unwrap_or_else(|e| {
                gaps.push(format!("pods: {e}"));
                Vec::new()
            });

        let mut deployments = Vec::new();
        for name in &self.options.deployments {
            let step = Step::read(
                "deployment",
                &format!("deployment/{ns}/{name}"),
                "state and rollout history",
            );
            plan.push(step.clone());
            let read = async {
                let d = self.kube.deployments.get_deployment(name).await?;
                let h = self.kube.deployments.rollout_history(name).await?;
                Ok::<_, fleet_k8s::Error>((d, h))
            };
            match run.read(step, read).await {
                Ok((d, h)) => deployments.push(DeploymentEvidence {
                    name: name.clone(),
                    replicas: d.replicas,
                    ready: d.ready_replicas,
                    images: d.images.iter().map(|i| i.image.clone()).collect(),
                    history: h.iter().map(RevisionEvidence::from_revision).collect(),
                }),
                Err(e) => gaps.push(format!("deployment {name}: {e}")),
            }
        }

        let step = Step::read(
            "logs",
            &format!("pods/{ns}/{}", self.options.log_selector),
            format!("last {} log lines per pod", self.options.log_lines),
        );
        plan.push(step.clone());
        let options = LogOptions::default().with_tail(self.options.log_lines);
        let mut logs = run
            .read(
                step,
                self.kube
                    .logs
                    .logs_by_selector(&self.options.log_selector, Some(options)),
            )
            .await
            .unwrap_or_else(|e| {
                gaps.push(format!("logs: {e}"));
                Vec::new()
            });
        for l in &mut logs {
            l.line = redact_secrets(&l.line);
        }

        let step = Step::read("events", &format!("namespace/{ns}"), "warning events");
        plan.push(step.clone());
        let mut events = run
            .read(
                step,
                self.kube
                    .events
                    .list_events(Some(EventOptions::default().with_warnings_only(true))),
            )
            .await
            .unwrap_or_else(|e| {
                gaps.push(format!("events: {e}"));
                Vec::new()
            });
        for e in &mut events {
            e.message = redact_secrets(&e.message);
        }

        let database = match &self.db {
            None => None,
            Some(db) => {
                let step = Step::read(
                    "database",
                    &db.name,
                    "connections, active queries, blocking",
                );
                plan.push(step.clone());
                let read = async {
                    let c = db.diagnostics.connection_summary().await?;
                    let q = db.diagnostics.active_queries().await?;
                    let b = db.diagnostics.blocking().await?;
                    Ok::<_, fleet_db::Error>((c, q, b))
                };
                match run.read(step, read).await {
                    Ok((c, q, b)) => Some(DatabaseEvidence {
                        name: db.name.clone(),
                        connections: Some(c),
                        active_queries: q,
                        blocked_sessions: usize::try_from(b.waiting_sessions).unwrap_or(usize::MAX),
                    }),
                    Err(e) => {
                        gaps.push(format!("database {}: {e}", db.name));
                        None
                    }
                }
            }
        };

        let requests = match &self.signals.metrics {
            None => None,
            Some(m) => {
                let step = Step::read(
                    "requests",
                    &m.describe(),
                    "requests and errors over the window",
                );
                plan.push(step.clone());
                match Window::ending_at(started, self.options.metrics_window) {
                    Ok(window) => match run.read(step, m.request_metrics(window)).await {
                        Ok(r) => Some(r),
                        Err(e) => {
                            gaps.push(format!("requests: {e}"));
                            None
                        }
                    },
                    Err(e) => {
                        gaps.push(format!("requests: {e}"));
                        None
                    }
                }
            }
        };

        let failures = match &self.signals.telemetry {
            None => None,
            Some(t) => {
                let step = Step::read(
                    "app-insights-failures",
                    "application-insights",
                    "failed requests, top exceptions and failing dependencies over the window",
                );
                plan.push(step.clone());
                let window = Window::ending_at(started, self.options.metrics_window)
                    .map_err(|e| e.to_string())
                    .and_then(|w| {
                        fleet_azure::TimeWindow::new(w.start, w.end).map_err(|e| e.to_string())
                    });
                match window {
                    Ok(window) => {
                        let top = self.options.failures_top;
                        // Dependencies come ranked by latency: ask for more, keep the failing.
                        let query = t.report(window, None, (top as u32).saturating_mul(4), None);
                        match run.read(step, query).await {
                            Ok(r) => Some(FailureEvidence::from_report(r.current, top)),
                            Err(e) => {
                                gaps.push(format!("app insights: {e}"));
                                None
                            }
                        }
                    }
                    Err(e) => {
                        gaps.push(format!("app insights: {e}"));
                        None
                    }
                }
            }
        };

        let bundle = EvidenceBundle {
            incident: id.to_owned(),
            at: started,
            namespace: ns,
            pods,
            deployments,
            logs,
            events,
            database,
            requests,
            failures,
            gaps,
        };
        let implied = implied_signals(&self.policy, &bundle);
        let recommendations =
            recommend_mitigations(&self.policy, &bundle, &self.options.decisions, started);
        plan.note(format!(
            "severity from fleet-policy's classification of the declared severity and the evidence: {}",
            tracked
                .record
                .to_policy()
                .effective_severity()
                .map_or_else(|| "unknown".into(), |s| s.to_string())
        ));
        if !run.is_dry_run() {
            let r = &mut tracked.record;
            r.signals.complete_outage |= implied.complete_outage;
            r.signals.major_functionality_broken |= implied.major_functionality_broken;
            r.signals.degraded_performance |= implied.degraded_performance;
            r.assessed_at.get_or_insert(started);
            r.evidence.push(EvidenceEntry {
                at: started,
                summary: bundle.summary(),
                bundle: bundle.to_json(),
            });
            r.recommendations = recommendations;
        }
        self.finish(run, plan, tracked, started, Some(bundle)).await
    }

    /// Executes the recommendation named `choice` (`rollback`, `scale-up`,
    /// `circuit-breaker`) from the latest assessment; the record's mitigation time is set when
    /// it succeeds. Without `choice`, or for `database`, nothing changes: the report's plan
    /// lists the recommendations with their reasons.
    ///
    /// # Errors
    /// [`Error::NotFound`] without a record; [`Error::InvalidInput`] for a choice that was not
    /// recommended; a held lock; the record store's failures.
    pub async fn mitigate(
        &self,
        run: &Executor,
        id: &str,
        choice: Option<&str>,
    ) -> Result<IncidentOutcome> {
        let started = run.now();
        let mut tracked = self.book.get(id).await?;
        let mut plan = Plan::new("incident-mitigate");
        for r in &tracked.record.recommendations {
            plan.note(format!(
                "recommended: {} (because: {})",
                r.explanation,
                r.cites.join("; ")
            ));
        }
        let Some(choice) = choice else {
            return self.finish(run, plan, tracked, started, None).await;
        };
        let Some(rec) = tracked
            .record
            .recommendations
            .iter()
            .find(|r| r.mitigation.name() == choice)
            .cloned()
        else {
            return Err(Error::InvalidInput {
                field: "mitigation".into(),
                reason: format!(
                    "{choice:?} was not recommended by the latest assessment (recommended: {})",
                    tracked
                        .record
                        .recommendations
                        .iter()
                        .map(|r| r.mitigation.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        plan.push(access::access_step(&self.kube, INCIDENT_ROLE));
        if let Err(denied) = access::verify(run, &self.kube, INCIDENT_ROLE).await {
            return Ok(self.denied(run, plan, tracked, started, denied));
        }
        let ns = &self.kube.namespace;
        let _held = match &self.lock {
            Some(lock) if !run.is_dry_run() => Some(
                lock.acquire(&LockRequest {
                    target: format!("namespace/{ns}"),
                    holder: run.context().actor.clone(),
                    reason: format!("{id}: {}", rec.explanation),
                    ttl: Duration::from_secs(15 * 60),
                })
                .await
                .map_err(record::store_error)?,
            ),
            _ => None,
        };
        let dry = run.is_dry_run();
        let done = match &rec.mitigation {
            Mitigation::Rollback {
                deployment,
                from_revision,
                to_revision,
            } => {
                let step = Step::change(
                    "rollout-undo",
                    &format!("deployment/{ns}/{deployment}"),
                    format!("roll back to revision {to_revision}"),
                )
                .with_before(from_revision)
                .with_after(to_revision)
                .with_confirm(ConfirmWord::rollback());
                plan.push(step.clone());
                let opts = RolloutUndoOptions::default()
                    .with_to_revision(*to_revision)
                    .with_dry_run(dry);
                run.change(step, || {
                    self.kube.deployments.rollout_undo(deployment, Some(opts))
                })
                .await
                .map(|a| a.is_done())
            }
            Mitigation::ScaleUp {
                deployment,
                from,
                to,
            } => {
                let step = Step::change(
                    "scale",
                    &format!("deployment/{ns}/{deployment}"),
                    format!("scale from {from} to {to} replicas"),
                )
                .with_before(from)
                .with_after(to);
                plan.push(step.clone());
                let opts = ScaleOptions::default().with_dry_run(dry);
                run.change(step, || {
                    self.kube.deployments.scale(deployment, *to, Some(opts))
                })
                .await
                .map(|a| a.is_done())
            }
            Mitigation::CircuitBreaker {
                config_map,
                key,
                value,
            } => {
                let word = ConfirmWord::new("BREAK").map_err(record::store_error)?;
                let step = Step::change(
                    "circuit-breaker",
                    &format!("configmap/{ns}/{config_map}"),
                    format!("set {key}={value} (open the circuit breaker)"),
                )
                .with_after(value)
                .with_confirm(word);
                plan.push(step.clone());
                let opts = ConfigDataOptions::default().with_dry_run(dry);
                run.change(step, || {
                    self.kube
                        .config
                        .set_config_map_value(config_map, key, value, Some(opts))
                })
                .await
                .map(|a| a.is_done())
            }
            Mitigation::Database { steps } => {
                for s in steps {
                    plan.note(format!("database: {s}"));
                }
                Ok(false)
            }
        };
        if let Ok(true) = done {
            tracked.record.mitigated_at.get_or_insert(run.now());
        }
        self.finish(run, plan, tracked, started, None).await
    }

    /// Posts a status update (#incidents, the status page) and records it.
    ///
    /// # Errors
    /// [`Error::NotFound`] without a record; the record store's failures.
    pub async fn update(
        &self,
        run: &Executor,
        id: &str,
        status: IncidentStatus,
        message: &str,
    ) -> Result<IncidentOutcome> {
        let started = run.now();
        let mut tracked = self.book.get(id).await?;
        let plan = Plan::new("incident-update");
        let note = self
            .notification(
                &tracked.record,
                Action::Update,
                format!("{}: {}", tracked.record.title, message),
                started,
            )
            .with_status(status)
            .with_body(message);
        let sent = notify_all(run, "status-update", &self.signals.notifiers, &note).await;
        if !run.is_dry_run() && sent.iter().any(|s| s.delivery.is_some()) {
            tracked.record.status_updates.push(StatusUpdate {
                at: started,
                status,
                message: message.to_owned(),
            });
        }
        self.finish(run, plan, tracked, started, None).await
    }

    /// The clock: evaluates fleet-policy's checklist at now, and sends the escalation when
    /// a deadline passed and that level was not paged yet.
    ///
    /// # Errors
    /// [`Error::NotFound`] without a record; the record store's failures.
    pub async fn check(&self, run: &Executor, id: &str) -> Result<IncidentOutcome> {
        let started = run.now();
        let mut tracked = self.book.get(id).await?;
        let mut plan = Plan::new("incident-check");
        let due = incident_due(&self.policy, &tracked.record, started);
        for line in due.to_do() {
            plan.note(line);
        }
        if let (true, Some(e)) = (due.escalate, &due.escalation) {
            let note = self
                .notification(
                    &tracked.record,
                    Action::Post,
                    format!(
                        "{} escalated to level {} ({}): {}",
                        tracked.record.id, e.level, e.role, e.reason
                    ),
                    started,
                )
                .with_detail("escalation_level", e.level);
            let sent = notify_all(run, "escalate", &self.signals.notifiers, &note).await;
            if !run.is_dry_run() && sent.iter().any(|s| s.delivery.is_some()) {
                tracked.record.escalations.push(EscalationSent {
                    at: started,
                    level: e.level,
                    role: e.role.clone(),
                    reason: e.reason.clone(),
                });
            }
        }
        self.finish(run, plan, tracked, started, None).await
    }

    /// Records that the fix is deployed: the hour of monitoring starts.
    ///
    /// # Errors
    /// [`Error::NotFound`] without a record; the record store's failures.
    pub async fn mark_fixed(&self, run: &Executor, id: &str) -> Result<IncidentOutcome> {
        let started = run.now();
        let mut tracked = self.book.get(id).await?;
        let mut plan = Plan::new("incident-fixed");
        plan.note(format!(
            "monitoring for {} after the fix",
            fleet_policy_duration(&self.policy)
        ));
        if !run.is_dry_run() {
            tracked.record.fixed_at.get_or_insert(started);
            tracked.record.mitigated_at.get_or_insert(started);
        }
        self.finish(run, plan, tracked, started, None).await
    }

    /// Resolves the incident (PagerDuty resolve, status page resolved, #incidents). Refused
    /// while the hour of monitoring after the fix is still running unless `force`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] while monitoring (without `force`); [`Error::NotFound`]
    /// without a record; the record store's failures.
    pub async fn resolve(
        &self,
        run: &Executor,
        id: &str,
        message: &str,
        force: bool,
    ) -> Result<IncidentOutcome> {
        let started = run.now();
        let mut tracked = self.book.get(id).await?;
        if let Some(fixed) = tracked.record.fixed_at {
            let until = fixed
                .checked_add(self.policy.incident.monitor_after_fix)
                .unwrap_or(fixed);
            if started < until && !force {
                return Err(Error::InvalidInput {
                    field: "resolve".into(),
                    reason: format!(
                        "the fix is monitored until {until}: resolve after that (or force)"
                    ),
                });
            }
        }
        let plan = Plan::new("incident-resolve");
        let note = self
            .notification(
                &tracked.record,
                Action::Resolve,
                format!("{} resolved: {message}", tracked.record.title),
                started,
            )
            .with_status(IncidentStatus::Resolved)
            .with_body(message);
        notify_all(run, "resolve", &self.signals.notifiers, &note).await;
        if !run.is_dry_run() {
            tracked.record.resolved_at.get_or_insert(started);
            tracked.record.fixed_at.get_or_insert(started);
            tracked.record.mitigated_at.get_or_insert(started);
        }
        self.finish(run, plan, tracked, started, None).await
    }

    /// The post-mortem draft from the record and the audit log; records it as published.
    ///
    /// # Errors
    /// [`Error::NotFound`] without a record; the record store's failures.
    pub async fn post_mortem(
        &self,
        run: &Executor,
        id: &str,
        audit: &[AuditRecord],
    ) -> Result<(IncidentOutcome, String)> {
        let started = run.now();
        let mut tracked = self.book.get(id).await?;
        let md = post_mortem_markdown(&self.policy, &tracked.record, audit);
        let mut plan = Plan::new("incident-post-mortem");
        if let Some(due) = post_mortem_due(&self.policy, &tracked.record) {
            plan.note(format!("post-mortem due by {due}"));
        }
        if !run.is_dry_run() && tracked.record.resolved_at.is_some() {
            tracked.record.post_mortem_at.get_or_insert(started);
        }
        let outcome = self.finish(run, plan, tracked, started, None).await?;
        Ok((outcome, md))
    }
}

fn fleet_policy_duration(policy: &Policy) -> String {
    let m = policy.incident.monitor_after_fix.as_mins();
    format!("{m} min")
}

/// The impact the evidence shows: no ready replica of any deployment is an outage; errors at
/// or above the critical error-rate band break major functionality; unhealthy pods or a
/// warning error rate degrade performance.
pub fn implied_signals(policy: &Policy, bundle: &EvidenceBundle) -> ImpactSignals {
    let rate = bundle
        .requests
        .as_ref()
        .and_then(|r| r.error_rate_percent());
    let band = &policy.metrics.error_rate_percent;
    ImpactSignals {
        complete_outage: !bundle.deployments.is_empty()
            && bundle.deployments.iter().all(|d| d.ready == 0),
        major_functionality_broken: rate.is_some_and(|r| r > band.high()),
        degraded_performance: !bundle.unhealthy_pods().is_empty()
            || bundle.deployments.iter().any(|d| d.ready < d.replicas)
            || rate.is_some_and(|r| r >= band.low()),
        minor_issue: false,
    }
}
