//! The CI gate: one input document, every applicable rule, one [`Report`], one exit code.
//!
//! The input is JSON with any of these parts (at least one):
//!
//! | key | type | rules |
//! |---|---|---|
//! | `deploy` | [`DeployRequest`] | `deploy.*` |
//! | `metrics` | [`MetricsSnapshot`] | `metrics.*` |
//! | `rollback` | [`RollbackInput`] | `rollback.*`, `alert.error-rate` |
//! | `backups` | [`BackupInventory`] | `backup.*`, `recovery.rto` |
//! | `incident` | [`Incident`] | `incident.*` |
//! | `scaling` | [`ScalingInput`] | `scaling.*` |
//! | `alerts` | list of [`Alert`] | `alert.*` |
//! | `review` | [`ReviewDates`] | `review.*` |
//!
//! plus an optional `now` (RFC 3339) that pins the evaluation time, so that a recorded input
//! gives the same answer tomorrow. Unknown keys are rejected; a malformed document is an
//! [`Error::Input`] naming the field path, line and column.
//!
//! Exit codes are stable: `0` pass, `1` fail (a blocking finding), `2` usage or input error
//! (reserved for the binary: no report is produced then). Which outcomes block is set by
//! [`GatePolicy`](crate::config::GatePolicy): Fail always blocks; Error and Inconclusive block
//! by default; Warn only when configured. Waived findings never block.
//!
//! ```
//! use fleet_policy::gate::{evaluate, parse_input};
//! use fleet_policy::Policy;
//!
//! let input = parse_input(br#"{
//!     "now": "2026-07-16T12:00:00Z",
//!     "metrics": { "subject": "fleet-api", "response_time_ms": 420, "error_rate_percent": 0.05,
//!                  "cpu_percent": 55, "memory_percent": 61, "db_connections": 42, "disk_percent": 40 }
//! }"#)?;
//! let report = evaluate(&Policy::default(), &input, input.now.unwrap());
//! assert_eq!(report.exit_code, 0);
//! # Ok::<(), fleet_policy::Error>(())
//! ```

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alerts::Alert;
use crate::backup::BackupInventory;
use crate::deploy::DeployRequest;
use crate::finding::{Finding, Outcome};
use crate::incident::Incident;
use crate::metrics::MetricsSnapshot;
use crate::review::ReviewDates;
use crate::rollback::RollbackInput;
use crate::scaling::ScalingInput;
use crate::{
    Error, Policy, alerts, backup, deploy, incident, metrics, review, rollback, scaling, waiver,
};

/// The version of the JSON report schema (`docs/ci-gates.md` describes it).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Exit code: nothing blocks.
pub const EXIT_PASS: u8 = 0;
/// Exit code: a blocking finding.
pub const EXIT_FAIL: u8 = 1;
/// Exit code: bad usage, unreadable or malformed input or policy.
pub const EXIT_USAGE: u8 = 2;

/// A gate input document. Every part is optional; see the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateInput {
    /// Evaluation time; the caller's clock when absent.
    #[serde(default)]
    pub now: Option<Timestamp>,
    /// A deploy request.
    #[serde(default)]
    pub deploy: Option<DeployRequest>,
    /// A metrics snapshot.
    #[serde(default)]
    pub metrics: Option<MetricsSnapshot>,
    /// Post-deploy signals for the rollback decision.
    #[serde(default)]
    pub rollback: Option<RollbackInput>,
    /// A backup inventory.
    #[serde(default)]
    pub backups: Option<BackupInventory>,
    /// An incident.
    #[serde(default)]
    pub incident: Option<Incident>,
    /// Scaling signals.
    #[serde(default)]
    pub scaling: Option<ScalingInput>,
    /// Alerts that fired.
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// The runbook's review dates.
    #[serde(default)]
    pub review: Option<ReviewDates>,
}

impl GateInput {
    fn is_empty(&self) -> bool {
        self.deploy.is_none()
            && self.metrics.is_none()
            && self.rollback.is_none()
            && self.backups.is_none()
            && self.incident.is_none()
            && self.scaling.is_none()
            && self.alerts.is_empty()
            && self.review.is_none()
    }
}

/// Parses a gate input document.
///
/// # Errors
/// [`Error::Input`] with the JSON path of the offending field and its line and column, for
/// invalid UTF-8, malformed JSON, unknown keys, wrong types and values, or an empty document.
/// A number that is not a finite 64-bit float (`NaN`, `Infinity`, `1e999`) is reported as
/// "must be a finite number" with the offending text.
pub fn parse_input(bytes: &[u8]) -> Result<GateInput, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let input: GateInput = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let raw = strip_position(&inner.to_string());
        Error::Input {
            path: if path == "." {
                "(document)".into()
            } else {
                path
            },
            message: explain_number(&raw, bytes, inner.line(), inner.column()).unwrap_or(raw),
            line: inner.line(),
            column: inner.column(),
        }
    })?;
    de.end().map_err(|e| Error::Input {
        path: "(document)".into(),
        message: strip_position(&e.to_string()),
        line: e.line(),
        column: e.column(),
    })?;
    if input.is_empty() {
        return Err(Error::Input {
            path: "(document)".into(),
            message: "nothing to evaluate: give at least one of deploy, metrics, rollback, backups, incident, scaling, alerts, review".into(),
            line: 1,
            column: 1,
        });
    }
    Ok(input)
}

/// A clearer message for a number JSON cannot carry as a finite 64-bit float: `NaN` and
/// `Infinity` (not JSON at all), a literal beyond the float range (`1e999`), or a string where
/// a number belongs. `None` when the error is about something else.
fn explain_number(raw: &str, bytes: &[u8], line: usize, column: usize) -> Option<String> {
    if raw.contains("expected f64") {
        return Some(format!(
            "must be a finite number, not {raw}",
            raw = raw
                .trim_start_matches("invalid type: ")
                .replace(", expected f64", "")
        ));
    }
    if !["number out of range", "expected value", "invalid number"].contains(&raw) {
        return None;
    }
    let token = token_at(bytes, line, column)?;
    let t = token.trim_start_matches(['-', '+']).to_ascii_lowercase();
    let why = if raw == "number out of range" {
        "beyond the range of a 64-bit float"
    } else if ["nan", "infinity", "inf"].contains(&t.as_str()) {
        "JSON has no such number"
    } else {
        return None;
    };
    Some(format!("must be a finite number, got `{token}` ({why})"))
}

/// The bare word or number (letters, digits, `.`, `+`, `-`) around 1-based `line` and
/// `column` of `bytes`, as serde_json reports a position inside or just after it.
fn token_at(bytes: &[u8], line: usize, column: usize) -> Option<String> {
    let start_of_line = if line <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1)?
    };
    let at = start_of_line.checked_add(column.checked_sub(1)?)?;
    let word = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-');
    if !bytes.get(at).is_some_and(word) {
        return None;
    }
    let from = bytes[..at]
        .iter()
        .rposition(|b| !word(b))
        .map_or(0, |i| i + 1);
    let to = bytes[at..]
        .iter()
        .position(|b| !word(b))
        .map_or(bytes.len(), |i| at + i);
    let token = std::str::from_utf8(&bytes[from..to]).ok()?;
    // Cap what is echoed back: the token comes from the input.
    Some(token.chars().take(40).collect())
}

/// serde_json appends " at line L column C"; the error carries those separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Counts of findings by outcome; waived findings are counted apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Findings that passed.
    pub pass: usize,
    /// Warnings.
    pub warn: usize,
    /// Inconclusive findings.
    pub inconclusive: usize,
    /// Errors.
    pub error: usize,
    /// Failures.
    pub fail: usize,
    /// Non-passing findings accepted by a waiver (not counted above).
    pub waived: usize,
}

impl Summary {
    fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            if f.waiver.is_some() {
                s.waived += 1;
                continue;
            }
            match f.outcome {
                Outcome::Pass => s.pass += 1,
                Outcome::Warn => s.warn += 1,
                Outcome::Inconclusive => s.inconclusive += 1,
                Outcome::Error => s.error += 1,
                Outcome::Fail => s.fail += 1,
            }
        }
        s
    }
}

/// The result of a gate evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always `fleet-policy/report`.
    pub schema: String,
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The evaluation time.
    pub evaluated_at: Timestamp,
    /// The worst effective (after waivers) outcome.
    pub outcome: Outcome,
    /// Whether the gate blocks.
    pub blocked: bool,
    /// The outcomes that block under the policy's gate settings.
    pub blocking_outcomes: Vec<Outcome>,
    /// The exit code: [`EXIT_PASS`] or [`EXIT_FAIL`].
    pub exit_code: u8,
    /// Counts.
    pub summary: Summary,
    /// Every finding, in evaluation order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// A report over `findings` (waivers already applied), gated by `policy`.
    pub fn new(policy: &Policy, evaluated_at: Timestamp, findings: Vec<Finding>) -> Report {
        let outcome = Outcome::worst(findings.iter().map(Finding::effective_outcome));
        let blocked = findings
            .iter()
            .any(|f| policy.gate.blocks(f.effective_outcome()));
        Report {
            schema: "fleet-policy/report".into(),
            schema_version: REPORT_SCHEMA_VERSION,
            evaluated_at,
            outcome,
            blocked,
            blocking_outcomes: Outcome::ALL
                .into_iter()
                .filter(|&o| policy.gate.blocks(o))
                .collect(),
            exit_code: if blocked { EXIT_FAIL } else { EXIT_PASS },
            summary: Summary::of(&findings),
            findings,
        }
    }
}

impl Report {
    /// Whether a finding blocks this report's gate (waived findings never do).
    pub fn blocks(&self, f: &Finding) -> bool {
        self.blocking_outcomes.contains(&f.effective_outcome())
    }
}

/// Evaluates every part of `input` at `now`, applies the policy's waivers, and gates.
pub fn evaluate(policy: &Policy, input: &GateInput, now: Timestamp) -> Report {
    let mut findings = Vec::new();
    if let Some(d) = &input.deploy {
        findings.extend(deploy::evaluate(policy, d, now));
    }
    if let Some(m) = &input.metrics {
        findings.extend(metrics::check_snapshot(&policy.metrics, m));
    }
    if let Some(r) = &input.rollback {
        findings.extend(rollback::evaluate(policy, r));
    }
    if let Some(b) = &input.backups {
        findings.extend(backup::evaluate(policy, b, now));
    }
    if let Some(i) = &input.incident {
        findings.extend(incident::evaluate(policy, i, now));
    }
    if let Some(s) = &input.scaling {
        findings.extend(scaling::evaluate(policy, s, now));
    }
    findings.extend(
        input
            .alerts
            .iter()
            .map(|a| alerts::evaluate(policy, a, now)),
    );
    if let Some(r) = &input.review {
        findings.extend(review::evaluate(policy, r, now));
    }
    findings.extend(crate::lint(policy));
    waiver::apply(policy, &mut findings, now);
    Report::new(policy, now, findings)
}
