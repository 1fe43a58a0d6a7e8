//! The Fleet Management production runbook's rules as pure, explained decisions.
//!
//! Every rule of the runbook (metric bands, when to roll back, incident severity and
//! deadlines, deployment windows, scaling, backups and recovery, alert response, reviews) is a
//! function from plain data to [`Finding`]s: a stable rule id, an [`Outcome`], the measured
//! value with its unit, the operator and threshold, any baseline and ratio, a deadline, the
//! runbook section, and what to do next. "Policy says no" is a result, never an error.
//!
//! The crate is pure: no I/O, no async, no clock. `now` is always a parameter, and time zones
//! come from the time-zone database compiled into the binary, so an evaluation gives the same
//! answer on every machine. All numbers live in a [`Policy`] whose defaults are exactly the
//! runbook as the project reads it (`docs/decisions.md` in the repository), loadable from TOML.
//!
//! The [`gate`] module turns one JSON input document into a [`Report`] and a stable exit code,
//! and [`render`] prints it as text, JSON, JUnit XML, SARIF 2.1.0, GitHub Actions annotations,
//! Azure Pipelines logging commands or GitLab Code Quality, so the same rules run as a CI gate.
//!
//! # Example: should this release be rolled back?
//!
//! ```
//! use fleet_policy::rollback::{self, Degradation, Direction, RequestWindow, RollbackInput};
//! use fleet_policy::{Outcome, Policy, Unit};
//!
//! let policy = Policy::default();
//! let input = RollbackInput {
//!     subject: "fleet-api v1.2.3".into(),
//!     window: Some(RequestWindow { requests: 12_000, errors: 96 }), // 0.8 %
//!     degradation: vec![Degradation {
//!         metric: "p95_latency".into(),
//!         unit: Unit::Milliseconds,
//!         direction: Direction::HigherIsWorse,
//!         current: 640.0,
//!         baseline: Some(400.0), // +60 %
//!     }],
//!     ..RollbackInput::default()
//! };
//! let findings = rollback::evaluate(&policy, &input);
//! assert!(rollback::rollback_required(&findings));
//! let why = findings.iter().find(|f| f.outcome == Outcome::Fail).unwrap();
//! assert_eq!(why.rule, "rollback.degradation");
//! assert_eq!(why.ratio, Some(0.6));
//! ```
//!
//! # Example: a CI gate
//!
//! ```
//! use fleet_policy::render::{render, Format, RenderOptions};
//! use fleet_policy::{gate, Policy};
//!
//! let policy = Policy::from_toml_str("[gate]\nwarn_blocks = true\n")?;
//! let input = gate::parse_input(br#"{
//!     "now": "2026-07-15T14:00:00Z",
//!     "deploy": { "service": "fleet-api", "version": "v1.2.3", "kind": "standard",
//!                 "preflight": "passed" }
//! }"#)?;
//! let report = gate::evaluate(&policy, &input, input.now.unwrap());
//! assert_eq!(report.exit_code, 1); // Wednesday afternoon is outside Thursday's window
//! let text = render(&report, Format::Text, &RenderOptions::default());
//! assert!(text.contains("deploy.window"));
//! # Ok::<(), fleet_policy::Error>(())
//! ```
//!
//! # Readings of the runbook
//!
//! Where the runbook is loose, the crate follows the project's readings, written down in
//! `docs/decisions.md`; each reading is the default of a policy value and is pinned by tests:
//! - bands are half-open: Normal `< low`, Warning `low ..= high`, Critical `> high`;
//! - rollback at error rate `> 5 %` (not at 5 %), with at least 100 requests, else
//!   Inconclusive; degradation `> 50 %` relative to a baseline, direction-aware;
//! - "Thursday 10 PM EST" is 22:00 `America/New_York`, following daylight saving;
//! - "sustained" is every sample over the last 5 minutes, at least 3 samples;
//! - P0/P1 acknowledgement within 5 minutes is the deadline checked (stricter than P1's hour);
//! - reviews every 3 calendar months with the day clamped to the month's end;
//! - missing data is Inconclusive and never passes.

use jiff::tz::TimeZoneDatabase;
use jiff::{SignedDuration, Timestamp};

pub mod alerts;
pub mod backup;
pub mod config;
pub mod deploy;
mod finding;
pub mod gate;
pub mod incident;
pub mod metrics;
pub mod preflight;
pub mod render;
pub mod review;
pub mod rollback;
pub mod rules;
pub mod scaling;
pub mod waiver;

pub use config::Policy;
pub use finding::{AppliedWaiver, Finding, Operator, Outcome, Quantity, Section, Unit};
pub use gate::{GateInput, Report};

/// Why a policy file or a gate input could not be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The policy file has an unknown key or a bad value.
    #[error("policy file, line {line}, column {column}: {message}")]
    Config {
        /// What is wrong.
        message: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
    },
    /// The gate input is malformed.
    #[error("input at {path} (line {line}, column {column}): {message}")]
    Input {
        /// JSON path of the offending field (`deploy.preflight`, `backups.backups[2].status`).
        path: String,
        /// What is wrong.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

impl Error {
    /// Whether the policy file is at fault.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config { .. })
    }

    /// Whether the gate input is at fault.
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Input { .. })
    }
}

/// The time-zone database compiled into the binary (the same everywhere; no file reads).
pub(crate) fn tzdb() -> &'static TimeZoneDatabase {
    static DB: std::sync::OnceLock<TimeZoneDatabase> = std::sync::OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

/// `t + d`, saturating at the ends of time.
pub(crate) fn plus(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.saturating_add(d).unwrap_or(if d.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// Findings about the policy itself: zones named by abbreviation (`EST`), which hide whether
/// daylight saving applies (`config.zone-abbreviation`, Warn).
pub fn lint(policy: &Policy) -> Vec<Finding> {
    let zones = [
        ("deploy.zone", &policy.deploy.zone),
        (
            "deploy.business_hours.zone",
            &policy.deploy.business_hours.zone,
        ),
        ("review.zone", &policy.review.zone),
    ];
    zones
        .into_iter()
        .filter(|(_, z)| z.is_abbreviation())
        .map(|(key, z)| {
            Finding::new(
                "config.zone-abbreviation",
                key,
                Outcome::Warn,
                Section::Policy,
                format!(
                    "`{z}` is an abbreviation, not a place: name an IANA zone such as America/New_York (follows daylight saving) or an explicit offset such as -05:00"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_and_policy_types_are_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
        check::<Policy>();
        check::<Report>();
    }
}
