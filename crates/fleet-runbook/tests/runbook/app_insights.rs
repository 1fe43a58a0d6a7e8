//! `AppInsightsSource` over fleet-azure's `Telemetry` mock.

use std::sync::Arc;
use std::time::Duration;

use fleet_azure::{Error as AzureError, ErrorKind, MockTelemetry, RequestStats};
use fleet_policy::{Policy, rollback};
use fleet_runbook::{AppInsightsSource, MetricsSource, Window};

use crate::common::ts;

fn stats(total: u64, failed: u64, p95: f64) -> RequestStats {
    // Non-exhaustive in fleet-azure: built from its serialised shape, then given a NaN.
    let mut stats: RequestStats = serde_json::from_value(serde_json::json!({
        "total": total,
        "failed": failed,
        "failure_rate_pct": failed as f64 * 100.0 / total as f64,
        "p50_ms": p95 / 3.0,
        "p95_ms": p95,
        "p99_ms": null,
    }))
    .expect("stats");
    stats.p99_ms = Some(f64::NAN);
    stats
}

#[tokio::test]
async fn request_stats_become_request_metrics() {
    let end = ts("2026-07-16T22:10:00Z");
    let current = Window::ending_at(end, Duration::from_secs(600)).expect("window");
    let baseline = current.preceding().expect("baseline");
    let mut mock = MockTelemetry::new();
    mock.expect_request_stats()
        .withf(move |w, _| w.start == current.start && w.end == current.end)
        .times(1)
        .returning(|_, _| Ok(stats(12_000, 720, 950.0)));
    mock.expect_request_stats()
        .withf(move |w, _| w.start == baseline.start && w.end == baseline.end)
        .times(1)
        .returning(|_, _| Ok(stats(11_500, 23, 410.0)));
    let source = AppInsightsSource::new(Arc::new(mock), "fleet-appinsights");
    assert_eq!(source.describe(), "application-insights fleet-appinsights");
    let c = source.compare(current, baseline).await.expect("compare");
    assert_eq!((c.current.requests, c.current.errors), (12_000, 720));
    assert_eq!(c.current.latency.p95_ms, Some(950.0));
    assert_eq!(c.current.latency.p99_ms, None, "NaN is no measurement");
    assert_eq!(c.current.window, current);
    let findings = rollback::evaluate(&Policy::default(), &c.rollback_input("fleet-api v1.5.0"));
    assert!(
        rollback::rollback_required(&findings),
        "6 % errors, p95 +132 %"
    );
}

#[tokio::test]
async fn telemetry_failures_keep_their_kind() {
    let mut mock = MockTelemetry::new();
    mock.expect_request_stats().returning(|_, _| {
        Err(AzureError::Service {
            operation: "query request stats".into(),
            kind: ErrorKind::Throttled,
            status: 429,
            code: None,
            message: "too many requests".into(),
            retry_after: Some(Duration::from_secs(5)),
        })
    });
    let source = AppInsightsSource::new(Arc::new(mock), "fleet-appinsights");
    let w = Window::ending_at(ts("2026-07-16T22:10:00Z"), Duration::from_secs(60)).expect("w");
    let e = source.request_metrics(w).await.expect_err("throttled");
    assert!(e.is_transient());
    assert_eq!(e.kind(), fleet_runbook::ErrorKind::Source);
    let cause = std::error::Error::source(&e).expect("cause kept");
    assert!(cause.to_string().contains("HTTP 429"));
}
