//! "When to Rollback": the rollback decision after a deploy.
//!
//! Each trigger is its own rule, and a rollback is required when any of them fails:
//!
//! | rule | fails when | guard |
//! |---|---|---|
//! | `rollback.error-rate` | error rate `> 5 %` over the window (5 % exactly does not) | fewer than `min_requests` (100) requests: Inconclusive |
//! | `rollback.degradation` | relative degradation `> 0.5`, direction-aware | missing or zero baseline: Inconclusive |
//! | `rollback.smoke-tests` | a critical path's smoke test failed | a critical path not reported: Inconclusive |
//! | `rollback.data-corruption` | data corruption reported | not reported either way: Inconclusive |
//! | `rollback.security-vulnerability` | a vulnerability introduced by the release | not reported either way: Inconclusive |
//!
//! The monitoring table's "error rate critical above 1 %" is a separate alerting rule,
//! `alert.error-rate`, reported beside the rollback rule so the 1 %..5 % gap stays visible.
//!
//! ```
//! use fleet_policy::rollback::{evaluate, RollbackInput, RequestWindow};
//! use fleet_policy::{Outcome, Policy};
//!
//! let input = RollbackInput {
//!     subject: "fleet-api v1.2.3".into(),
//!     window: Some(RequestWindow { requests: 2_000, errors: 120 }),
//!     ..RollbackInput::default()
//! };
//! let findings = evaluate(&Policy::default(), &input);
//! let error_rate = findings.iter().find(|f| f.rule == "rollback.error-rate").unwrap();
//! assert_eq!(error_rate.outcome, Outcome::Fail); // 6 % > 5 %
//! ```

use serde::{Deserialize, Serialize};

use crate::Policy;
use crate::finding::{Finding, Operator, Outcome, Quantity, Section, Unit};

/// Requests and errors over the evaluation window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestWindow {
    /// Requests served.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
}

/// Which way is worse for a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Latency, error counts: up is worse.
    HigherIsWorse,
    /// Throughput, success rate: down is worse.
    LowerIsWorse,
}

/// A metric measured now and at a baseline (the previous release, or before the deploy).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Degradation {
    /// The metric's name (`p95_latency`, `throughput`).
    pub metric: String,
    /// Its unit.
    pub unit: Unit,
    /// Which way is worse.
    pub direction: Direction,
    /// The value now.
    pub current: f64,
    /// The baseline value; missing or zero makes the rule Inconclusive.
    #[serde(default)]
    pub baseline: Option<f64>,
}

/// The result of one smoke test of a critical path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeTest {
    /// The path tested (`login flow`, `vehicle dashboard`, `gps tracking`, `work orders`).
    pub path: String,
    /// Whether it passed.
    pub passed: bool,
    /// Optional detail (failing step, HTTP status).
    #[serde(default)]
    pub detail: Option<String>,
}

/// A yes/no fact supplied by the caller with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    /// Whether the condition holds.
    pub detected: bool,
    /// Who or what established it (a checker, a scanner, a person).
    pub source: String,
    /// Optional detail.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Everything the rollback decision looks at; every part may be missing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackInput {
    /// The release being judged (`fleet-api v1.2.3`).
    #[serde(default)]
    pub subject: String,
    /// Requests and errors since the deploy.
    #[serde(default)]
    pub window: Option<RequestWindow>,
    /// Metrics compared with their baseline.
    #[serde(default)]
    pub degradation: Vec<Degradation>,
    /// Smoke tests of critical paths.
    #[serde(default)]
    pub smoke_tests: Vec<SmokeTest>,
    /// Data corruption check.
    #[serde(default)]
    pub data_corruption: Option<Fact>,
    /// Security check of the release.
    #[serde(default)]
    pub security_vulnerability: Option<Fact>,
}

const ROLLBACK_ACTIONS: [&str; 4] = [
    "list recent deployments (rollout history)",
    "roll back (confirm with ROLLBACK)",
    "validate the rollback",
    "post in #incidents",
];

/// Evaluates every rollback trigger, plus the alerting error-rate rule.
pub fn evaluate(policy: &Policy, input: &RollbackInput) -> Vec<Finding> {
    let subject = if input.subject.is_empty() {
        "release"
    } else {
        &input.subject
    };
    let mut out = Vec::with_capacity(6 + input.degradation.len());
    out.extend(error_rate(policy, subject, input.window));
    if input.degradation.is_empty() {
        out.push(Finding::new(
            "rollback.degradation",
            subject,
            Outcome::Inconclusive,
            Section::RollbackProcedures,
            "no performance measurements to compare with a baseline",
        ));
    }
    out.extend(
        input
            .degradation
            .iter()
            .map(|d| degradation(policy, subject, d)),
    );
    out.push(smoke_tests(policy, subject, &input.smoke_tests));
    out.push(fact(
        "rollback.data-corruption",
        "data corruption",
        subject,
        input.data_corruption.as_ref(),
    ));
    out.push(fact(
        "rollback.security-vulnerability",
        "security vulnerability introduced",
        subject,
        input.security_vulnerability.as_ref(),
    ));
    out
}

/// Whether any finding of [`evaluate`] requires a rollback.
pub fn rollback_required(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|f| f.rule.starts_with("rollback.") && f.effective_outcome() == Outcome::Fail)
}

/// `rollback.crash-loop`: pods of the new release crash-loop during its rollout or bake: the
/// runbook's "critical functionality broken", seen before any smoke test could run.
pub fn crash_loop(subject: &str, pods: &[String]) -> Finding {
    if pods.is_empty() {
        Finding::new(
            "rollback.crash-loop",
            subject,
            Outcome::Pass,
            Section::RollbackProcedures,
            "no pod of the release is crash-looping",
        )
    } else {
        Finding::new(
            "rollback.crash-loop",
            subject,
            Outcome::Fail,
            Section::RollbackProcedures,
            format!(
                "{} pod(s) of the release crash-looping: {}",
                pods.len(),
                pods.join(", ")
            ),
        )
        .actions(ROLLBACK_ACTIONS)
    }
}

/// `rollback.error-rate` and `alert.error-rate` for a request window.
pub fn error_rate(policy: &Policy, subject: &str, window: Option<RequestWindow>) -> [Finding; 2] {
    let rule = "rollback.error-rate";
    let alert_rule = "alert.error-rate";
    let limit = Quantity::new(policy.rollback.error_rate_percent, Unit::Percent);
    let critical = Quantity::new(policy.metrics.error_rate_percent.high(), Unit::Percent);
    let Some(w) = window else {
        let msg = "no request counts for the evaluation window";
        return [
            Finding::new(
                rule,
                subject,
                Outcome::Inconclusive,
                Section::RollbackProcedures,
                msg,
            ),
            Finding::new(
                alert_rule,
                subject,
                Outcome::Inconclusive,
                Section::MonitoringAlerts,
                msg,
            ),
        ];
    };
    if w.errors > w.requests {
        let msg = format!(
            "{} errors reported for only {} requests",
            w.errors, w.requests
        );
        return [
            Finding::new(
                rule,
                subject,
                Outcome::Error,
                Section::RollbackProcedures,
                msg.clone(),
            ),
            Finding::new(
                alert_rule,
                subject,
                Outcome::Error,
                Section::MonitoringAlerts,
                msg,
            ),
        ];
    }
    if w.requests < policy.rollback.min_requests {
        let msg = format!(
            "only {} requests in the window (at least {} needed to judge the error rate)",
            w.requests, policy.rollback.min_requests
        );
        let n = Quantity::new(w.requests as f64, Unit::Count);
        let min = Quantity::new(policy.rollback.min_requests as f64, Unit::Count);
        return [
            Finding::new(
                rule,
                subject,
                Outcome::Inconclusive,
                Section::RollbackProcedures,
                &msg,
            )
            .observed(n)
            .compared(Operator::Lt, min),
            Finding::new(
                alert_rule,
                subject,
                Outcome::Inconclusive,
                Section::MonitoringAlerts,
                msg,
            )
            .observed(n)
            .compared(Operator::Lt, min),
        ];
    }
    let rate = Quantity::new(w.errors as f64 * 100.0 / w.requests as f64, Unit::Percent);
    let rollback = if rate.value > limit.value {
        Finding::new(
            rule,
            subject,
            Outcome::Fail,
            Section::RollbackProcedures,
            format!(
                "error rate {rate} over {} requests is above {limit}: roll back",
                w.requests
            ),
        )
        .actions(ROLLBACK_ACTIONS)
    } else {
        Finding::new(
            rule,
            subject,
            Outcome::Pass,
            Section::RollbackProcedures,
            format!(
                "error rate {rate} over {} requests is not above {limit}",
                w.requests
            ),
        )
    };
    let alert = if rate.value > critical.value {
        Finding::new(
            alert_rule,
            subject,
            Outcome::Fail,
            Section::MonitoringAlerts,
            format!("error rate {rate} is critical (> {critical}) even where no rollback is due"),
        )
        .actions(["check logs for error patterns", "check recent deployments"])
    } else {
        Finding::new(
            alert_rule,
            subject,
            Outcome::Pass,
            Section::MonitoringAlerts,
            format!("error rate {rate} is not critical (<= {critical})"),
        )
    };
    [
        rollback.observed(rate).compared(Operator::Gt, limit),
        alert.observed(rate).compared(Operator::Gt, critical),
    ]
}

/// `rollback.degradation` for one metric: relative change in the worse direction
/// `> degradation_ratio`.
pub fn degradation(policy: &Policy, subject: &str, d: &Degradation) -> Finding {
    let rule = "rollback.degradation";
    let subject = format!("{subject} {}", d.metric);
    let limit = policy.rollback.degradation_ratio;
    let current = Quantity::new(d.current, d.unit);
    let bad_input = !d.current.is_finite()
        || d.current < 0.0
        || d.baseline.is_some_and(|b| !b.is_finite() || b < 0.0);
    if bad_input {
        return Finding::new(
            rule,
            subject,
            Outcome::Error,
            Section::RollbackProcedures,
            format!("{}: values must be finite and not negative", d.metric),
        );
    }
    let baseline = match d.baseline {
        Some(b) if b > 0.0 => b,
        other => {
            let why = if other.is_some() {
                "a zero baseline"
            } else {
                "no baseline"
            };
            return Finding::new(
                rule,
                subject,
                Outcome::Inconclusive,
                Section::RollbackProcedures,
                format!("{}: {why}, so degradation cannot be computed", d.metric),
            )
            .observed(current);
        }
    };
    let ratio = match d.direction {
        Direction::HigherIsWorse => (d.current - baseline) / baseline,
        Direction::LowerIsWorse => (baseline - d.current) / baseline,
    };
    let base = Quantity::new(baseline, d.unit);
    let pct = ratio * 100.0;
    let f = if ratio > limit {
        Finding::new(
            rule,
            subject,
            Outcome::Fail,
            Section::RollbackProcedures,
            format!(
                "{} degraded by {pct:.1} % ({current} vs baseline {base}), more than {:.0} %: roll back",
                d.metric,
                limit * 100.0
            ),
        )
        .actions(ROLLBACK_ACTIONS)
    } else {
        let change = if ratio > 0.0 {
            format!("degraded by {pct:.1} %, within {:.0} %", limit * 100.0)
        } else {
            format!("did not degrade ({:.1} % better)", -pct)
        };
        Finding::new(
            rule,
            subject,
            Outcome::Pass,
            Section::RollbackProcedures,
            format!("{} {change} ({current} vs baseline {base})", d.metric),
        )
    };
    f.observed(current)
        .compared(Operator::Gt, Quantity::new(limit, Unit::Ratio))
        .baseline(base, Some(ratio))
}

/// `rollback.smoke-tests`: every critical path of the policy passed its smoke test.
pub fn smoke_tests(policy: &Policy, subject: &str, tests: &[SmokeTest]) -> Finding {
    let rule = "rollback.smoke-tests";
    let norm = |s: &str| s.trim().to_ascii_lowercase();
    let failed: Vec<&SmokeTest> = tests.iter().filter(|t| !t.passed).collect();
    let missing: Vec<&String> = policy
        .rollback
        .critical_paths
        .iter()
        .filter(|p| !tests.iter().any(|t| norm(&t.path) == norm(p)))
        .collect();
    let n_failed = Quantity::new(failed.len() as f64, Unit::Count);
    let zero = Quantity::new(0.0, Unit::Count);
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|t| match &t.detail {
                Some(d) => format!("{} ({d})", t.path),
                None => t.path.clone(),
            })
            .collect();
        return Finding::new(
            rule,
            subject,
            Outcome::Fail,
            Section::RollbackProcedures,
            format!(
                "critical functionality broken: smoke test failed for {}",
                names.join(", ")
            ),
        )
        .observed(n_failed)
        .compared(Operator::Gt, zero)
        .actions(ROLLBACK_ACTIONS);
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Finding::new(
            rule,
            subject,
            Outcome::Inconclusive,
            Section::RollbackProcedures,
            format!(
                "no smoke-test result for critical path(s): {}",
                names.join(", ")
            ),
        );
    }
    Finding::new(
        rule,
        subject,
        Outcome::Pass,
        Section::RollbackProcedures,
        format!("all {} smoke tests passed", tests.len()),
    )
    .observed(n_failed)
    .compared(Operator::Gt, zero)
}

fn fact(rule: &str, what: &str, subject: &str, fact: Option<&Fact>) -> Finding {
    match fact {
        None => Finding::new(
            rule,
            subject,
            Outcome::Inconclusive,
            Section::RollbackProcedures,
            format!("no report on {what}"),
        ),
        Some(f) if f.detected => {
            let detail = f
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            Finding::new(
                rule,
                subject,
                Outcome::Fail,
                Section::RollbackProcedures,
                format!("{what} reported by {}{detail}: roll back", f.source),
            )
            .actions(ROLLBACK_ACTIONS)
        }
        Some(f) => Finding::new(
            rule,
            subject,
            Outcome::Pass,
            Section::RollbackProcedures,
            format!("no {what} according to {}", f.source),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_looping_release_requires_a_rollback() {
        let f = crash_loop("fleet-api v2", &["fleet-api-abc".into()]);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(rollback_required(&[f]));
        assert!(!rollback_required(&[crash_loop("fleet-api v2", &[])]));
    }

    fn rate(requests: u64, errors: u64) -> Outcome {
        let [f, _] = error_rate(
            &Policy::default(),
            "s",
            Some(RequestWindow { requests, errors }),
        );
        f.outcome
    }

    #[test]
    fn error_rate_boundaries() {
        assert_eq!(
            rate(1000, 50),
            Outcome::Pass,
            "5 % exactly does not trigger"
        );
        assert_eq!(rate(1000, 51), Outcome::Fail);
        assert_eq!(rate(100, 6), Outcome::Fail, "100 requests is enough");
        assert_eq!(rate(99, 99), Outcome::Inconclusive, "below min_requests");
        assert_eq!(rate(0, 0), Outcome::Inconclusive);
        assert_eq!(rate(10, 20), Outcome::Error);
    }

    #[test]
    fn alerting_rule_is_reported_beside_the_rollback_rule() {
        let [rb, alert] = error_rate(
            &Policy::default(),
            "s",
            Some(RequestWindow {
                requests: 1000,
                errors: 20,
            }),
        );
        assert_eq!(rb.outcome, Outcome::Pass);
        assert_eq!(
            alert.outcome,
            Outcome::Fail,
            "2 % is above the 1 % critical band"
        );
    }

    fn deg(direction: Direction, current: f64, baseline: Option<f64>) -> Finding {
        degradation(
            &Policy::default(),
            "s",
            &Degradation {
                metric: "m".into(),
                unit: Unit::Milliseconds,
                direction,
                current,
                baseline,
            },
        )
    }

    #[test]
    fn degradation_is_direction_aware_and_strict() {
        use Direction::{HigherIsWorse as Up, LowerIsWorse as Down};
        let cases = [
            (
                Up,
                150.0,
                Some(100.0),
                Outcome::Pass,
                "exactly 50 % does not trigger",
            ),
            (Up, 150.1, Some(100.0), Outcome::Fail, "just over 50 %"),
            (Up, 10.0, Some(100.0), Outcome::Pass, "faster is fine"),
            (
                Down,
                50.0,
                Some(100.0),
                Outcome::Pass,
                "exactly 50 % does not trigger",
            ),
            (
                Down,
                49.0,
                Some(100.0),
                Outcome::Fail,
                "throughput halved and more",
            ),
            (
                Down,
                400.0,
                Some(100.0),
                Outcome::Pass,
                "more throughput is fine",
            ),
            (Up, 1.0, None, Outcome::Inconclusive, "no baseline"),
            (Up, 1.0, Some(0.0), Outcome::Inconclusive, "zero baseline"),
            (Up, f64::NAN, Some(1.0), Outcome::Error, "NaN"),
        ];
        for (dir, current, baseline, want, why) in cases {
            assert_eq!(deg(dir, current, baseline).outcome, want, "{why}");
        }
        let f = deg(Up, 300.0, Some(100.0));
        assert_eq!(f.ratio, Some(2.0));
        assert_eq!(f.baseline, Some(Quantity::new(100.0, Unit::Milliseconds)));
    }

    #[test]
    fn smoke_tests_cover_the_four_critical_paths() {
        let p = Policy::default();
        let all_pass: Vec<SmokeTest> = p
            .rollback
            .critical_paths
            .iter()
            .map(|path| SmokeTest {
                path: path.to_uppercase(),
                passed: true,
                detail: None,
            })
            .collect();
        assert_eq!(smoke_tests(&p, "s", &all_pass).outcome, Outcome::Pass);
        assert_eq!(
            smoke_tests(&p, "s", &all_pass[..3]).outcome,
            Outcome::Inconclusive
        );
        let mut one_failed = all_pass.clone();
        one_failed[1].passed = false;
        let f = smoke_tests(&p, "s", &one_failed);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(f.message.contains("VEHICLE DASHBOARD"), "{}", f.message);
    }

    #[test]
    fn facts_fail_when_detected_and_never_pass_when_missing() {
        let yes = Fact {
            detected: true,
            source: "checksum job".into(),
            detail: None,
        };
        let no = Fact {
            detected: false,
            source: "scanner".into(),
            detail: None,
        };
        assert_eq!(fact("r", "x", "s", Some(&yes)).outcome, Outcome::Fail);
        assert_eq!(fact("r", "x", "s", Some(&no)).outcome, Outcome::Pass);
        assert_eq!(fact("r", "x", "s", None).outcome, Outcome::Inconclusive);
    }

    #[test]
    fn rollback_required_looks_only_at_rollback_rules() {
        let input = RollbackInput {
            window: Some(RequestWindow {
                requests: 1000,
                errors: 20,
            }),
            ..RollbackInput::default()
        };
        let findings = evaluate(&Policy::default(), &input);
        assert!(
            !rollback_required(&findings),
            "2 % trips the alert, not the rollback"
        );
    }
}
