//! "Alert Response": the ordered actions the runbook prescribes for each alert.
//!
//! For a high error rate, "consider rollback" is part of the response only when a deploy
//! happened within `alerts.recent_deploy_window` (4 h by default; the runbook says only
//! "recent").
//!
//! ```
//! use fleet_policy::alerts::{response, AlertKind};
//! use fleet_policy::Policy;
//! use jiff::Timestamp;
//!
//! let now: Timestamp = "2026-05-01T12:00:00Z".parse()?;
//! let deployed: Timestamp = "2026-05-01T11:00:00Z".parse()?;
//! let steps = response(&Policy::default(), AlertKind::HighErrorRate, Some(deployed), now);
//! assert!(steps.last().unwrap().contains("roll back"));
//! # Ok::<(), jiff::Error>(())
//! ```

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Policy;
use crate::config::fmt_duration;
use crate::finding::{Finding, Outcome, Section};

/// The alert kinds of the runbook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// High error rate.
    HighErrorRate,
    /// High response time.
    HighResponseTime,
    /// CPU, memory or disk exhaustion.
    ResourceExhaustion,
    /// "Too many connections" from the database.
    ConnectionPoolExhausted,
    /// Pods restarting repeatedly.
    PodsCrashLooping,
}

impl AlertKind {
    /// Stable rule id.
    pub fn rule_id(self) -> &'static str {
        match self {
            AlertKind::HighErrorRate => "alert.high-error-rate",
            AlertKind::HighResponseTime => "alert.high-response-time",
            AlertKind::ResourceExhaustion => "alert.resource-exhaustion",
            AlertKind::ConnectionPoolExhausted => "alert.connection-pool-exhausted",
            AlertKind::PodsCrashLooping => "alert.pods-crash-looping",
        }
    }

    fn section(self) -> Section {
        match self {
            AlertKind::ConnectionPoolExhausted | AlertKind::PodsCrashLooping => {
                Section::CommonIssues
            }
            _ => Section::MonitoringAlerts,
        }
    }
}

/// An alert that fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Which alert.
    pub kind: AlertKind,
    /// What it fired for (`fleet-api`).
    #[serde(default)]
    pub subject: String,
    /// When the subject was last deployed, if known.
    #[serde(default)]
    pub last_deploy_at: Option<Timestamp>,
}

/// The ordered actions for an alert at `now`.
pub fn response(
    policy: &Policy,
    kind: AlertKind,
    last_deploy_at: Option<Timestamp>,
    now: Timestamp,
) -> Vec<String> {
    let recent = last_deploy_at
        .is_some_and(|t| t <= now && now.duration_since(t) <= policy.alerts.recent_deploy_window);
    let steps: &[&str] = match kind {
        AlertKind::HighErrorRate => &["check logs for error patterns", "check recent deployments"],
        AlertKind::HighResponseTime => &[
            "check database performance",
            "check external API dependencies",
            "scale up if needed",
        ],
        AlertKind::ResourceExhaustion => &[
            "scale up immediately",
            "investigate memory leaks",
            "clear unnecessary caches",
        ],
        AlertKind::ConnectionPoolExhausted => &[
            "count connections (pg_stat_activity)",
            "fix connection leaks (idle in transaction)",
            "use connection pooling",
            "increase max_connections or scale the database",
        ],
        AlertKind::PodsCrashLooping => &[
            "describe the pod and read the previous container's logs",
            "check environment variables and that referenced secrets exist",
            "check database connectivity",
            "review recent code changes",
        ],
    };
    let mut out: Vec<String> = steps.iter().map(|s| (*s).to_owned()).collect();
    if let Some(t) = last_deploy_at.filter(|_| recent && kind == AlertKind::HighErrorRate) {
        out.push(format!(
            "a deploy at {t} is within the last {}: consider roll back",
            fmt_duration(policy.alerts.recent_deploy_window)
        ));
    }
    out
}

/// A finding for a fired alert: Warn, with the actions to take in order.
pub fn evaluate(policy: &Policy, alert: &Alert, now: Timestamp) -> Finding {
    let actions = response(policy, alert.kind, alert.last_deploy_at, now);
    let subject = if alert.subject.is_empty() {
        "service"
    } else {
        &alert.subject
    };
    let deploy_note = match (alert.kind, alert.last_deploy_at) {
        (AlertKind::HighErrorRate, None) => " (last deploy time unknown: check rollout history)",
        _ => "",
    };
    Finding::new(
        alert.kind.rule_id(),
        subject,
        Outcome::Warn,
        alert.kind.section(),
        format!(
            "{} alert: {} step(s) to take{deploy_note}",
            alert.kind.rule_id().trim_start_matches("alert."),
            actions.len()
        ),
    )
    .actions(actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    #[test]
    fn rollback_only_after_a_recent_deploy() {
        let p = Policy::default();
        let now = ts("2026-05-01T12:00:00Z");
        let with = |t: &str| response(&p, AlertKind::HighErrorRate, Some(ts(t)), now);
        assert_eq!(
            with("2026-05-01T08:00:00Z").len(),
            3,
            "exactly 4 h ago counts"
        );
        assert_eq!(with("2026-05-01T07:59:59Z").len(), 2);
        assert_eq!(
            with("2026-05-01T12:00:01Z").len(),
            2,
            "a deploy in the future is not recent"
        );
        assert_eq!(response(&p, AlertKind::HighErrorRate, None, now).len(), 2);
        assert_eq!(
            response(&p, AlertKind::ResourceExhaustion, None, now)[0],
            "scale up immediately"
        );
    }

    #[test]
    fn every_alert_gives_the_runbooks_steps_in_order() {
        let p = Policy::default();
        let now = ts("2026-05-01T12:00:00Z");
        let cases = [
            (
                AlertKind::HighResponseTime,
                "check database performance",
                "scale up if needed",
            ),
            (
                AlertKind::ResourceExhaustion,
                "scale up immediately",
                "clear unnecessary caches",
            ),
            (
                AlertKind::ConnectionPoolExhausted,
                "count connections (pg_stat_activity)",
                "increase max_connections or scale the database",
            ),
            (
                AlertKind::PodsCrashLooping,
                "describe the pod and read the previous container's logs",
                "review recent code changes",
            ),
        ];
        for (kind, first, last) in cases {
            let alert = Alert {
                kind,
                subject: "fleet-api".into(),
                last_deploy_at: None,
            };
            let f = evaluate(&p, &alert, now);
            assert_eq!(
                (f.rule.as_str(), f.outcome),
                (kind.rule_id(), Outcome::Warn)
            );
            assert_eq!(f.actions.first().map(String::as_str), Some(first));
            assert_eq!(f.actions.last().map(String::as_str), Some(last));
            assert!(
                crate::rules::rule(&f.rule).is_some(),
                "{} is catalogued",
                f.rule
            );
        }
    }
}
