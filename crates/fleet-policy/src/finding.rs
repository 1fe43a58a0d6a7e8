//! Findings: the one shape every rule returns.
//!
//! A [`Finding`] says which rule looked at which subject, what it concluded ([`Outcome`]), and
//! why: the measured value with its unit, the operator and threshold it was compared with, any
//! baseline and computed ratio, a deadline where the rule is about time, the runbook section
//! the rule comes from, and the actions the runbook prescribes next.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a check concluded.
///
/// The variants are ordered from best to worst: `Pass < Warn < Inconclusive < Error < Fail`,
/// so aggregation is simply the maximum ([`Outcome::worst`]). Missing or insufficient data is
/// `Inconclusive`, a failed data source is `Error`; neither ever counts as a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The rule holds.
    Pass,
    /// The rule holds, but something deserves attention.
    Warn,
    /// There was not enough data to decide.
    Inconclusive,
    /// The data needed to decide was invalid or its source failed.
    Error,
    /// The rule is broken: the runbook says act (roll back, stop the deploy, escalate...).
    Fail,
}

impl Outcome {
    /// All outcomes, best first.
    pub const ALL: [Outcome; 5] = [
        Outcome::Pass,
        Outcome::Warn,
        Outcome::Inconclusive,
        Outcome::Error,
        Outcome::Fail,
    ];

    /// The worst of a set of outcomes; `Pass` for an empty set.
    pub fn worst(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
        outcomes.into_iter().max().unwrap_or(Outcome::Pass)
    }

    /// Lower-case name, as used in JSON and text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Error => "error",
            Outcome::Fail => "fail",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit of a measured or configured value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    /// Milliseconds.
    #[serde(rename = "ms")]
    Milliseconds,
    /// Seconds.
    #[serde(rename = "s")]
    Seconds,
    /// Minutes.
    #[serde(rename = "min")]
    Minutes,
    /// Hours.
    #[serde(rename = "h")]
    Hours,
    /// Days.
    #[serde(rename = "d")]
    Days,
    /// Percent (0 to 100, though some metrics may exceed 100).
    #[serde(rename = "%")]
    Percent,
    /// A plain count (connections, requests, backups, failed tests...).
    #[serde(rename = "count")]
    Count,
    /// Pod replicas.
    #[serde(rename = "replicas")]
    Replicas,
    /// A dimensionless ratio (0.5 means 50 %).
    #[serde(rename = "ratio")]
    Ratio,
    /// Queue items per minute (the slope of a queue's depth).
    #[serde(rename = "items/min")]
    ItemsPerMinute,
    /// Requests per second.
    #[serde(rename = "req/s")]
    RequestsPerSecond,
    /// Bytes.
    #[serde(rename = "bytes")]
    Bytes,
}

impl Unit {
    /// The symbol used in messages.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
            Unit::Minutes => "min",
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::Percent => "%",
            Unit::Count => "",
            Unit::Replicas => "replicas",
            Unit::Ratio => "",
            Unit::ItemsPerMinute => "items/min",
            Unit::RequestsPerSecond => "req/s",
            Unit::Bytes => "bytes",
        }
    }
}

/// A number with its unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The number.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
}

impl Quantity {
    /// A quantity of `value` in `unit`.
    pub const fn new(value: f64, unit: Unit) -> Quantity {
        Quantity { value, unit }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_number(f, self.value)?;
        match self.unit.symbol() {
            "" => Ok(()),
            "%" => f.write_str(" %"),
            sym => write!(f, " {sym}"),
        }
    }
}

/// Writes a number without trailing zeros: `5`, `0.1`, `1000.1`, `6.25`.
fn write_number(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        write!(f, "{v:.0}")
    } else {
        let s = format!("{v:.3}");
        f.write_str(s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// How a measured value was compared with its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operator {
    /// Strictly less than.
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Le,
    /// Strictly greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Ge,
    /// Equal.
    #[serde(rename = "==")]
    Eq,
}

impl Operator {
    /// Whether `value <op> threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::Lt => value < threshold,
            Operator::Le => value <= threshold,
            Operator::Gt => value > threshold,
            Operator::Ge => value >= threshold,
            Operator::Eq => value == threshold,
        }
    }

    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Eq => "==",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// The runbook section a rule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// "Emergency Contacts" (the escalation chain).
    EmergencyContacts,
    /// "Deployment Procedures".
    DeploymentProcedures,
    /// "Rollback Procedures".
    RollbackProcedures,
    /// "Incident Response".
    IncidentResponse,
    /// "Scaling Guidelines".
    ScalingGuidelines,
    /// "Backup & Recovery".
    BackupRecovery,
    /// "Security Incident Response".
    SecurityIncidentResponse,
    /// "Performance Degradation Response".
    PerformanceDegradationResponse,
    /// "Monitoring & Alerts".
    MonitoringAlerts,
    /// "Common Issues & Solutions".
    CommonIssues,
    /// The review dates at the end of the runbook.
    Review,
    /// Not a runbook section: the policy's own configuration and waivers.
    Policy,
}

impl Section {
    /// The section's heading in the runbook.
    pub fn title(self) -> &'static str {
        match self {
            Section::EmergencyContacts => "Emergency Contacts",
            Section::DeploymentProcedures => "Deployment Procedures",
            Section::RollbackProcedures => "Rollback Procedures",
            Section::IncidentResponse => "Incident Response",
            Section::ScalingGuidelines => "Scaling Guidelines",
            Section::BackupRecovery => "Backup & Recovery",
            Section::SecurityIncidentResponse => "Security Incident Response",
            Section::PerformanceDegradationResponse => "Performance Degradation Response",
            Section::MonitoringAlerts => "Monitoring & Alerts",
            Section::CommonIssues => "Common Issues & Solutions",
            Section::Review => "Last Review Date / Next Review Date",
            Section::Policy => "fleet-policy configuration",
        }
    }

    /// The Markdown anchor of the section's heading in the runbook document.
    pub fn anchor(self) -> &'static str {
        match self {
            Section::EmergencyContacts => "emergency-contacts",
            Section::DeploymentProcedures => "deployment-procedures",
            Section::RollbackProcedures => "rollback-procedures",
            Section::IncidentResponse => "incident-response",
            Section::ScalingGuidelines => "scaling-guidelines",
            Section::BackupRecovery => "backup--recovery",
            Section::SecurityIncidentResponse => "security-incident-response",
            Section::PerformanceDegradationResponse => "performance-degradation-response",
            Section::MonitoringAlerts => "monitoring--alerts",
            Section::CommonIssues => "common-issues--solutions",
            Section::Review => "version-history",
            Section::Policy => "",
        }
    }
}

/// A waiver that was applied to a finding (see [`crate::waiver`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedWaiver {
    /// Why the finding is accepted.
    pub reason: String,
    /// Who owns the waiver.
    pub owner: String,
    /// When it stops applying.
    pub expires_at: Timestamp,
}

/// One rule's conclusion about one subject, with everything needed to explain it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// Stable rule identifier, `family.rule` (e.g. `rollback.error-rate`).
    pub rule: String,
    /// What was evaluated (a service and version, a metric, an incident id, a backup server).
    pub subject: String,
    /// The rule's conclusion, before any waiver.
    pub outcome: Outcome,
    /// One sentence a person can act on.
    pub message: String,
    /// The runbook section the rule implements.
    pub section: Section,
    /// The measured value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Quantity>,
    /// The rule's trigger condition, `observed <operator> threshold` (a ratio's threshold when
    /// `ratio` is set; for a metric band, the bound of the band it is in, or of the Warning
    /// band when it is Normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
    /// The threshold from the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Quantity>,
    /// The baseline the value was compared against, for relative rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Quantity>,
    /// The computed ratio (relative change), for relative rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// The deadline, for rules about time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// What the runbook prescribes next, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The waiver that accepts this finding, if one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<AppliedWaiver>,
}

impl Finding {
    /// A finding with the required fields; add evidence with the builder methods.
    pub fn new(
        rule: impl Into<String>,
        subject: impl Into<String>,
        outcome: Outcome,
        section: Section,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: rule.into(),
            subject: subject.into(),
            outcome,
            message: message.into(),
            section,
            observed: None,
            operator: None,
            threshold: None,
            baseline: None,
            ratio: None,
            deadline: None,
            actions: Vec::new(),
            waiver: None,
        }
    }

    /// Records the measured value.
    #[must_use]
    pub fn observed(mut self, q: Quantity) -> Finding {
        self.observed = Some(q);
        self
    }

    /// Records the comparison that triggers the rule (`observed <op> threshold`).
    #[must_use]
    pub fn compared(mut self, op: Operator, threshold: Quantity) -> Finding {
        self.operator = Some(op);
        self.threshold = Some(threshold);
        self
    }

    /// Records the baseline and the computed ratio.
    #[must_use]
    pub fn baseline(mut self, baseline: Quantity, ratio: Option<f64>) -> Finding {
        self.baseline = Some(baseline);
        self.ratio = ratio;
        self
    }

    /// Records the deadline.
    #[must_use]
    pub fn deadline(mut self, at: Timestamp) -> Finding {
        self.deadline = Some(at);
        self
    }

    /// Appends prescribed actions.
    #[must_use]
    pub fn actions<I, S>(mut self, actions: I) -> Finding
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.actions.extend(actions.into_iter().map(Into::into));
        self
    }

    /// The outcome that gates: `Pass` when a waiver accepts the finding, else the outcome.
    pub fn effective_outcome(&self) -> Outcome {
        if self.waiver.is_some() {
            Outcome::Pass
        } else {
            self.outcome
        }
    }

    /// The rule family: the part of the rule id before the first dot.
    pub fn family(&self) -> &str {
        self.rule.split('.').next().unwrap_or(&self.rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_order_is_the_documented_one() {
        let mut v = Outcome::ALL.to_vec();
        v.reverse();
        v.sort();
        assert_eq!(v, Outcome::ALL.to_vec());
        assert_eq!(
            Outcome::worst([Outcome::Warn, Outcome::Error, Outcome::Inconclusive]),
            Outcome::Error
        );
        assert_eq!(Outcome::worst([]), Outcome::Pass);
    }

    #[test]
    fn quantities_print_without_noise() {
        assert_eq!(Quantity::new(5.0, Unit::Percent).to_string(), "5 %");
        assert_eq!(
            Quantity::new(1000.1, Unit::Milliseconds).to_string(),
            "1000.1 ms"
        );
        assert_eq!(Quantity::new(0.125, Unit::Ratio).to_string(), "0.125");
        assert_eq!(Quantity::new(81.0, Unit::Count).to_string(), "81");
    }

    #[test]
    fn waiver_makes_the_effective_outcome_pass() {
        let mut f = Finding::new("a.b", "s", Outcome::Fail, Section::Policy, "m");
        assert_eq!(f.effective_outcome(), Outcome::Fail);
        f.waiver = Some(AppliedWaiver {
            reason: "r".into(),
            owner: "o".into(),
            expires_at: Timestamp::UNIX_EPOCH,
        });
        assert_eq!(f.effective_outcome(), Outcome::Pass);
        assert_eq!(f.family(), "a");
    }
}
