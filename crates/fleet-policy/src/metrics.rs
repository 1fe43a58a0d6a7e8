//! Metric bands: the "Key Metrics to Monitor" table.
//!
//! Bands are half-open (`docs/decisions.md`, "Metric bands"): Normal is `value < low`, Warning is
//! `low <= value <= high`, Critical is `value > high`. With the default table 500 ms and 1000 ms
//! are Warning and 1000.1 ms is Critical; 80 connections is Warning and 81 Critical. Negative
//! values, NaN and infinities are input errors, never a band.
//!
//! ```
//! use fleet_policy::metrics::{classify, Band, Metric};
//! use fleet_policy::Policy;
//!
//! let policy = Policy::default();
//! assert_eq!(classify(&policy.metrics, Metric::ResponseTime, 500.0), Ok(Band::Warning));
//! assert_eq!(classify(&policy.metrics, Metric::DbConnections, 81.0), Ok(Band::Critical));
//! assert!(classify(&policy.metrics, Metric::CpuUsage, f64::NAN).is_err());
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{self, MetricsPolicy};
use crate::finding::{Finding, Operator, Outcome, Quantity, Section, Unit};

/// The six metrics of the monitoring table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// p95 response time in milliseconds.
    ResponseTime,
    /// Error rate in percent of requests.
    ErrorRate,
    /// CPU usage in percent.
    CpuUsage,
    /// Memory usage in percent.
    MemoryUsage,
    /// Count of database server connections.
    DbConnections,
    /// Disk usage in percent.
    DiskUsage,
}

impl Metric {
    /// The six metrics, in the table's order.
    pub const ALL: [Metric; 6] = [
        Metric::ResponseTime,
        Metric::ErrorRate,
        Metric::CpuUsage,
        Metric::MemoryUsage,
        Metric::DbConnections,
        Metric::DiskUsage,
    ];

    /// The metric's unit.
    pub fn unit(self) -> Unit {
        match self {
            Metric::ResponseTime => Unit::Milliseconds,
            Metric::DbConnections => Unit::Count,
            _ => Unit::Percent,
        }
    }

    /// Stable rule id of the band check for this metric.
    pub fn rule_id(self) -> &'static str {
        match self {
            Metric::ResponseTime => "metrics.response-time",
            Metric::ErrorRate => "metrics.error-rate",
            Metric::CpuUsage => "metrics.cpu-usage",
            Metric::MemoryUsage => "metrics.memory-usage",
            Metric::DbConnections => "metrics.db-connections",
            Metric::DiskUsage => "metrics.disk-usage",
        }
    }

    /// The row's name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Metric::ResponseTime => "response time",
            Metric::ErrorRate => "error rate",
            Metric::CpuUsage => "CPU usage",
            Metric::MemoryUsage => "memory usage",
            Metric::DbConnections => "database connections",
            Metric::DiskUsage => "disk usage",
        }
    }

    fn band_of(self, p: &MetricsPolicy) -> config::Band {
        match self {
            Metric::ResponseTime => p.response_time_ms,
            Metric::ErrorRate => p.error_rate_percent,
            Metric::CpuUsage => p.cpu_percent,
            Metric::MemoryUsage => p.memory_percent,
            Metric::DbConnections => p.db_connections,
            Metric::DiskUsage => p.disk_percent,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Below the warning bound.
    Normal,
    /// Between the bounds, both included.
    Warning,
    /// Above the critical bound.
    Critical,
}

impl Band {
    /// Normal passes, Warning warns, Critical fails.
    pub fn outcome(self) -> Outcome {
        match self {
            Band::Normal => Outcome::Pass,
            Band::Warning => Outcome::Warn,
            Band::Critical => Outcome::Fail,
        }
    }
}

/// Why a value could not be classified.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InvalidValue {
    /// NaN or an infinity.
    NotFinite,
    /// Below zero.
    Negative(f64),
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidValue::NotFinite => f.write_str("value is not a finite number"),
            InvalidValue::Negative(v) => write!(f, "value {v} is negative"),
        }
    }
}

/// Classifies one value into its band.
///
/// # Errors
/// [`InvalidValue`] for NaN, infinities and negative values.
pub fn classify(policy: &MetricsPolicy, metric: Metric, value: f64) -> Result<Band, InvalidValue> {
    if !value.is_finite() {
        return Err(InvalidValue::NotFinite);
    }
    if value < 0.0 {
        return Err(InvalidValue::Negative(value));
    }
    let band = metric.band_of(policy);
    Ok(if value < band.low() {
        Band::Normal
    } else if value <= band.high() {
        Band::Warning
    } else {
        Band::Critical
    })
}

/// One set of readings of the six metrics; any may be missing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSnapshot {
    /// What the readings are of (a service, a cluster).
    #[serde(default)]
    pub subject: String,
    /// p95 response time, ms.
    #[serde(default)]
    pub response_time_ms: Option<f64>,
    /// Error rate, percent of requests.
    #[serde(default)]
    pub error_rate_percent: Option<f64>,
    /// CPU usage, percent.
    #[serde(default)]
    pub cpu_percent: Option<f64>,
    /// Memory usage, percent.
    #[serde(default)]
    pub memory_percent: Option<f64>,
    /// Database server connections, count.
    #[serde(default)]
    pub db_connections: Option<f64>,
    /// Disk usage, percent.
    #[serde(default)]
    pub disk_percent: Option<f64>,
}

impl MetricsSnapshot {
    /// The reading of `metric`, if present.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::ResponseTime => self.response_time_ms,
            Metric::ErrorRate => self.error_rate_percent,
            Metric::CpuUsage => self.cpu_percent,
            Metric::MemoryUsage => self.memory_percent,
            Metric::DbConnections => self.db_connections,
            Metric::DiskUsage => self.disk_percent,
        }
    }
}

/// A finding for one reading: Pass, Warn or Fail by band, Inconclusive when missing, Error when
/// invalid.
pub fn check(policy: &MetricsPolicy, subject: &str, metric: Metric, value: Option<f64>) -> Finding {
    let band = metric.band_of(policy);
    let unit = metric.unit();
    let rule = metric.rule_id();
    let section = Section::MonitoringAlerts;
    let Some(v) = value else {
        return Finding::new(
            rule,
            subject,
            Outcome::Inconclusive,
            section,
            format!("no {} reading", metric.label()),
        );
    };
    match classify(policy, metric, v) {
        Err(e) => Finding::new(
            rule,
            subject,
            Outcome::Error,
            section,
            format!("invalid {} reading: {e}", metric.label()),
        ),
        Ok(b) => {
            let q = Quantity::new(v, unit);
            let (op, threshold, text) = match b {
                Band::Normal => (Operator::Ge, band.low(), "normal"),
                Band::Warning => (Operator::Ge, band.low(), "warning"),
                Band::Critical => (Operator::Gt, band.high(), "critical"),
            };
            let th = Quantity::new(threshold, unit);
            let actions: &[&str] = match (metric, b) {
                (_, Band::Normal) => &[],
                (Metric::ErrorRate, _) => &["follow the high-error-rate alert response"],
                (Metric::ResponseTime, _) => &["follow the high-response-time alert response"],
                (Metric::DbConnections, _) => &[
                    "check database connections (pg_stat_activity)",
                    "look for connection leaks and idle-in-transaction sessions",
                ],
                _ => &["follow the resource-exhaustion alert response"],
            };
            Finding::new(
                rule,
                subject,
                b.outcome(),
                section,
                match b {
                    Band::Normal => format!("{} {q} is normal (warning from {th})", metric.label()),
                    _ => format!("{} {q} is {text} ({op} {th})", metric.label()),
                },
            )
            .observed(q)
            .compared(op, th)
            .actions(actions.iter().copied())
        }
    }
}

/// Findings for a whole snapshot, one per metric, in the table's order.
pub fn check_snapshot(policy: &MetricsPolicy, snapshot: &MetricsSnapshot) -> Vec<Finding> {
    let subject = if snapshot.subject.is_empty() {
        "metrics"
    } else {
        &snapshot.subject
    };
    Metric::ALL
        .iter()
        .map(|&m| check(policy, subject, m, snapshot.get(m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(m: Metric, v: f64) -> Band {
        classify(&MetricsPolicy::default(), m, v).expect("valid value")
    }

    #[test]
    fn boundaries_follow_decisions_md() {
        use Band::{Critical as C, Normal as N, Warning as W};
        let cases = [
            (Metric::ResponseTime, 499.9, N),
            (Metric::ResponseTime, 500.0, W),
            (Metric::ResponseTime, 1000.0, W),
            (Metric::ResponseTime, 1000.1, C),
            (Metric::ErrorRate, 0.09, N),
            (Metric::ErrorRate, 0.1, W),
            (Metric::ErrorRate, 1.0, W),
            (Metric::ErrorRate, 1.01, C),
            (Metric::CpuUsage, 69.9, N),
            (Metric::CpuUsage, 70.0, W),
            (Metric::CpuUsage, 85.0, W),
            (Metric::CpuUsage, 85.1, C),
            (Metric::MemoryUsage, 79.9, N),
            (Metric::MemoryUsage, 80.0, W),
            (Metric::MemoryUsage, 90.0, W),
            (Metric::MemoryUsage, 90.5, C),
            (Metric::DbConnections, 49.0, N),
            (Metric::DbConnections, 50.0, W),
            (Metric::DbConnections, 80.0, W),
            (Metric::DbConnections, 81.0, C),
            (Metric::DiskUsage, 0.0, N),
            (Metric::DiskUsage, 70.0, W),
            (Metric::DiskUsage, 85.0, W),
            (Metric::DiskUsage, 100.0, C),
        ];
        for (m, v, want) in cases {
            assert_eq!(c(m, v), want, "{m} = {v}");
        }
    }

    #[test]
    fn invalid_values_are_errors_not_bands() {
        let p = MetricsPolicy::default();
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                classify(&p, Metric::CpuUsage, v),
                Err(InvalidValue::NotFinite)
            );
        }
        assert_eq!(
            classify(&p, Metric::CpuUsage, -0.5),
            Err(InvalidValue::Negative(-0.5))
        );
        assert_eq!(
            check(&p, "s", Metric::CpuUsage, Some(-1.0)).outcome,
            Outcome::Error
        );
    }

    #[test]
    fn missing_readings_are_inconclusive() {
        let findings = check_snapshot(&MetricsPolicy::default(), &MetricsSnapshot::default());
        assert_eq!(findings.len(), 6);
        assert!(findings.iter().all(|f| f.outcome == Outcome::Inconclusive));
    }

    #[test]
    fn finding_explains_the_comparison() {
        let f = check(
            &MetricsPolicy::default(),
            "fleet-api",
            Metric::ResponseTime,
            Some(1200.0),
        );
        assert_eq!(f.outcome, Outcome::Fail);
        assert_eq!(f.operator, Some(Operator::Gt));
        assert_eq!(f.threshold, Some(Quantity::new(1000.0, Unit::Milliseconds)));
        assert_eq!(f.message, "response time 1200 ms is critical (> 1000 ms)");
    }
}
