//! Evidence from monitoring: request and error counts and latency percentiles over a window
//! (and a baseline window), in the shape fleet-policy's rollback rules and metric bands take.
//!
//! [`MetricsSource`] is implemented by [`PrometheusSource`] (the Prometheus HTTP API with
//! PromQL templates the caller configures) and [`AppInsightsSource`] (fleet-azure's
//! Application Insights telemetry). Judging stays in fleet-policy: [`RequestMetrics`] and
//! [`Comparison`] only convert to its inputs.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use fleet_policy::Unit;
use fleet_policy::metrics::MetricsSnapshot;
use fleet_policy::rollback::{Degradation, Direction, RequestWindow, RollbackInput};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod app_insights;
mod prometheus;
mod promql;

pub use app_insights::AppInsightsSource;
pub use prometheus::{PromInstant, PromSample, PromSeries, PrometheusOptions, PrometheusSource};
pub use promql::{LabelMatcher, LatencyUnit, MatchOp, PromQueries, PromTemplate};

/// A half-open time range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

impl Window {
    /// A window; `start` must be before `end`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty or reversed window.
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Self> {
        if start >= end {
            return Err(Error::invalid(
                "window",
                format!("start {start} is not before end {end}"),
            ));
        }
        Ok(Self { start, end })
    }

    /// The `length` before `end` (the last 10 minutes of a bake period).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a zero length or one reaching before the year -9999.
    pub fn ending_at(end: Timestamp, length: Duration) -> Result<Self> {
        let span = SignedDuration::try_from(length)
            .map_err(|_| Error::invalid("window", "length too large"))?;
        let start = end
            .checked_sub(span)
            .map_err(|_| Error::invalid("window", "length reaches out of range"))?;
        Self::new(start, end)
    }

    /// The window's length.
    pub fn length(&self) -> Duration {
        Duration::try_from(self.end.duration_since(self.start)).unwrap_or(Duration::ZERO)
    }

    /// The window of the same length just before this one (a baseline).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when it would reach out of range.
    pub fn preceding(&self) -> Result<Self> {
        Self::ending_at(self.start, self.length())
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// Latency percentiles, in milliseconds; `None` when there was nothing to measure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: Option<f64>,
    /// 95th percentile (the runbook's response time).
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

/// Requests, errors and latency over one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestMetrics {
    /// The window.
    pub window: Window,
    /// Requests served.
    pub requests: u64,
    /// Of which failed (5xx, or what the source counts as failed).
    pub errors: u64,
    /// Latency percentiles.
    pub latency: Latency,
    /// What the source warned about (no series matched, Prometheus' own warnings...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl RequestMetrics {
    /// fleet-policy's request window (the rollback rule's error rate).
    pub fn request_window(&self) -> RequestWindow {
        RequestWindow {
            requests: self.requests,
            errors: self.errors,
        }
    }

    /// `100 * errors / requests`; `None` without requests.
    pub fn error_rate_percent(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 * 100.0 / self.requests as f64)
    }

    /// The readings for fleet-policy's metric bands: response time (p95) and error rate.
    pub fn metrics_snapshot(&self, subject: &str) -> MetricsSnapshot {
        MetricsSnapshot {
            subject: subject.to_owned(),
            response_time_ms: self.latency.p95_ms,
            error_rate_percent: self.error_rate_percent(),
            ..MetricsSnapshot::default()
        }
    }
}

/// A window and its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The window under evaluation (since the deploy, the bake period).
    pub current: RequestMetrics,
    /// The baseline (before the deploy), when there is one.
    pub baseline: Option<RequestMetrics>,
}

impl Comparison {
    /// The degradation measurements for fleet-policy's `rollback.degradation`: p95 latency,
    /// higher is worse, against the baseline's p95. Nothing when the current window has no
    /// p95 (the rule is then Inconclusive).
    pub fn degradation(&self) -> Vec<Degradation> {
        self.current
            .latency
            .p95_ms
            .map(|current| Degradation {
                metric: "p95_latency".into(),
                unit: Unit::Milliseconds,
                direction: Direction::HigherIsWorse,
                current,
                baseline: self.baseline.as_ref().and_then(|b| b.latency.p95_ms),
            })
            .into_iter()
            .collect()
    }

    /// fleet-policy's rollback input with the request window and degradation filled in;
    /// smoke tests and the data-corruption and security facts are the caller's to add.
    pub fn rollback_input(&self, subject: &str) -> RollbackInput {
        RollbackInput {
            subject: subject.to_owned(),
            window: Some(self.current.request_window()),
            degradation: self.degradation(),
            ..RollbackInput::default()
        }
    }
}

/// Where request metrics come from. Object safe: procedures hold `Arc<dyn MetricsSource>`.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait MetricsSource: Send + Sync + fmt::Debug {
    /// The source, safe to show (`prometheus http://prom:9090`), for plan step targets.
    fn describe(&self) -> String;

    /// Requests, errors and latency over `window`.
    async fn request_metrics(&self, window: Window) -> Result<RequestMetrics>;

    /// `current` and `baseline` together.
    async fn compare(&self, current: Window, baseline: Window) -> Result<Comparison> {
        let (c, b) = futures::join!(
            self.request_metrics(current),
            self.request_metrics(baseline)
        );
        Ok(Comparison {
            current: c?,
            baseline: Some(b?),
        })
    }
}

#[cfg(test)]
mod tests {
    use fleet_policy::{Outcome, Policy, rollback};

    use super::*;

    fn metrics(requests: u64, errors: u64, p95: Option<f64>) -> RequestMetrics {
        RequestMetrics {
            window: Window::ending_at(Timestamp::UNIX_EPOCH, Duration::from_secs(600))
                .expect("window"),
            requests,
            errors,
            latency: Latency {
                p95_ms: p95,
                ..Latency::default()
            },
            warnings: Vec::new(),
        }
    }

    #[test]
    fn rollback_input_is_what_the_policy_judges() {
        let c = Comparison {
            current: metrics(2000, 120, Some(640.0)),
            baseline: Some(metrics(2000, 2, Some(400.0))),
        };
        let findings = rollback::evaluate(&Policy::default(), &c.rollback_input("fleet-api v2"));
        let rate = findings
            .iter()
            .find(|f| f.rule == "rollback.error-rate")
            .expect("error rate");
        assert_eq!(rate.outcome, Outcome::Fail, "6 % > 5 %");
        let deg = findings
            .iter()
            .find(|f| f.rule == "rollback.degradation")
            .expect("degradation");
        assert_eq!(deg.outcome, Outcome::Fail, "+60 % > 50 %");
        assert_eq!(deg.ratio, Some(0.6));
    }

    #[test]
    fn no_baseline_is_inconclusive_not_a_pass() {
        let c = Comparison {
            current: metrics(2000, 0, Some(640.0)),
            baseline: None,
        };
        let findings = rollback::evaluate(&Policy::default(), &c.rollback_input("s"));
        let deg = findings
            .iter()
            .find(|f| f.rule == "rollback.degradation")
            .expect("degradation");
        assert_eq!(deg.outcome, Outcome::Inconclusive);
    }

    #[test]
    fn snapshot_feeds_the_bands() {
        let s = metrics(1000, 20, Some(1200.0)).metrics_snapshot("fleet-api");
        assert_eq!(s.error_rate_percent, Some(2.0));
        let f = fleet_policy::metrics::check_snapshot(&Policy::default().metrics, &s);
        let rt = f
            .iter()
            .find(|f| f.rule == "metrics.response-time")
            .expect("rt");
        assert_eq!(rt.outcome, Outcome::Fail, "1200 ms is critical");
        assert_eq!(metrics(0, 0, None).error_rate_percent(), None);
    }

    #[test]
    fn windows() {
        let w = Window::ending_at(
            "2026-01-01T00:10:00Z".parse().expect("ts"),
            Duration::from_secs(600),
        )
        .expect("w");
        assert_eq!(w.length(), Duration::from_secs(600));
        let b = w.preceding().expect("b");
        assert_eq!(b.end, w.start);
        assert!(Window::new(w.end, w.start).is_err());
        assert!(Window::ending_at(w.end, Duration::ZERO).is_err());
    }
}
