//! The assessment's evidence bundle: what the runbook's "Assess" step looks at, gathered in
//! one place, readable by a person (Markdown) and a program (JSON), with secrets redacted.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fleet_azure::{DependencyStats, ExceptionCount, RequestStats, TimeWindow};
use fleet_db::{ConnectionSummary, Session};
use fleet_k8s::{EventRecord, LogLine, PodSummary, RolloutRevision};
use jiff::Timestamp;
use regex::Regex;
use serde::Serialize;

use crate::metrics::RequestMetrics;
use crate::{Error, Result};

/// A deployment's state and recent revisions.
#[derive(Clone, Debug, Serialize)]
pub struct DeploymentEvidence {
    /// Name.
    pub name: String,
    /// Desired replicas.
    pub replicas: i32,
    /// Ready replicas.
    pub ready: i32,
    /// Images now.
    pub images: Vec<String>,
    /// Revisions, newest last, without their pod templates.
    pub history: Vec<RevisionEvidence>,
}

/// One revision of a deployment.
#[derive(Clone, Debug, Serialize)]
pub struct RevisionEvidence {
    /// Revision number.
    pub revision: i64,
    /// When its ReplicaSet was created (when it was deployed).
    pub created: Option<Timestamp>,
    /// `kubernetes.io/change-cause`.
    pub change_cause: Option<String>,
    /// Images.
    pub images: Vec<String>,
    /// Whether it is the live one.
    pub current: bool,
}

impl RevisionEvidence {
    pub(crate) fn from_revision(r: &RolloutRevision) -> Self {
        Self {
            revision: r.revision,
            created: r.created,
            change_cause: r.change_cause.as_deref().map(redact_secrets),
            images: r.images.iter().map(|i| i.image.clone()).collect(),
            current: r.current,
        }
    }
}

/// The database side.
#[derive(Clone, Debug, Serialize)]
pub struct DatabaseEvidence {
    /// Which database.
    pub name: String,
    /// Connections by state, user and application, against `max_connections`.
    pub connections: Option<ConnectionSummary>,
    /// Queries running now (texts masked by fleet-db).
    pub active_queries: Vec<Session>,
    /// Sessions blocked by others.
    pub blocked_sessions: usize,
}

/// Application Insights' failures over the assessment's window.
#[derive(Clone, Debug, Serialize)]
pub struct FailureEvidence {
    /// The window queried.
    pub window: TimeWindow,
    /// Requests: total, failed, failure rate, percentiles.
    pub requests: RequestStats,
    /// The exception groups with most occurrences (messages redacted).
    pub top_exceptions: Vec<ExceptionCount>,
    /// Dependencies with failed calls, most failures first (among the slowest kinds queried).
    pub failing_dependencies: Vec<DependencyStats>,
}

impl FailureEvidence {
    /// From a telemetry window report: exception messages redacted, dependencies without
    /// failures dropped, at most `top` of each.
    pub fn from_report(report: fleet_azure::WindowReport, top: usize) -> Self {
        let mut top_exceptions = report.top_exceptions;
        top_exceptions.truncate(top);
        for e in &mut top_exceptions {
            e.message = redact_secrets(&e.message);
            e.problem_id = redact_secrets(&e.problem_id);
        }
        let mut failing_dependencies: Vec<DependencyStats> = report
            .slowest_dependencies
            .into_iter()
            .filter(|d| d.failed > 0)
            .collect();
        failing_dependencies.sort_by(|a, b| b.failed.cmp(&a.failed).then(a.name.cmp(&b.name)));
        failing_dependencies.truncate(top);
        for d in &mut failing_dependencies {
            d.name = redact_secrets(&d.name);
            d.target = redact_secrets(&d.target);
        }
        Self {
            window: report.window,
            requests: report.requests,
            top_exceptions,
            failing_dependencies,
        }
    }

    fn lines(&self) -> Vec<String> {
        let r = &self.requests;
        let mut out = vec![format!(
            "App Insights: {} of {} requests failed ({})",
            r.failed,
            r.total,
            r.failure_rate_pct
                .map_or_else(|| "no rate".into(), |p| format!("{p:.1} %"))
        )];
        for e in &self.top_exceptions {
            out.push(format!(
                "exception {} x{}: {}",
                e.exception_type, e.count, e.message
            ));
        }
        for d in &self.failing_dependencies {
            out.push(format!(
                "dependency {} {} on {}: {} of {} calls failed",
                d.dependency_type, d.name, d.target, d.failed, d.calls
            ));
        }
        out
    }
}

/// Everything one assessment saw.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct EvidenceBundle {
    /// The incident.
    pub incident: String,
    /// When.
    pub at: Timestamp,
    /// Namespace.
    pub namespace: String,
    /// Pods (`kubectl get pods`).
    pub pods: Vec<PodSummary>,
    /// Deployments and their rollout history.
    pub deployments: Vec<DeploymentEvidence>,
    /// The last log lines of the service's pods (redacted).
    pub logs: Vec<LogLine>,
    /// Warning events, newest last.
    pub events: Vec<EventRecord>,
    /// The database, when one is configured.
    pub database: Option<DatabaseEvidence>,
    /// Requests and errors over the last minutes (Application Insights or Prometheus).
    pub requests: Option<RequestMetrics>,
    /// Application Insights' failed requests, top exceptions and failing dependencies, when
    /// a telemetry source is configured.
    pub failures: Option<FailureEvidence>,
    /// Sources that could not be read, and why.
    pub gaps: Vec<String>,
}

impl EvidenceBundle {
    /// Pods not ready or not running.
    pub fn unhealthy_pods(&self) -> Vec<&PodSummary> {
        self.pods
            .iter()
            .filter(|p| !p.is_healthy() && p.status != "Completed")
            .collect()
    }

    /// One line per thing worth knowing.
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in &self.deployments {
            out.push(format!(
                "deployment {}: {}/{} ready, images {}",
                d.name,
                d.ready,
                d.replicas,
                d.images.join(", ")
            ));
            if let Some(r) = d.history.iter().find(|r| r.current) {
                out.push(format!(
                    "deployment {}: revision {} deployed at {}",
                    d.name,
                    r.revision,
                    r.created
                        .map_or_else(|| "an unknown time".into(), |t| t.to_string())
                ));
            }
        }
        for p in self.unhealthy_pods() {
            out.push(format!(
                "pod {} is {} ({} ready, {} restarts)",
                p.name,
                p.status,
                p.ready_column(),
                p.restarts
            ));
        }
        let errors = self
            .logs
            .iter()
            .filter(|l| l.line.contains("ERROR") || l.line.contains("FATAL"))
            .count();
        if errors > 0 {
            out.push(format!(
                "{errors} of the last {} log lines are errors",
                self.logs.len()
            ));
        }
        for e in self.events.iter().rev().take(5) {
            out.push(format!(
                "event {} on {}/{}: {}",
                e.reason, e.object_kind, e.object_name, e.message
            ));
        }
        if let Some(db) = &self.database {
            if let Some(c) = &db.connections {
                out.push(format!(
                    "database {}: {} of {} usable connections in use ({:.0} %), {} idle in transaction",
                    db.name,
                    c.total,
                    c.usable,
                    c.utilization * 100.0,
                    c.by_state.idle_in_transaction
                ));
            }
            out.push(format!(
                "database {}: {} active queries, {} blocked sessions",
                db.name,
                db.active_queries.len(),
                db.blocked_sessions
            ));
        }
        if let Some(r) = &self.requests {
            out.push(format!(
                "requests: {} with {} errors ({}) over {}",
                r.requests,
                r.errors,
                r.error_rate_percent()
                    .map_or_else(|| "no rate".into(), |p| format!("{p:.1} %")),
                humantime(r.window.length())
            ));
        }
        if let Some(f) = &self.failures {
            out.extend(f.lines());
        }
        for g in &self.gaps {
            out.push(format!("not read: {g}"));
        }
        out
    }

    /// The bundle for a person.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Evidence for {} at {}\n", self.incident, self.at);
        let _ = writeln!(md, "Namespace `{}`.\n\n## Summary\n", self.namespace);
        for line in self.summary() {
            let _ = writeln!(md, "- {line}");
        }
        let _ = writeln!(
            md,
            "\n## Pods\n\n| Pod | Ready | Status | Restarts |\n|---|---|---|---|"
        );
        for p in &self.pods {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                p.name,
                p.ready_column(),
                p.status,
                p.restarts
            );
        }
        let _ = writeln!(md, "\n## Rollout history\n");
        for d in &self.deployments {
            for r in &d.history {
                let _ = writeln!(
                    md,
                    "- {} revision {}{}: {} ({})",
                    d.name,
                    r.revision,
                    if r.current { " (live)" } else { "" },
                    r.images.join(", "),
                    r.change_cause.as_deref().unwrap_or("no change cause")
                );
            }
        }
        let _ = writeln!(md, "\n## Last log lines\n\n```");
        for l in &self.logs {
            let _ = writeln!(md, "{} {}", l.pod, l.line);
        }
        let _ = writeln!(md, "```\n\n## Events\n");
        for e in &self.events {
            let _ = writeln!(
                md,
                "- {} {} {}/{}: {}",
                e.type_, e.reason, e.object_kind, e.object_name, e.message
            );
        }
        if let Some(f) = &self.failures {
            let _ = writeln!(
                md,
                "\n## Application Insights failures ({} to {})\n",
                f.window.start, f.window.end
            );
            for line in f.lines() {
                let _ = writeln!(md, "- {line}");
            }
        }
        if let Some(db) = &self.database {
            let _ = writeln!(md, "\n## Active queries on {}\n", db.name);
            for s in &db.active_queries {
                let _ = writeln!(
                    md,
                    "- pid {} {} ({}): `{}`",
                    s.pid,
                    s.user.as_deref().unwrap_or("?"),
                    s.application.as_deref().unwrap_or("?"),
                    s.query.as_deref().unwrap_or("")
                );
            }
        }
        md
    }

    /// The bundle for a program.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Writes the bundle into `dir` (next to the incident's record, say) as
    /// `INCIDENT-evidence.md` ([`EvidenceBundle::to_markdown`]) and `INCIDENT-evidence.json`
    /// ([`EvidenceBundle::to_json`], pretty-printed), where `INCIDENT` is
    /// [`EvidenceBundle::incident`]. Returns the two paths.
    ///
    /// # Errors
    /// [`Error::Source`] (service `evidence files`) naming the file that cannot be written.
    pub fn write_to(&self, dir: &Path) -> Result<[PathBuf; 2]> {
        let markdown = dir.join(format!("{}-evidence.md", self.incident));
        let json = dir.join(format!("{}-evidence.json", self.incident));
        let mut document = serde_json::to_vec_pretty(&self.to_json()).unwrap_or_default();
        document.push(b'\n');
        for (path, bytes) in [
            (&markdown, self.to_markdown().into_bytes()),
            (&json, document),
        ] {
            std::fs::write(path, bytes).map_err(|e| Error::Source {
                service: "evidence files",
                transient: false,
                source: Box::new(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", path.display()),
                )),
            })?;
        }
        Ok([markdown, json])
    }
}

fn humantime(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// Replaces what looks like a credential with `<redacted>`: passwords and tokens in
/// `key=value` or `key: value` form, the password of a URL's user info, bearer and basic
/// authorization values, and private key blocks.
pub fn redact_secrets(text: &str) -> String {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            (
                r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)\s*[=:]\s*)(?:'[^']*'|\x22[^\x22]*\x22|[^\s&;,]+)",
                "${1}<redacted>",
            ),
            (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", "$1 <redacted>"),
            (r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+):[^@/\s]+@", "$1:<redacted>@"),
            (
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
                "<redacted private key>",
            ),
        ]
        .into_iter()
        .filter_map(|(p, r)| Regex::new(p).ok().map(|re| (re, r)))
        .collect()
    });
    let mut out = text.to_owned();
    for (re, with) in patterns {
        out = re.replace_all(&out, *with).into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_secrets;

    #[test]
    fn credentials_are_redacted() {
        let line = "ERROR connect postgres://app:hunter2@db:5432/fleet failed; password=s3cr3t token: abc.def Authorization: Bearer eyJhbGciOiJIUzI1NiJ9";
        let r = redact_secrets(line);
        for secret in ["hunter2", "s3cr3t", "abc.def", "eyJhbGciOiJIUzI1NiJ9"] {
            assert!(!r.contains(secret), "{secret} left in {r}");
        }
        assert!(r.contains("postgres://app:<redacted>@db:5432/fleet"));
        assert_eq!(
            redact_secrets("INFO started on :8080"),
            "INFO started on :8080"
        );
    }
}
