//! The foundation of the fleet runbook's procedures (pre-flight, deploy, validate, rollback,
//! incident response, disaster recovery): what every procedure needs besides the client
//! crates' operations and fleet-policy's rules.
//!
//! - [`Report`]: the result of a run (plan, steps as they happened, findings judged by the
//!   CI gate's rules, a [`RunStatus`] and the gate's exit codes 0/1/2), as text and as JSON
//!   (schema `fleet-runbook/report` version 1).
//! - [`Notifier`]: telling people, with [`SlackNotifier`] (incoming webhooks per channel),
//!   [`PagerDutyNotifier`] (Events API v2), [`StatuspageNotifier`] (incidents of a status page)
//!   and [`WebhookNotifier`] (JSON); retries within a budget, secrets never shown;
//!   [`notify_all`] sends through all of them as guarded steps that never fail the run.
//! - [`MetricsSource`]: requests, errors and latency percentiles over a window and a
//!   baseline, from [`PrometheusSource`] (typed PromQL templates) or [`AppInsightsSource`]
//!   (fleet-azure), converted to fleet-policy's rollback and metric-band inputs.
//! - [`run_smoke_tests`]: HTTP checks of the critical paths, run concurrently under a deadline,
//!   as fleet-policy's smoke-test input.
//! - [`changes_to_release`]: `git log origin/main..HEAD` from a local repository (gitoxide).
//! - Evidence adapters ([`crash_loop_alerts`], [`scaling_input`], [`deployed_at`],
//!   [`db_connections`], [`backup_inventory`]): client types to fleet-policy inputs.
//!
//! Plans, dry runs, confirmation, audit, progress and the clock are `fleet_guard`'s; this
//! crate does not repeat them.
//!
//! # The shape of a procedure
//!
//! A procedure holds its clients as traits (`Arc<dyn Deployments>`, `Arc<dyn MetricsSource>`,
//! `Arc<dyn Notifier>`...) and a `fleet_policy::Policy`, so it runs the same on mocks, the test
//! kit's stand-ins or production. It
//!
//! 1. reads state and builds a [`fleet_guard::Plan`]: every step it will read, change, wait
//!    for and notify, on which object, with which values, and which word confirms the
//!    destructive ones;
//! 2. runs the plan through a [`fleet_guard::Executor`]: reads always, changes only when not
//!    a dry run, after the [`fleet_guard::Confirm`] for destructive ones, each audited (intent,
//!    then outcome); waits report progress events;
//! 3. turns live evidence into fleet-policy inputs (a [`Comparison`] into a
//!    `RollbackInput`, a [`SmokeReport`] into smoke tests, pods into alerts) and lets
//!    fleet-policy judge them: the CI gate and the procedure reach the same findings;
//! 4. tells people through [`notify_all`] (a failed notification is reported, never fatal);
//! 5. returns a [`Report`] that a binary prints as text or JSON and whose exit code it
//!    returns.
//!
//! The library never prints: progress goes out as `fleet_guard` progress events and
//! diagnostics as `tracing` events.
//!
//! # Example: a bake check, on stand-ins
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use async_trait::async_trait;
//! use fleet_guard::{Executor, Guards, MemoryAuditSink, Mode, Plan, RunContext, Step};
//! use fleet_policy::{rollback, Policy};
//! use fleet_runbook::{
//!     notify_all, Action, Channel, Comparison, Delivery, Latency, MetricsSource, Notification,
//!     Notifier, Report, RequestMetrics, RunStatus, Severity, Window,
//! };
//!
//! /// Stand-in for Prometheus: 2 % errors now, p95 up from 400 ms to 700 ms.
//! #[derive(Debug)]
//! struct Canned;
//!
//! #[async_trait]
//! impl MetricsSource for Canned {
//!     fn describe(&self) -> String { "canned metrics".into() }
//!     async fn request_metrics(&self, window: Window) -> fleet_runbook::Result<RequestMetrics> {
//!         let now = window.end > "2026-07-16T22:05:00Z".parse().unwrap();
//!         Ok(RequestMetrics {
//!             window,
//!             requests: 5_000,
//!             errors: if now { 100 } else { 5 },
//!             latency: Latency { p95_ms: Some(if now { 700.0 } else { 400.0 }), ..Latency::default() },
//!             warnings: Vec::new(),
//!         })
//!     }
//! }
//!
//! /// Stand-in for Slack: keeps what it is told.
//! #[derive(Debug, Default)]
//! struct Chat(Mutex<Vec<String>>);
//!
//! #[async_trait]
//! impl Notifier for Chat {
//!     fn name(&self) -> &str { "chat" }
//!     fn target(&self, n: &Notification) -> String { format!("chat {}", n.channel) }
//!     fn accepts(&self, _: &Notification) -> bool { true }
//!     async fn notify(&self, n: &Notification) -> fleet_runbook::Result<Delivery> {
//!         self.0.lock().unwrap().push(n.title.clone());
//!         Ok(Delivery { notifier: "chat".into(), target: self.target(n), attempts: 1, reference: None })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::default();
//! let metrics: Arc<dyn MetricsSource> = Arc::new(Canned);
//! let chat = Arc::new(Chat::default());
//! let notifiers: Vec<Arc<dyn Notifier>> = vec![chat.clone()];
//!
//! // 1. The plan.
//! let mut plan = Plan::new("bake-check");
//! let sample = Step::read("sample-metrics", &metrics.describe(), "requests, errors and p95 over the bake period and before");
//! plan.push(sample.clone());
//! plan.note("recommends a rollback when fleet-policy's rollback rules fail");
//!
//! // 2. The run (an in-memory audit here; FileAuditSink in production).
//! let audit = MemoryAuditSink::new();
//! let context = RunContext::new("bake-check", "oncall@example.com", "CHG-1234", Mode::Execute)?;
//! let run = Executor::new(context, Guards::new(Arc::new(audit)));
//! let started = run.now();
//! let end: jiff::Timestamp = "2026-07-16T22:10:00Z".parse()?;
//! let current = Window::ending_at(end, Duration::from_secs(300))?;
//! let comparison: Comparison = run
//!     .read(sample, metrics.compare(current, current.preceding()?))
//!     .await?;
//!
//! // 3. fleet-policy judges.
//! let findings = rollback::evaluate(&policy, &comparison.rollback_input("fleet-api v1.5.0"));
//! let roll_back = rollback::rollback_required(&findings);
//!
//! // 4. People are told.
//! let note = Notification::new(
//!     Channel::deployments(), Action::Post, Severity::Error,
//!     "fleet-api v1.5.0: p95 latency +75 % during bake, rollback recommended",
//!     "fleet-api", run.now(),
//! );
//! notify_all(&run, "tell-deployments", &notifiers, &note).await;
//!
//! // 5. The report.
//! let report = Report::from_run(&run, plan, &policy, findings, started);
//! assert!(roll_back);
//! assert_eq!(report.status, RunStatus::Blocked);
//! assert_eq!(report.exit_code, 1);
//! assert!(report.to_text().contains("rollback.degradation"));
//! assert_eq!(chat.0.lock().unwrap().len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Secrets
//!
//! Webhook URLs, routing keys, API keys, bearer tokens and smoke-test credentials are
//! [`Secret`] or [`SecretUrl`]: redacted in `Debug`, never part of an [`Error`], never logged,
//! never in a report; servers' answers are scrubbed of them before they are kept.

mod changes;
mod error;
mod evidence;
mod fleet;
mod health;
mod http;
mod metrics;
mod notify;
mod procedures;
mod rbac;
mod report;
mod schedule;
mod secret;
mod smoke;

pub use changes::{Change, Changes, ChangesOptions, changes_to_release};
pub use error::{Error, ErrorKind, Result};
pub use evidence::{
    backup_inventory, crash_loop_alerts, crash_looping, db_connections, deployed_at, scaling_input,
};
pub use fleet::{
    ClusterError, ClusterOutcome, FleetOptions, FleetReport, cluster_for_context, run_across,
    run_in_order,
};
pub use health::{health_exit_code, validate_across};
pub use http::RetryOptions;
pub use metrics::{
    AppInsightsSource, Comparison, LabelMatcher, Latency, LatencyUnit, MatchOp, MetricsSource,
    PromInstant, PromQueries, PromSample, PromSeries, PromTemplate, PrometheusOptions,
    PrometheusSource, RequestMetrics, Window,
};
pub use notify::{
    Action, Channel, Delivery, IncidentStatus, Link, NOTIFICATION_SCHEMA,
    NOTIFICATION_SCHEMA_VERSION, Notification, Notifier, NotifyResult, PAGERDUTY_EVENTS_URL,
    PagerDutyNotifier, PagerDutyOptions, STATUSPAGE_API_URL, Severity, SlackNotifier, SlackOptions,
    StatuspageNotifier, StatuspageOptions, WebhookNotifier, WebhookOptions, notify_all,
    notify_step,
};
pub use procedures::common::{
    COMMON_ISSUES_PROCEDURE, CommonIssues, CommonIssuesOptions, CommonIssuesOutcome,
    DbReachability, Diagnosis, Issue, crash_loop_diagnoses, db_connectivity_diagnosis,
    pool_diagnosis, recent_change_diagnosis, unreachable_database_diagnosis,
};
pub use procedures::db_rollback::{
    DB_ROLLBACK_PROCEDURE, DbRollback, DbRollbackOptions, DbRollbackState, HostKey,
};
pub use procedures::deploy::{Deploy, DeployOptions};
pub use procedures::deps::{
    Azure, AzureDatabase, AzureDns, Backups, Db, Kube, ManagedRestore, Signals,
};
pub use procedures::dr::{
    DR_PROCEDURE, DatabaseSource, DisasterRecovery, DnsSwitch, DrMeasurements, DrOptions,
    DrOutcome, HostBinding, HostSource,
};
#[cfg(feature = "drill")]
pub use procedures::drill::story::{
    DRILL_BAD_IMAGE, DRILL_GOOD_IMAGE, DrillChapter, DrillStory, run_drill_story,
};
#[cfg(feature = "drill")]
pub use procedures::drill::{
    DRILL_BACKUP, DRILL_DATABASE, DRILL_RECORD, DRILL_RECOVERY_NAME, DRILL_RESTORED_DATABASE,
    DRILL_RESTORED_SERVER, DrillOptions, DrillSource, DrillWorld, run_drill,
};
pub use procedures::incident::{
    ActionTaken, CircuitBreaker, DatabaseEvidence, DecisionOptions, Declaration,
    DeploymentEvidence, DueNow, EscalationSent, EvidenceBundle, EvidenceEntry, FailureEvidence,
    IncidentBook, IncidentOptions, IncidentOutcome, IncidentRecord, IncidentResponse, Mitigation,
    Recommendation, RevisionEvidence, StatusUpdate, Tracked, implied_signals, incident_due,
    post_mortem_due, post_mortem_markdown, recommend_mitigations, redact_secrets,
};
pub use procedures::page::{AssetProbe, PageProbe, page_assets, probe_page, slow_page_diagnosis};
pub use procedures::preflight::{Preflight, PreflightOptions, deploy_permissions};
pub use procedures::rollback::{RevisionLine, Rollback, RollbackOptions, revision_lines};
pub use procedures::security::{
    Containment, CredentialRotation, RotationTarget, SecurityEvidence, SecurityResponse,
};
pub use procedures::triage::{
    Bottleneck, PerfTriage, QuickFix, TriageFindings, rank_telemetry, rank_usage,
    services_without_ready_endpoints, serving_problems,
};
pub use procedures::validate::{Validate, ValidateOptions};
pub use rbac::{
    CONFIG_KINDS, PROCEDURE_PERMISSIONS, Permission, ProcedurePermissions, access_checks,
    cluster_role, permissions, rbac_table, role, verify_access,
};
pub use report::{REPORT_SCHEMA, REPORT_SCHEMA_VERSION, Report, RunStatus};
pub use schedule::{InClusterObjects, ScheduleOptions, in_cluster_objects};
pub use secret::{Secret, SecretUrl};
pub use smoke::{
    BodyMatch, SmokeCheck, SmokeFailure, SmokeOptions, SmokeReport, SmokeResult, run_smoke_tests,
};

#[cfg(any(test, feature = "test-util"))]
pub use metrics::MockMetricsSource;
#[cfg(any(test, feature = "test-util"))]
pub use notify::MockNotifier;
