//! The runbook's "Common Issues & Solutions" as diagnoses with evidence: each a pure function
//! deciding from what was read, beside the reads that gather it.
//!
//! - **Pods crash looping** ([`crash_loop_diagnoses`]): from each unhealthy pod's status
//!   (fleet-k8s's diagnosis: the last termination's reason and exit code, the waiting reason),
//!   sorted into out of memory (`OOMKilled`, exit 137), an application error (any other exit:
//!   environment, database connectivity, a recent change), configuration
//!   (`CreateContainerConfigError`: a missing Secret, ConfigMap or key) and the image
//!   (`ErrImagePull`, `ImagePullBackOff`), each with the runbook's solutions. Two of the
//!   runbook's crash-loop checks are made, not only named: **database connectivity**
//!   ([`db_connectivity_diagnosis`]: the crashed instance's last log lines that show the
//!   database refusing, timing out or rejecting the login, beside whether the database answers
//!   a round trip from here) and **recent changes** ([`recent_change_diagnosis`]: the pods'
//!   deployment rolled out a new revision within fleet-policy's `alerts.recent_deploy_window`,
//!   so roll back to the revision before, named with its image).
//! - **Connection pool exhausted** ([`pool_diagnosis`]): the server's connections against
//!   fleet-policy's `metrics.db-connections` band and `max_connections` (slots left), the
//!   applications holding most, and idle-in-transaction leak suspects.
//! - **Slow page load** ([`crate::probe_page`], [`crate::slow_page_diagnosis`]): the page at a
//!   configurable URL timed, then its scripts and style sheets, judged by fleet-policy's
//!   `metrics.response-time` band (the policy's latency threshold; fleet-policy has no separate
//!   page-load rule), with what the answers show about weight, compression and caching
//!   (`Cache-Control`, a CDN's `X-Cache`/`CF-Cache-Status`).
//!
//! [`CommonIssues::run`] reads all three (each optional) and reports fleet-policy's findings
//! with the diagnoses. It changes nothing.
//!
//! The run's first step is `verify-access` ([`crate::verify_access`]): without every
//! permission of the `common-issues` Role it stops there, status `forbidden`. Kubernetes RBAC
//! (namespace, `docs/rbac.md`): `list` pods, `get` pods, secrets and configmaps (the
//! diagnosis checks that referenced ones exist), `list` events, `get` pods/log (the crashed
//! instance's log), `get` deployments and `list` replicasets (the rollout history). Database:
//! `pg_monitor` (or `pg_read_all_stats`) to see every session; any login for the round trip.

use std::time::Duration;

use std::collections::BTreeMap;

use fleet_db::{ConnectionSummary, LeakSuspects};
use fleet_guard::{Executor, Plan, Step};
use fleet_k8s::{Cause, LogOptions, PodDiagnosis, PodSummary, RolloutRevision};
use fleet_policy::metrics::{Metric, check};
use fleet_policy::{Finding, Outcome, Policy};
use jiff::Timestamp;
use serde::Serialize;

use super::access;
use super::deps::{Db, Kube};
use super::incident::redact_secrets;
use super::page::{probe_page, slow_page_diagnosis};
use crate::report::Report;

/// The procedure's name in plans, audit records and reports.
pub const COMMON_ISSUES_PROCEDURE: &str = "common-issues";

/// Which of the runbook's common issues a diagnosis is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Issue {
    /// Pods crash looping, killed for memory.
    OutOfMemory,
    /// Pods crash looping, the application exits with an error.
    ApplicationError,
    /// Pods that cannot start: a missing Secret, ConfigMap or key.
    Configuration,
    /// Pods that cannot start: the image cannot be pulled.
    Image,
    /// Pods crash looping whose logs show the database refusing, timing out or rejecting
    /// them, or a database that does not answer.
    DatabaseConnectivity,
    /// Pods crash looping on a revision rolled out within the policy's recent-deployment
    /// window: roll back.
    RecentChange,
    /// Database connection pool exhausted.
    ConnectionPool,
    /// Slow page load.
    SlowPage,
}

/// One diagnosis: what, where, the evidence it rests on, and the runbook's solutions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnosis {
    /// The issue.
    pub issue: Issue,
    /// Where (`pod/fleet-api-7d9`, `database fleetdb`, a URL).
    pub subject: String,
    /// What was seen, one fact a line.
    pub evidence: Vec<String>,
    /// What to do, in the runbook's order.
    pub actions: Vec<String>,
}

const APP_ACTIONS: [&str; 4] = [
    "read the previous instance's logs (kubectl logs <pod> --previous)",
    "check the environment variables and that the Secrets they read exist",
    "check database connectivity from the pod",
    "review recent changes (rollout history); roll back if the crashes began with a release",
];

fn crash_issue(cause: &Cause) -> Option<Issue> {
    match cause {
        Cause::OomKilled { .. } => Some(Issue::OutOfMemory),
        Cause::CrashLoopBackOff {
            last_termination, ..
        } => Some(match last_termination {
            Some(t) if t.reason == "OOMKilled" || t.exit_code == 137 => Issue::OutOfMemory,
            _ => Issue::ApplicationError,
        }),
        Cause::MissingConfig { .. } | Cause::ContainerConfig { .. } => Some(Issue::Configuration),
        Cause::ImagePull { .. } => Some(Issue::Image),
        Cause::Terminated { termination, .. } if termination.exit_code != 0 => Some(
            if termination.reason == "OOMKilled" || termination.exit_code == 137 {
                Issue::OutOfMemory
            } else {
                Issue::ApplicationError
            },
        ),
        _ => None,
    }
}

/// Sorts the causes of unhealthy pods into the runbook's crash-loop cases (pure): one
/// diagnosis per pod and issue, with the causes as evidence and the runbook's solutions.
/// Pods that are only unready or unschedulable are not crash loops and are left out.
pub fn crash_loop_diagnoses(diagnoses: &[PodDiagnosis]) -> Vec<Diagnosis> {
    let mut out: Vec<Diagnosis> = Vec::new();
    for d in diagnoses {
        for cause in &d.causes {
            let Some(issue) = crash_issue(cause) else {
                continue;
            };
            let subject = format!("pod/{}", d.pod.name);
            let evidence = cause.summary();
            if let Some(existing) = out
                .iter_mut()
                .find(|x| x.subject == subject && x.issue == issue)
            {
                if !existing.evidence.contains(&evidence) {
                    existing.evidence.push(evidence);
                }
                continue;
            }
            let mut actions: Vec<String> = match issue {
                Issue::OutOfMemory => vec![
                    "raise the container's memory limit by the policy's vertical step, or find \
                     the leak (kubectl top pods; the application's memory metrics)"
                        .into(),
                    "review recent changes that could raise memory use".into(),
                ],
                Issue::Configuration => vec![
                    "create the missing Secret or ConfigMap, or fix the reference in the \
                     Deployment"
                        .into(),
                    "check the environment variables that read it".into(),
                ],
                Issue::Image => vec![
                    "check the image name and tag exist in the registry".into(),
                    "check the registry credentials (imagePullSecrets)".into(),
                ],
                _ => APP_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
            };
            actions.push(cause.action());
            out.push(Diagnosis {
                issue,
                subject,
                evidence: vec![evidence],
                actions,
            });
        }
    }
    out
}

/// What a round trip to the database from here showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DbReachability {
    /// Which database (never with its password).
    pub database: String,
    /// How long the round trip took, when it was answered.
    pub answered_in: Option<Duration>,
    /// Why it was not, when it was not.
    pub error: Option<String>,
}

/// What a log line says about the database connection, when it says anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnectionFault {
    Refused,
    Timeout,
    Authentication,
    NoSlots,
    UnknownHost,
}

fn connection_fault(line: &str) -> Option<ConnectionFault> {
    let l = line.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| l.contains(n));
    if any(&[
        "password authentication failed",
        "authentication failed",
        "no pg_hba.conf entry",
        "invalid password",
        "access denied for user",
        "login failed",
    ]) {
        Some(ConnectionFault::Authentication)
    } else if any(&[
        "too many clients",
        "remaining connection slots",
        "too many connections",
    ]) {
        Some(ConnectionFault::NoSlots)
    } else if any(&["connection refused", "econnrefused"]) {
        Some(ConnectionFault::Refused)
    } else if any(&[
        "could not translate host name",
        "name or service not known",
        "no such host",
        "enotfound",
        "getaddrinfo",
    ]) {
        Some(ConnectionFault::UnknownHost)
    } else if (any(&["timeout", "timed out", "etimedout"]))
        && any(&["connect", "database", "postgres", "pg", "sql", "db"])
    {
        Some(ConnectionFault::Timeout)
    } else {
        None
    }
}

/// How many log lines a diagnosis cites.
const CITED_LINES: usize = 3;

/// Database connectivity of one crash-looping pod (pure): a diagnosis when `log` (the crashed
/// instance's last lines) shows the database refusing the connection, timing out, rejecting
/// the login or out of connection slots, citing those lines (credentials redacted) and what a
/// round trip from here showed (`reach`). Without such lines, `None`: a database that does
/// not answer is [`unreachable_database_diagnosis`]'s.
pub fn db_connectivity_diagnosis(
    pod: &str,
    log: &[String],
    reach: Option<&DbReachability>,
) -> Option<Diagnosis> {
    let cited: Vec<(ConnectionFault, &String)> = log
        .iter()
        .filter_map(|l| connection_fault(l).map(|f| (f, l)))
        .collect();
    let (last_fault, _) = *cited.last()?;
    let mut evidence: Vec<String> = cited
        .iter()
        .rev()
        .take(CITED_LINES)
        .rev()
        .map(|(_, l)| format!("log: {}", redact_secrets(l.trim())))
        .collect();
    if cited.len() > CITED_LINES {
        evidence.push(format!(
            "{} lines of the last {} mention the database connection",
            cited.len(),
            log.len()
        ));
    }
    let mut actions = Vec::new();
    match reach {
        Some(DbReachability {
            database,
            answered_in: Some(t),
            ..
        }) => {
            evidence.push(format!(
                "{database} answers a round trip from here in {} ms: the server is up",
                t.as_millis()
            ));
            actions.push(
                "the server is up: check what the pod uses to reach it (the host and port in \
                 its configuration, network policies, the server's firewall rules)"
                    .to_owned(),
            );
        }
        Some(DbReachability {
            database, error, ..
        }) => {
            evidence.push(format!(
                "{database} does not answer from here either: {}",
                error.as_deref().unwrap_or("no answer")
            ));
            actions.push(
                "restore the database first (server state, failover); the pods recover once it \
                 answers"
                    .to_owned(),
            );
        }
        None => {}
    }
    match last_fault {
        ConnectionFault::Authentication => actions.insert(
            0,
            "compare the credential in the pod's Secret with the database role's password \
             (a rotation that did not reach the Secret); rotate it end to end if they differ"
                .to_owned(),
        ),
        ConnectionFault::NoSlots => actions.insert(
            0,
            "the database is out of connection slots: see the connection-pool diagnosis".to_owned(),
        ),
        ConnectionFault::UnknownHost => actions.insert(
            0,
            "the database host name does not resolve in the pod: check the host in its \
             configuration and the cluster's DNS"
                .to_owned(),
        ),
        ConnectionFault::Refused | ConnectionFault::Timeout => {}
    }
    actions.push(
        "test from the pod itself (kubectl exec <pod> -- pg_isready -h <host> -p <port>)"
            .to_owned(),
    );
    Some(Diagnosis {
        issue: Issue::DatabaseConnectivity,
        subject: format!("pod/{pod}"),
        evidence,
        actions,
    })
}

/// The database does not answer from here while pods crash-loop (pure): a diagnosis naming
/// the error and the pods; `None` when it answered or no pod is crash looping.
pub fn unreachable_database_diagnosis(
    reach: &DbReachability,
    crashing: &[String],
) -> Option<Diagnosis> {
    let error = reach.error.as_ref()?;
    if crashing.is_empty() {
        return None;
    }
    Some(Diagnosis {
        issue: Issue::DatabaseConnectivity,
        subject: format!("database/{}", reach.database),
        evidence: vec![
            format!("a round trip from here failed: {error}"),
            format!("crash looping meanwhile: {}", crashing.join(", ")),
        ],
        actions: vec![
            "restore the database first (server state, failover); the pods recover once it \
             answers"
                .to_owned(),
            "check the server's firewall rules and the network between the cluster and it"
                .to_owned(),
        ],
    })
}

/// `d` as `2 h 5 min`, `12 min` or `40 s`.
fn ago(d: jiff::SignedDuration) -> String {
    let s = d.as_secs().max(0);
    match (s / 3600, (s % 3600) / 60) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Recent changes behind a crash loop (pure): when `deployment`'s live revision was rolled
/// out within the policy's `alerts.recent_deploy_window` before `now`, some of `crashing`
/// (pod names) run it, and an earlier revision exists, a diagnosis pointing at a rollback to
/// that revision, each named with its image.
pub fn recent_change_diagnosis(
    policy: &Policy,
    deployment: &str,
    revisions: &[RolloutRevision],
    crashing: &[String],
    now: Timestamp,
) -> Option<Diagnosis> {
    let live = revisions.iter().find(|r| r.current)?;
    let at = live.created?;
    if at > now {
        return None;
    }
    let age = now.duration_since(at);
    let window = policy.alerts.recent_deploy_window;
    if age > window {
        return None;
    }
    let prefix = format!("{}-", live.replica_set);
    let on_live: Vec<&String> = crashing.iter().filter(|p| p.starts_with(&prefix)).collect();
    if on_live.is_empty() {
        return None;
    }
    let previous = revisions
        .iter()
        .filter(|r| r.revision < live.revision)
        .max_by_key(|r| r.revision)?;
    let images = |r: &RolloutRevision| {
        let list: Vec<&str> = r.images.iter().map(|i| i.image.as_str()).collect();
        if list.is_empty() {
            "no image".to_owned()
        } else {
            list.join(", ")
        }
    };
    let mut evidence = vec![format!(
        "revision {} ({}) rolled out at {at}, {} before now, within the policy's \
         recent-deployment window of {}",
        live.revision,
        images(live),
        ago(age),
        ago(window)
    )];
    if let Some(cause) = &live.change_cause {
        evidence.push(format!("change cause: {}", redact_secrets(cause)));
    }
    evidence.push(format!(
        "crash looping on revision {}: {}",
        live.revision,
        on_live
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Some(Diagnosis {
        issue: Issue::RecentChange,
        subject: format!("deployment/{deployment}"),
        evidence,
        actions: vec![
            format!(
                "roll back to revision {} ({}): kubectl rollout undo deployment/{deployment} \
                 --to-revision={} (the rollback procedure)",
                previous.revision,
                images(previous),
                previous.revision
            ),
            format!(
                "compare the revisions (kubectl rollout history deployment/{deployment} \
                 --revision={}) to find the change",
                live.revision
            ),
        ],
    })
}

/// The deployment a pod belongs to, from its name and `pod-template-hash` label (its
/// ReplicaSet is `{deployment}-{hash}`, the pod `{deployment}-{hash}-{suffix}`).
fn deployment_of(pod: &PodSummary) -> Option<String> {
    let hash = pod.labels.get("pod-template-hash")?;
    let (deployment, _) = pod.name.rsplit_once(&format!("-{hash}-"))?;
    (!deployment.is_empty()).then(|| deployment.to_owned())
}

/// The container whose crashes a cause describes.
fn crashed_container(cause: &Cause) -> Option<&str> {
    match cause {
        Cause::CrashLoopBackOff { container, .. } | Cause::Terminated { container, .. } => {
            Some(container)
        }
        _ => None,
    }
}

/// Judges the server's connections (pure): fleet-policy's `metrics.db-connections` finding,
/// and a diagnosis when the count is outside the normal band or no slot is left, naming the
/// applications holding most and the leak suspects.
pub fn pool_diagnosis(
    policy: &Policy,
    subject: &str,
    summary: &ConnectionSummary,
    leaks: &[LeakSuspects],
) -> (Finding, Option<Diagnosis>) {
    let finding = check(
        &policy.metrics,
        subject,
        Metric::DbConnections,
        Some(f64::from(summary.total)),
    );
    let exhausted = summary.slots_left <= 0;
    if finding.outcome == Outcome::Pass && !exhausted {
        return (finding, None);
    }
    let mut evidence = vec![format!(
        "{} connections of max_connections {} ({} usable, {} slots left)",
        summary.total, summary.max_connections, summary.usable, summary.slots_left
    )];
    let mut apps: Vec<(&String, &u32)> = summary.by_application.iter().collect();
    apps.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (app, n) in apps.into_iter().take(3) {
        let name = if app.is_empty() { "<unnamed>" } else { app };
        evidence.push(format!("{name} holds {n}"));
    }
    for l in leaks {
        evidence.push(format!(
            "{} has {} idle-in-transaction sessions, the oldest idle for {} s",
            if l.application.is_empty() {
                "<unnamed>"
            } else {
                &l.application
            },
            l.sessions,
            l.oldest_idle.as_secs()
        ));
    }
    let mut actions = Vec::new();
    if !leaks.is_empty() {
        actions.push(
            "fix the connection leaks in the applications named (terminate their idle-in-transaction \
             sessions meanwhile)"
                .to_owned(),
        );
    }
    actions.extend([
        "use connection pooling (PgBouncer, or a smaller pool per pod)".to_owned(),
        "increase max_connections in PostgreSQL (a server restart) or scale the database"
            .to_owned(),
    ]);
    let diagnosis = Diagnosis {
        issue: Issue::ConnectionPool,
        subject: subject.to_owned(),
        evidence,
        actions,
    };
    (finding, Some(diagnosis))
}

/// What to check.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CommonIssuesOptions {
    /// The page to time (none: no probe).
    pub page_url: Option<String>,
    /// Longest wait for the page (default 30 s).
    pub page_timeout: Option<Duration>,
    /// Sessions idle in a transaction longer than this are leak suspects (default 60 s).
    pub leak_idle: Option<Duration>,
}

impl CommonIssuesOptions {
    /// Also times `url`.
    #[must_use]
    pub fn with_page(mut self, url: impl Into<String>) -> Self {
        self.page_url = Some(url.into());
        self
    }
}

/// The diagnoses' clients: the namespace, optionally the database.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CommonIssues {
    /// The namespace's pods.
    pub kube: Kube,
    /// The application database, when it is checked.
    pub db: Option<Db>,
    /// The bands.
    pub policy: Policy,
}

/// A run's report and its diagnoses.
#[derive(Clone, Debug, Serialize)]
pub struct CommonIssuesOutcome {
    /// The report (reads, fleet-policy's findings).
    pub report: Report,
    /// What was diagnosed, crash loops first.
    pub diagnoses: Vec<Diagnosis>,
}

/// At most this many crashed pods have their logs read.
const MAX_LOGS_READ: usize = 10;

impl CommonIssues {
    /// The clients and the policy.
    pub fn new(kube: Kube, db: Option<Db>, policy: Policy) -> Self {
        Self { kube, db, policy }
    }

    /// The runbook's crash-loop checks that need more reads: a round trip to the database and
    /// the crashed instances' logs (database connectivity), and the rollout history of the
    /// failing pods' deployments (recent changes). Each read is a step added to `plan`.
    async fn crash_causes(
        &self,
        run: &Executor,
        plan: &mut Plan,
        found: &[PodDiagnosis],
        crashing: &[String],
    ) -> Vec<Diagnosis> {
        let ns = &self.kube.namespace;
        let mut out = Vec::new();
        let failing: Vec<&PodDiagnosis> = found
            .iter()
            .filter(|d| d.causes.iter().any(|c| crash_issue(c).is_some()))
            .collect();
        if failing.is_empty() {
            return out;
        }
        let reach = match &self.db {
            None => None,
            Some(db) => {
                let step = Step::read(
                    "database-round-trip",
                    &format!("database/{}", db.name),
                    "connect and run one query, as the pods would",
                );
                plan.push(step.clone());
                let (answered_in, error) = match run.read(step, db.diagnostics.ping()).await {
                    Ok(p) => (Some(p.elapsed), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                Some(DbReachability {
                    database: db.name.clone(),
                    answered_in,
                    error,
                })
            }
        };
        if let Some(d) = reach
            .as_ref()
            .and_then(|r| unreachable_database_diagnosis(r, crashing))
        {
            out.push(d);
        }
        let crashed = failing.iter().filter_map(|d| {
            d.causes
                .iter()
                .find_map(crashed_container)
                .map(|c| (&d.pod.name, c))
        });
        for (pod, container) in crashed.take(MAX_LOGS_READ) {
            let step = Step::read(
                &format!("pod-log.{pod}"),
                &format!("pod/{ns}/{pod}"),
                "the crashed instance's last 100 log lines",
            );
            plan.push(step.clone());
            let read = async {
                let previous = LogOptions::default()
                    .with_container(container)
                    .with_tail(100)
                    .with_previous(true);
                match self.kube.logs.pod_logs(pod, Some(previous)).await {
                    Ok(lines) => Ok(lines),
                    // No previous instance kept: the current one's log.
                    Err(_) => {
                        let current = LogOptions::default()
                            .with_container(container)
                            .with_tail(100);
                        self.kube.logs.pod_logs(pod, Some(current)).await
                    }
                }
            };
            if let Ok(lines) = run.read(step, read).await {
                out.extend(db_connectivity_diagnosis(pod, &lines, reach.as_ref()));
            }
        }
        let mut by_deployment: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in &failing {
            if let Some(deployment) = deployment_of(&d.pod) {
                by_deployment
                    .entry(deployment)
                    .or_default()
                    .push(d.pod.name.clone());
            }
        }
        for (deployment, pods) in by_deployment {
            let step = Step::read(
                &format!("rollout-history.{deployment}"),
                &format!("deployment/{ns}/{deployment}"),
                "rollout history: a revision rolled out recently",
            );
            plan.push(step.clone());
            let history = self.kube.deployments.rollout_history(&deployment);
            if let Ok(revisions) = run.read(step, history).await {
                out.extend(recent_change_diagnosis(
                    &self.policy,
                    &deployment,
                    &revisions,
                    &pods,
                    run.now(),
                ));
            }
        }
        out
    }

    /// Reads the pods (and diagnoses the unhealthy ones), the database's connections and leak
    /// suspects, and the page, and reports the diagnoses. Nothing is changed; a failed read is
    /// a failed step in the report.
    #[tracing::instrument(skip_all, fields(namespace = %self.kube.namespace))]
    pub async fn run(&self, run: &Executor, options: &CommonIssuesOptions) -> CommonIssuesOutcome {
        let started = run.now();
        let ns = &self.kube.namespace;
        let mut plan = Plan::new(COMMON_ISSUES_PROCEDURE);
        plan.push(access::access_step(&self.kube, COMMON_ISSUES_PROCEDURE));
        if let Err(denied) = access::verify(run, &self.kube, COMMON_ISSUES_PROCEDURE).await {
            return CommonIssuesOutcome {
                report: denied.report(run, plan, &self.policy, started),
                diagnoses: Vec::new(),
            };
        }
        let pods_step = Step::read(
            "diagnose-pods",
            &format!("namespace/{ns}"),
            "the unhealthy pods' status and events",
        );
        plan.push(pods_step.clone());
        let db_step = self.db.as_ref().map(|db| {
            Step::read(
                "database-connections",
                &format!("database/{}", db.name),
                "connections against max_connections, leak suspects",
            )
        });
        let page_step = options
            .page_url
            .as_ref()
            .map(|u| Step::read("probe-page", u, "time one GET of the page"));
        for s in db_step.iter().chain(page_step.iter()) {
            plan.push(s.clone());
        }
        let mut findings = Vec::new();
        let mut diagnoses = Vec::new();

        let pods = async {
            let listed = self.kube.pods.list_pods().await?;
            let mut out = Vec::new();
            for p in listed
                .iter()
                .filter(|p| !p.is_healthy() && p.status != "Completed")
            {
                out.push(self.kube.pods.diagnose_pod(&p.name).await?);
            }
            Ok::<_, fleet_k8s::Error>(out)
        };
        if let Ok(found) = run.read(pods_step, pods).await {
            let crashing: Vec<String> = found
                .iter()
                .filter(|d| {
                    d.causes.iter().any(|c| {
                        matches!(c, Cause::CrashLoopBackOff { .. } | Cause::OomKilled { .. })
                    })
                })
                .map(|d| d.pod.name.clone())
                .collect();
            findings.push(fleet_policy::preflight::crash_loops(
                &format!("namespace/{ns}"),
                &crashing,
            ));
            diagnoses.extend(crash_loop_diagnoses(&found));
            diagnoses.extend(self.crash_causes(run, &mut plan, &found, &crashing).await);
        }
        if let (Some(db), Some(step)) = (&self.db, db_step) {
            let idle = options.leak_idle.unwrap_or(Duration::from_secs(60));
            let read = async {
                let summary = db.diagnostics.connection_summary().await?;
                let leaks = db.diagnostics.leak_suspects(idle).await?;
                Ok::<_, fleet_db::Error>((summary, leaks))
            };
            if let Ok((summary, leaks)) = run.read(step, read).await {
                let (f, d) = pool_diagnosis(
                    &self.policy,
                    &format!("database/{}", db.name),
                    &summary,
                    &leaks,
                );
                findings.push(f);
                diagnoses.extend(d);
            }
        }
        if let (Some(url), Some(step)) = (&options.page_url, page_step) {
            let timeout = options.page_timeout.unwrap_or(Duration::from_secs(30));
            if let Ok(probe) = run.read(step, probe_page(url, timeout)).await {
                let (f, d) = slow_page_diagnosis(&self.policy, &probe);
                findings.push(f);
                diagnoses.extend(d);
            }
        }
        for d in &diagnoses {
            plan.note(format!(
                "{:?} at {}: {}",
                d.issue,
                d.subject,
                d.evidence.join("; ")
            ));
        }
        let report = Report::from_run(run, plan, &self.policy, findings, started);
        CommonIssuesOutcome { report, diagnoses }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn log_lines_are_sorted_by_what_they_say_about_the_connection() {
        let cases = [
            (
                "FATAL:  password authentication failed for user \"app\"",
                Some(ConnectionFault::Authentication),
            ),
            (
                "no pg_hba.conf entry for host \"10.0.0.7\"",
                Some(ConnectionFault::Authentication),
            ),
            (
                "Error: connect ECONNREFUSED 10.0.0.5:5432",
                Some(ConnectionFault::Refused),
            ),
            (
                "connection to server at \"db\" (10.0.0.5), port 5432 failed: timeout expired",
                Some(ConnectionFault::Timeout),
            ),
            (
                "FATAL: sorry, too many clients already",
                Some(ConnectionFault::NoSlots),
            ),
            (
                "could not translate host name \"fleet-db\" to address",
                Some(ConnectionFault::UnknownHost),
            ),
            ("request timed out after 30 s calling payments", None),
            ("listening on :8080", None),
        ];
        for (line, fault) in cases {
            assert_eq!(connection_fault(line), fault, "{line}");
        }
    }

    #[test]
    fn a_connectivity_diagnosis_cites_the_last_lines_redacted_and_the_round_trip() {
        let log = lines(&[
            "boot",
            "connect ECONNREFUSED 10.0.0.5:5432",
            "connect ECONNREFUSED 10.0.0.5:5432",
            "connect ECONNREFUSED 10.0.0.5:5432",
            "password authentication failed; url postgres://app:s3cr3t@db/fleet",
        ]);
        let reach = DbReachability {
            database: "fleetdb".into(),
            answered_in: None,
            error: Some("connection refused".into()),
        };
        let d = db_connectivity_diagnosis("api-1", &log, Some(&reach)).expect("diagnosis");
        assert_eq!(d.issue, Issue::DatabaseConnectivity);
        assert_eq!(d.subject, "pod/api-1");
        let cited: Vec<&String> = d
            .evidence
            .iter()
            .filter(|e| e.starts_with("log: "))
            .collect();
        assert_eq!(cited.len(), 3, "{d:?}");
        assert!(cited[2].contains("password authentication failed"));
        assert!(!format!("{d:?}").contains("s3cr3t"), "{d:?}");
        assert!(
            d.evidence
                .iter()
                .any(|e| e.starts_with("4 lines of the last 5"))
        );
        assert!(
            d.evidence
                .iter()
                .any(|e| e == "fleetdb does not answer from here either: connection refused")
        );
        assert!(d.actions[0].contains("credential"), "{d:?}");
        assert!(
            db_connectivity_diagnosis("api-1", &lines(&["boot", "ok"]), Some(&reach)).is_none()
        );
        let up = DbReachability {
            answered_in: Some(Duration::from_millis(3)),
            error: None,
            ..reach
        };
        assert!(unreachable_database_diagnosis(&up, &["api-1".into()]).is_none());
    }
}
