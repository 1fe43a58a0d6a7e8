//! Application Insights as a [`MetricsSource`], over fleet-azure's `Telemetry` trait.
//!
//! This is the only module that names fleet-azure's telemetry API, so a rename there is a
//! change here alone.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use fleet_azure::{RequestStats, Telemetry, TimeWindow};

use super::{Latency, MetricsSource, RequestMetrics, Window};
use crate::error::{Error, Result};

/// Request metrics from Application Insights (requests, failed requests, p50/p95/p99).
#[derive(Clone)]
pub struct AppInsightsSource {
    telemetry: Arc<dyn Telemetry>,
    name: String,
}

impl fmt::Debug for AppInsightsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppInsightsSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AppInsightsSource {
    /// A source over `telemetry`; `name` says which resource it reads, for reports
    /// (`fleet-appinsights`).
    pub fn new(telemetry: Arc<dyn Telemetry>, name: impl Into<String>) -> Self {
        Self {
            telemetry,
            name: name.into(),
        }
    }
}

fn from_azure(e: fleet_azure::Error) -> Error {
    Error::Source {
        service: "application-insights",
        transient: e.is_transient(),
        source: Box::new(e),
    }
}

/// fleet-azure's figures in this crate's shape.
fn convert(window: Window, s: &RequestStats) -> RequestMetrics {
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite() && *v >= 0.0);
    let mut warnings = Vec::new();
    if s.failed > s.total {
        warnings.push(format!(
            "Application Insights counted {} failed of {} requests",
            s.failed, s.total
        ));
    }
    RequestMetrics {
        window,
        requests: s.total,
        errors: s.failed,
        latency: Latency {
            p50_ms: finite(s.p50_ms),
            p95_ms: finite(s.p95_ms),
            p99_ms: finite(s.p99_ms),
        },
        warnings,
    }
}

#[async_trait]
impl MetricsSource for AppInsightsSource {
    fn describe(&self) -> String {
        format!("application-insights {}", self.name)
    }

    #[tracing::instrument(skip_all, fields(source = %self.name, %window))]
    async fn request_metrics(&self, window: Window) -> Result<RequestMetrics> {
        let w = TimeWindow::new(window.start, window.end).map_err(from_azure)?;
        let stats = self
            .telemetry
            .request_stats(w, None)
            .await
            .map_err(from_azure)?;
        Ok(convert(window, &stats))
    }
}
