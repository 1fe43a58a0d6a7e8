//! Telemetry through the Log Analytics and classic Application Insights query APIs.

use crate::{TestResult, client_options};
use fleet_azure::{
    AzureCloud, ErrorKind, QueryResult, Telemetry, TelemetryClient, TelemetryClientOptions,
    TelemetrySource, TimeWindow,
};
use fleet_testkit::azure::{AzureReplay, FaultKind, FaultTarget, example};
use serde_json::json;

const WORKSPACE: &str = "63613592-b6f7-4c3d-a390-22ba13102111";
const APP: &str = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345";

fn workspace(replay: &AzureReplay) -> String {
    TelemetrySource::Workspace {
        workspace_id: WORKSPACE.into(),
    }
    .endpoint(&AzureCloud::custom_at(replay.base_url()))
}

fn app(replay: &AzureReplay) -> String {
    TelemetrySource::AppInsights { app_id: APP.into() }
        .endpoint(&AzureCloud::custom_at(replay.base_url()))
}

fn telemetry_client(
    replay: &AzureReplay,
    endpoint: &str,
    role_name: Option<&str>,
) -> Result<TelemetryClient, fleet_azure::Error> {
    TelemetryClient::new(
        endpoint,
        replay.credential(),
        Some(TelemetryClientOptions {
            client_options: client_options(replay, 2),
            role_name: role_name.map(str::to_owned),
            ..Default::default()
        }),
    )
}

fn window(start: &str, end: &str) -> Result<TimeWindow, Box<dyn std::error::Error>> {
    Ok(TimeWindow::new(start.parse()?, end.parse()?)?)
}

fn table(columns: &[(&str, &str)], rows: serde_json::Value) -> serde_json::Value {
    let columns: Vec<_> = columns
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t}))
        .collect();
    json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
}

fn register_workspace_results(replay: &AzureReplay) {
    let requests = [
        ("total", "long"),
        ("failed", "long"),
        ("p50", "real"),
        ("p95", "real"),
        ("p99", "real"),
    ];
    // Current window (18:00-19:00) and baseline (17:00-18:00) answer differently; numbers come
    // as strings the way the Log Analytics API sends them.
    replay.set_query_result(
        "AppRequests\n| where TimeGenerated >= datetime(2025-06-01T18:00:00Z)",
        table(
            &requests,
            json!([["12000", "84", "41.5", "612.25", "1480"]]),
        ),
    );
    replay.set_query_result(
        "AppRequests\n| where TimeGenerated >= datetime(2025-06-01T17:00:00Z)",
        table(&requests, json!([[11000, 11, 40.0, 380.0, 900.5]])),
    );
    replay.set_query_result(
        "AppExceptions",
        table(
            &[
                ("problemId", "string"),
                ("exceptionType", "string"),
                ("message", "string"),
                ("n", "long"),
            ],
            json!([
                [
                    "System.TimeoutException at Fleet.Gps.Ingest",
                    "System.TimeoutException",
                    "The operation timed out",
                    "57"
                ],
                [
                    "Npgsql.PostgresException at Fleet.Orders.Save",
                    "Npgsql.PostgresException",
                    null,
                    9
                ]
            ]),
        ),
    );
    replay.set_query_result(
        "AppDependencies",
        table(
            &[
                ("target", "string"),
                ("dependencyType", "string"),
                ("name", "string"),
                ("calls", "long"),
                ("failed", "long"),
                ("p95", "real"),
                ("avg", "real"),
            ],
            json!([[
                "fleet-db.postgres.database.azure.com",
                "SQL",
                "SELECT vehicles",
                "5000",
                "3",
                "250.5",
                "40.1"
            ]]),
        ),
    );
}

#[tokio::test]
async fn report_for_a_window_and_baseline_through_log_analytics() -> TestResult {
    let replay = AzureReplay::start().await?;
    register_workspace_results(&replay);
    let client = telemetry_client(&replay, &workspace(&replay), Some("fleet-api"))?;
    let current = window("2025-06-01T18:00:00Z", "2025-06-01T19:00:00Z")?;
    let baseline = window("2025-06-01T17:00:00Z", "2025-06-01T18:00:00Z")?;
    let report = client.report(current, Some(baseline), 10, None).await?;

    let r = &report.current.requests;
    assert_eq!((r.total, r.failed), (12000, 84));
    assert_eq!(r.failure_rate_pct, Some(0.7));
    assert_eq!(
        (r.p50_ms, r.p95_ms, r.p99_ms),
        (Some(41.5), Some(612.25), Some(1480.0))
    );
    let b = &report.baseline.as_ref().ok_or("no baseline")?.requests;
    assert_eq!((b.total, b.failed, b.p95_ms), (11000, 11, Some(380.0)));
    let ex = &report.current.top_exceptions;
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].count, 57);
    assert_eq!(ex[1].message, "");
    let dep = &report.current.slowest_dependencies[0];
    assert_eq!((dep.calls, dep.failed, dep.p95_ms), (5000, 3, Some(250.5)));

    let requests = replay.requests();
    assert_eq!(requests.len(), 6);
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, format!("/v1/workspaces/{WORKSPACE}/query"));
        assert_eq!(r.query, None);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("authorization"), Some("Bearer <redacted>"));
        let body = r.body_json().ok_or("body is not JSON")?;
        let keys: Vec<_> = body
            .as_object()
            .ok_or("not an object")?
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["query", "timespan"]);
        let q = body["query"].as_str().ok_or("query")?;
        assert!(q.contains("| where AppRoleName == \"fleet-api\""), "{q}");
    }
    let first = requests[0].body_json().ok_or("json")?;
    assert!(
        [
            "2025-06-01T18:00:00Z/2025-06-01T19:00:00Z",
            "2025-06-01T17:00:00Z/2025-06-01T18:00:00Z"
        ]
        .contains(&first["timespan"].as_str().ok_or("timespan")?)
    );
    // The example request has the same shape: {query, timespan}.
    let ex = example("monitor-query/oms-post-example.json").ok_or("example")?;
    let mut ex_keys: Vec<_> = ex["parameters"]["body"]
        .as_object()
        .ok_or("obj")?
        .keys()
        .cloned()
        .collect();
    ex_keys.sort();
    assert_eq!(ex_keys, ["query", "timespan"]);
    Ok(())
}

#[tokio::test]
async fn the_examples_tables_parse_by_column_with_strings_and_nulls() -> TestResult {
    let replay = AzureReplay::start().await?;
    let client = telemetry_client(&replay, &workspace(&replay), None)?;
    let w = window("2017-08-24T00:00:00Z", "2017-08-25T00:00:00Z")?;
    // The example's own query; the replay answers with the example's result.
    let result = client.run("usage", "Usage | take 10", &w, None).await?;
    let t = result.primary()?;
    let total = t.column("TotalBatches")?;
    let latency = t.column("AvgLatencyInSeconds")?;
    let billable = t.column("IsBillable")?;
    let linked = t.column("LinkedResourceUri")?;
    assert_eq!(t.u64_at(0, total)?, 1);
    assert_eq!(t.f64_at(0, latency)?, Some(1.286));
    assert_eq!(t.bool_at(0, billable)?, Some(true));
    assert_eq!(t.string_at(0, linked)?, "");
    assert!(t.column("NoSuchColumn").is_err());

    // Classic API: numbers as JSON numbers.
    let classic = telemetry_client(&replay, &app(&replay), None)?;
    let result = classic
        .run(
            "count",
            "requests | summarize count() by bin(timestamp, 1h)",
            &w,
            None,
        )
        .await?;
    let t = result.primary()?;
    let count = t.column("count_")?;
    let sum: u64 = (0..t.rows.len())
        .map(|r| t.u64_at(r, count))
        .sum::<Result<u64, _>>()?;
    assert!(sum > 0);
    let last = replay.requests().pop().ok_or("no request")?;
    assert_eq!(last.path, format!("/v1/apps/{APP}/query"));
    Ok(())
}

#[tokio::test]
async fn classic_app_insights_uses_the_classic_schema() -> TestResult {
    let replay = AzureReplay::start().await?;
    replay.set_query_result(
        "requests\n| where timestamp >=",
        table(
            &[
                ("total", "long"),
                ("failed", "long"),
                ("p50", "real"),
                ("p95", "real"),
                ("p99", "real"),
            ],
            json!([[0, 0, null, null, null]]),
        ),
    );
    let client = telemetry_client(&replay, &app(&replay), None)?;
    let stats = client
        .request_stats(
            window("2025-06-01T18:00:00Z", "2025-06-01T19:00:00Z")?,
            None,
        )
        .await?;
    assert_eq!(stats.total, 0);
    assert_eq!(
        stats.failure_rate_pct, None,
        "no requests is no rate, not 0 %"
    );
    let q = replay.requests()[0].body_json().ok_or("json")?;
    assert!(
        q["query"]
            .as_str()
            .ok_or("query")?
            .contains("sum(itemCount)")
    );
    Ok(())
}

#[tokio::test]
async fn query_faults_are_typed() -> TestResult {
    let replay = AzureReplay::start().await?;
    let client = telemetry_client(&replay, &workspace(&replay), None)?;
    let w = window("2025-06-01T18:00:00Z", "2025-06-01T19:00:00Z")?;
    replay.inject(FaultTarget::any(), FaultKind::MalformedBody, 1);
    let e = client
        .request_stats(w, None)
        .await
        .err()
        .ok_or("expected error")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    // The example result has none of the columns the stats need: a typed error, no panic.
    let e = client
        .request_stats(w, None)
        .await
        .err()
        .ok_or("expected error")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(e.to_string().contains("no column \"total\""), "{e}");
    replay.inject(FaultTarget::any(), FaultKind::Forbidden, 1);
    let e = client
        .top_exceptions(w, 5, None)
        .await
        .err()
        .ok_or("expected error")?;
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    replay.inject(
        FaultTarget::any(),
        FaultKind::Throttle {
            retry_after_secs: 0,
        },
        1,
    );
    replay.set_query_result(
        "AppDependencies",
        table(
            &[
                ("target", "string"),
                ("dependencyType", "string"),
                ("name", "string"),
                ("calls", "long"),
                ("failed", "long"),
                ("p95", "real"),
                ("avg", "real"),
            ],
            json!([]),
        ),
    );
    assert!(client.slowest_dependencies(w, 5, None).await?.is_empty());
    Ok(())
}

#[test]
fn invalid_ids_and_roles_are_refused() {
    let cred = std::sync::Arc::new(fleet_testkit::azure::ReplayCredential::new());
    for endpoint in [
        "https://api.loganalytics.azure.com/v1/workspaces/x/../y",
        "https://api.loganalytics.azure.com/v1/workspaces/not-a-guid",
        "https://api.loganalytics.azure.com/v1/tables/63613592-b6f7-4c3d-a390-22ba13102111",
        "http://api.loganalytics.azure.com/v1/workspaces/63613592-b6f7-4c3d-a390-22ba13102111",
    ] {
        assert!(
            TelemetryClient::new(endpoint, cred.clone(), None).is_err(),
            "{endpoint}"
        );
    }
    let o = TelemetryClientOptions {
        role_name: Some("a\" or 1==1".into()),
        ..Default::default()
    };
    assert!(
        TelemetryClient::new(
            "https://api.loganalytics.azure.com/v1/workspaces/63613592-b6f7-4c3d-a390-22ba13102111",
            cred,
            Some(o)
        )
        .is_err()
    );
    assert!(QueryResult::from_slice(b"{}").is_err());
}
