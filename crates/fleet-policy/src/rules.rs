//! The catalogue of rule ids: what each checks and which runbook section it implements.
//!
//! Rule ids are stable: renaming one is a breaking change for waivers and dashboards.

use crate::finding::Section;

/// One rule of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, `family.rule`.
    pub id: &'static str,
    /// The runbook section it implements.
    pub section: Section,
    /// What it checks, in one line.
    pub summary: &'static str,
}

const fn r(id: &'static str, section: Section, summary: &'static str) -> Rule {
    Rule {
        id,
        section,
        summary,
    }
}

use Section as S;

/// Every rule the crate can report.
pub const RULES: &[Rule] = &[
    r(
        "metrics.response-time",
        S::MonitoringAlerts,
        "p95 response time band: normal < 500 ms, warning 500..=1000 ms, critical > 1000 ms",
    ),
    r(
        "metrics.error-rate",
        S::MonitoringAlerts,
        "error rate band: normal < 0.1 %, warning 0.1..=1 %, critical > 1 %",
    ),
    r(
        "metrics.cpu-usage",
        S::MonitoringAlerts,
        "CPU usage band: normal < 70 %, warning 70..=85 %, critical > 85 %",
    ),
    r(
        "metrics.memory-usage",
        S::MonitoringAlerts,
        "memory usage band: normal < 80 %, warning 80..=90 %, critical > 90 %",
    ),
    r(
        "metrics.db-connections",
        S::MonitoringAlerts,
        "database connections band: normal < 50, warning 50..=80, critical > 80",
    ),
    r(
        "metrics.disk-usage",
        S::MonitoringAlerts,
        "disk usage band: normal < 70 %, warning 70..=85 %, critical > 85 %",
    ),
    r(
        "rollback.error-rate",
        S::RollbackProcedures,
        "roll back when the error rate is above 5 % (at least 100 requests)",
    ),
    r(
        "rollback.degradation",
        S::RollbackProcedures,
        "roll back when performance degraded by more than 50 % against a baseline",
    ),
    r(
        "rollback.smoke-tests",
        S::RollbackProcedures,
        "roll back when a critical path's smoke test fails",
    ),
    r(
        "rollback.crash-loop",
        S::RollbackProcedures,
        "roll back when the new release's pods crash-loop during rollout or bake",
    ),
    r(
        "rollback.data-corruption",
        S::RollbackProcedures,
        "roll back when data corruption is detected",
    ),
    r(
        "rollback.security-vulnerability",
        S::RollbackProcedures,
        "roll back when the release introduced a security vulnerability",
    ),
    r(
        "alert.error-rate",
        S::MonitoringAlerts,
        "alerting: error rate above the 1 % critical band",
    ),
    r(
        "alert.high-error-rate",
        S::MonitoringAlerts,
        "response to a high-error-rate alert",
    ),
    r(
        "alert.high-response-time",
        S::MonitoringAlerts,
        "response to a high-response-time alert",
    ),
    r(
        "alert.resource-exhaustion",
        S::MonitoringAlerts,
        "response to a resource-exhaustion alert",
    ),
    r(
        "alert.connection-pool-exhausted",
        S::CommonIssues,
        "response to \"too many connections\"",
    ),
    r(
        "alert.pods-crash-looping",
        S::CommonIssues,
        "response to pods crash looping",
    ),
    r(
        "incident.severity",
        S::IncidentResponse,
        "severity from impact signals; the most severe wins",
    ),
    r(
        "incident.acknowledge",
        S::IncidentResponse,
        "P0/P1: acknowledged within 5 minutes",
    ),
    r(
        "incident.assess",
        S::IncidentResponse,
        "P0/P1: assessed within 15 minutes",
    ),
    r(
        "incident.mitigate",
        S::IncidentResponse,
        "P0/P1: mitigated within 30 minutes",
    ),
    r(
        "incident.status-update",
        S::IncidentResponse,
        "P0/P1: a status update at least every 30 minutes while open",
    ),
    r(
        "incident.monitor",
        S::IncidentResponse,
        "P0/P1: monitored for 1 hour after the fix",
    ),
    r(
        "incident.post-mortem",
        S::IncidentResponse,
        "P0/P1: post-mortem within 48 hours of resolution",
    ),
    r(
        "incident.respond",
        S::IncidentResponse,
        "P2/P3: responded within 4 hours / 24 hours",
    ),
    r(
        "incident.escalation",
        S::EmergencyContacts,
        "the escalation level and role due now",
    ),
    r(
        "deploy.preflight",
        S::DeploymentProcedures,
        "pre-flight checks ran and passed; never skipped",
    ),
    r(
        "deploy.window",
        S::DeploymentProcedures,
        "standard deploys inside the weekly Thursday 22:00 New York window",
    ),
    r(
        "deploy.freeze",
        S::DeploymentProcedures,
        "no standard deploy during a freeze; hotfixes warned",
    ),
    r(
        "deploy.backup-overlap",
        S::DeploymentProcedures,
        "the deploy window overlaps the daily backup",
    ),
    r(
        "deploy.hotfix-approval",
        S::DeploymentProcedures,
        "a hotfix is approved by the technical lead before it deploys",
    ),
    r(
        "deploy.hotfix-branch",
        S::DeploymentProcedures,
        "a hotfix branch is cut from main",
    ),
    r(
        "deploy.business-hours",
        S::DeploymentProcedures,
        "hotfixes during business hours if possible",
    ),
    r(
        "preflight.rollout",
        S::DeploymentProcedures,
        "pre-flight: the running release's rollout is complete",
    ),
    r(
        "preflight.crash-loop",
        S::DeploymentProcedures,
        "pre-flight: no pod of the service is crash-looping",
    ),
    r(
        "preflight.rbac",
        S::DeploymentProcedures,
        "pre-flight: the deployer may do every write the deploy needs",
    ),
    r(
        "scaling.cpu",
        S::ScalingGuidelines,
        "CPU above 70 % sustained: scale out",
    ),
    r(
        "scaling.memory",
        S::ScalingGuidelines,
        "memory above 80 % sustained: scale out",
    ),
    r(
        "scaling.queue",
        S::ScalingGuidelines,
        "request queue growing: scale out",
    ),
    r(
        "scaling.latency",
        S::ScalingGuidelines,
        "p95 response time above 2 s sustained: scale out",
    ),
    r(
        "scaling.replicas",
        S::ScalingGuidelines,
        "recommended replicas by the HPA rule within 3..=10",
    ),
    r(
        "scaling.vertical",
        S::ScalingGuidelines,
        "after an OOMKilled restart: requests 512Mi/500m, limits 1Gi/1000m",
    ),
    r(
        "backup.rpo",
        S::BackupRecovery,
        "newest successful backup at most 24 hours old",
    ),
    r(
        "backup.schedule",
        S::BackupRecovery,
        "a successful scheduled backup for each of the last 7 days (02:00 UTC)",
    ),
    r(
        "backup.retention",
        S::BackupRecovery,
        "backups older than the 7-day retention",
    ),
    r(
        "backup.restore-target",
        S::BackupRecovery,
        "a point-in-time restore target inside retention and not in the future",
    ),
    r(
        "recovery.rto",
        S::BackupRecovery,
        "a recovery finishes within 4 hours",
    ),
    r(
        "review.due",
        S::Review,
        "the runbook is reviewed every 3 months",
    ),
    r(
        "review.next-date",
        S::Review,
        "the runbook's stated next review is no later than the policy allows",
    ),
    r(
        "waiver.expired",
        S::Policy,
        "an expired waiver no longer applies",
    ),
    r(
        "waiver.horizon",
        S::Policy,
        "a waiver reaching past the maximum horizon is not applied",
    ),
    r("waiver.expiring", S::Policy, "a waiver expires soon"),
    r("waiver.unused", S::Policy, "a waiver matched nothing"),
    r(
        "config.zone-abbreviation",
        S::Policy,
        "a zone named by abbreviation (EST) hides daylight saving",
    ),
];

/// The catalogue entry for `id`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
