//! What the telemetry checks report.

use crate::error::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A half-open time range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

impl TimeWindow {
    /// A window, checked to be non-empty.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `start` is not before `end`.
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Self> {
        if start >= end {
            return Err(Error::invalid(
                "window",
                format!("start {start} is not before end {end}"),
            ));
        }
        Ok(Self { start, end })
    }

    /// The ISO 8601 interval for the API's `timespan`.
    pub(crate) fn timespan(&self) -> String {
        format!("{}/{}", self.start, self.end)
    }
}

/// Request volume, failures and latency over a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestStats {
    /// Requests (sum of `ItemCount`, so sampling does not skew it).
    pub total: u64,
    /// Failed requests.
    pub failed: u64,
    /// `100 * failed / total`; `None` when there were no requests.
    pub failure_rate_pct: Option<f64>,
    /// Median duration in ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile duration in ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile duration in ms.
    pub p99_ms: Option<f64>,
}

/// One exception group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExceptionCount {
    /// Problem id (Application Insights' grouping key).
    pub problem_id: String,
    /// Exception type.
    pub exception_type: String,
    /// Outer message.
    pub message: String,
    /// Occurrences.
    pub count: u64,
}

/// One dependency's calls and latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DependencyStats {
    /// Target (host, database, ...).
    pub target: String,
    /// Type (`SQL`, `HTTP`, ...).
    pub dependency_type: String,
    /// Dependency name (operation).
    pub name: String,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub failed: u64,
    /// 95th percentile duration in ms.
    pub p95_ms: Option<f64>,
    /// Mean duration in ms.
    pub avg_ms: Option<f64>,
}

/// Everything the runbook reads for one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowReport {
    /// The window.
    pub window: TimeWindow,
    /// Requests.
    pub requests: RequestStats,
    /// Top exceptions by count.
    pub top_exceptions: Vec<ExceptionCount>,
    /// Slowest dependencies by p95.
    pub slowest_dependencies: Vec<DependencyStats>,
}

/// A window and its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TelemetryReport {
    /// The window under evaluation.
    pub current: WindowReport,
    /// The baseline window, when asked for.
    pub baseline: Option<WindowReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_must_be_ordered() -> Result<()> {
        let start: Timestamp = "2025-06-01T18:00:00Z"
            .parse()
            .map_err(|e| Error::invalid("t", format!("{e}")))?;
        let end: Timestamp = "2025-06-01T19:00:00Z"
            .parse()
            .map_err(|e| Error::invalid("t", format!("{e}")))?;
        assert!(TimeWindow::new(end, start).is_err());
        let w = TimeWindow::new(start, end)?;
        assert_eq!(w.timespan(), "2025-06-01T18:00:00Z/2025-06-01T19:00:00Z");
        Ok(())
    }
}
