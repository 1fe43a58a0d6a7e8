//! Application Insights telemetry for the runbook's checks: request count, failure rate,
//! p50/p95/p99 duration, top exceptions and slowest dependencies over a window and a baseline
//! window ([`Telemetry`], implemented by [`TelemetryClient`]).
//!
//! Queries go to the Log Analytics query API for workspace-based Application Insights
//! (tables `AppRequests`, `AppExceptions`, `AppDependencies`) or to the classic Application
//! Insights API (`requests`, `exceptions`, `dependencies`). KQL is assembled from typed values
//! only: timestamps, integers and a [`RoleName`] whose characters are restricted and which is
//! written as an escaped string literal. Results are read by column name, and numbers sent as
//! strings (which the Log Analytics API does) are accepted.

use crate::error::{AzureError, Result};
use crate::http::Http;
use crate::options::{TelemetryOptions, TelemetrySource};
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::{Method, Transport, Url};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// A half-open time range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

impl TimeWindow {
    /// A window, checked to be non-empty.
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Self> {
        if start >= end {
            return Err(AzureError::invalid(
                "window",
                format!("start {start} is not before end {end}"),
            ));
        }
        Ok(Self { start, end })
    }

    /// The ISO 8601 interval for the API's `timespan`.
    fn timespan(&self) -> String {
        format!("{}/{}", self.start, self.end)
    }
}

/// A cloud role name to filter on. Only letters, digits and `. _ - : /` (1 to 256 characters)
/// are accepted, so the value can never change the shape of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    /// Checks and wraps a role name.
    pub fn new(name: &str) -> Result<Self> {
        let ok_len = (1..=256).contains(&name.len());
        if !ok_len
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c))
        {
            return Err(AzureError::invalid(
                "role_name",
                format!("{name:?}: use 1-256 letters, digits or . _ - : /"),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as a KQL string literal.
    fn literal(&self) -> String {
        // The character set above contains no quote or backslash; escaping anyway keeps the
        // literal correct should the set ever grow.
        format!("\"{}\"", self.0.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Request volume, failures and latency over a window.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryReport {
    /// The window under evaluation.
    pub current: WindowReport,
    /// The baseline window, when asked for.
    pub baseline: Option<WindowReport>,
}

/// Application Insights queries.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Telemetry: Send + Sync {
    /// Request count, failure rate and percentiles.
    async fn request_stats(&self, window: TimeWindow) -> Result<RequestStats>;
    /// The `top` exception groups by count.
    async fn top_exceptions(&self, window: TimeWindow, top: u32) -> Result<Vec<ExceptionCount>>;
    /// The `top` dependencies by p95 duration.
    async fn slowest_dependencies(
        &self,
        window: TimeWindow,
        top: u32,
    ) -> Result<Vec<DependencyStats>>;
    /// All of the above for `window` and, when given, `baseline`.
    async fn report(
        &self,
        window: TimeWindow,
        baseline: Option<TimeWindow>,
        top: u32,
    ) -> Result<TelemetryReport>;
}

// ---------------------------------------------------------------------------------------
// Result tables

/// One column of a result table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Declared type (`string`, `long`, `real`, `datetime`, `bool`, `dynamic`, ...).
    #[serde(rename = "type", alias = "columnType", default)]
    pub column_type: String,
}

/// One result table.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct QueryTable {
    /// Table name (`PrimaryResult`).
    pub name: String,
    /// Columns, in row order.
    pub columns: Vec<Column>,
    /// Rows of cells.
    pub rows: Vec<Vec<Value>>,
}

/// A query answer: `{"tables":[...]}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct QueryResult {
    /// Result tables.
    pub tables: Vec<QueryTable>,
}

impl QueryResult {
    /// Parses a query API answer.
    pub fn from_slice(body: &[u8]) -> Result<Self> {
        serde_json::from_slice(body)
            .map_err(|e| AzureError::response("query", format!("not a query result: {e}")))
    }

    /// `PrimaryResult`, or the first table.
    pub fn primary(&self) -> Result<&QueryTable> {
        self.tables
            .iter()
            .find(|t| t.name == "PrimaryResult")
            .or_else(|| self.tables.first())
            .ok_or_else(|| AzureError::response("query", "the answer has no table"))
    }
}

impl QueryTable {
    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                AzureError::response(
                    "query",
                    format!("table {} has no column {name:?}", self.name),
                )
            })
    }

    fn cell(&self, row: usize, col: usize) -> Result<&Value> {
        self.rows
            .get(row)
            .ok_or_else(|| AzureError::response("query", format!("no row {row}")))?
            .get(col)
            .ok_or_else(|| AzureError::response("query", format!("row {row} has no cell {col}")))
    }

    /// A number cell (`long`, `int`, `real`, ...), accepting numbers sent as strings; `None`
    /// for null, empty, or non-finite values (`NaN` from an empty percentile).
    pub fn f64_at(&self, row: usize, col: usize) -> Result<Option<f64>> {
        let value = match self.cell(row, col)? {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => match s.trim() {
                "NaN" | "Infinity" | "-Infinity" => return Ok(None),
                t => Some(t.parse::<f64>().map_err(|_| {
                    AzureError::response(
                        "query",
                        format!(
                            "column {} row {row}: {s:?} is not a number",
                            self.columns[col].name
                        ),
                    )
                })?),
            },
            other => {
                return Err(AzureError::response(
                    "query",
                    format!(
                        "column {} row {row}: {other} is not a number",
                        self.columns[col].name
                    ),
                ));
            }
        };
        Ok(value.filter(|v| v.is_finite()))
    }

    /// A non-negative count cell; null reads as 0.
    pub fn u64_at(&self, row: usize, col: usize) -> Result<u64> {
        match self.f64_at(row, col)? {
            None => Ok(0),
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= 9.007_199_254_740_992e15 => {
                Ok(v as u64)
            }
            Some(v) => Err(AzureError::response(
                "query",
                format!(
                    "column {} row {row}: {v} is not a count",
                    self.columns[col].name
                ),
            )),
        }
    }

    /// A text cell; numbers and booleans are rendered, null reads as empty.
    pub fn string_at(&self, row: usize, col: usize) -> Result<String> {
        Ok(match self.cell(row, col)? {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// A boolean cell, accepting `"True"`/`"false"` strings and 0/1.
    pub fn bool_at(&self, row: usize, col: usize) -> Result<Option<bool>> {
        Ok(match self.cell(row, col)? {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Number(n) => Some(n.as_f64().is_some_and(|v| v != 0.0)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                "" => None,
                _ => {
                    return Err(AzureError::response(
                        "query",
                        format!(
                            "column {} row {row}: {s:?} is not a boolean",
                            self.columns[col].name
                        ),
                    ));
                }
            },
            other => {
                return Err(AzureError::response(
                    "query",
                    format!(
                        "column {} row {row}: {other} is not a boolean",
                        self.columns[col].name
                    ),
                ));
            }
        })
    }
}

// ---------------------------------------------------------------------------------------
// KQL

/// Column and table names of one schema.
struct Schema {
    requests: &'static str,
    exceptions: &'static str,
    dependencies: &'static str,
    time: &'static str,
    duration: &'static str,
    success: &'static str,
    item_count: &'static str,
    role: &'static str,
    problem_id: &'static str,
    exception_type: &'static str,
    outer_message: &'static str,
    target: &'static str,
    dependency_type: &'static str,
    name: &'static str,
}

const WORKSPACE: Schema = Schema {
    requests: "AppRequests",
    exceptions: "AppExceptions",
    dependencies: "AppDependencies",
    time: "TimeGenerated",
    duration: "DurationMs",
    success: "Success",
    item_count: "ItemCount",
    role: "AppRoleName",
    problem_id: "ProblemId",
    exception_type: "ExceptionType",
    outer_message: "OuterMessage",
    target: "Target",
    dependency_type: "DependencyType",
    name: "Name",
};

const CLASSIC: Schema = Schema {
    requests: "requests",
    exceptions: "exceptions",
    dependencies: "dependencies",
    time: "timestamp",
    duration: "duration",
    success: "success",
    item_count: "itemCount",
    role: "cloud_RoleName",
    problem_id: "problemId",
    exception_type: "type",
    outer_message: "outerMessage",
    target: "target",
    dependency_type: "type",
    name: "name",
};

/// Builds the KQL this crate sends. Public so tools can show or log the exact queries.
#[derive(Clone, Debug)]
pub struct KqlBuilder {
    classic: bool,
    role: Option<RoleName>,
}

impl KqlBuilder {
    /// For the workspace (`classic == false`) or classic schema, optionally filtered by role.
    pub fn new(classic: bool, role: Option<RoleName>) -> Self {
        Self { classic, role }
    }

    fn schema(&self) -> &'static Schema {
        if self.classic { &CLASSIC } else { &WORKSPACE }
    }

    fn source(&self, table: &str, window: &TimeWindow) -> String {
        let s = self.schema();
        let mut q = format!(
            "{table}\n| where {t} >= datetime({start}) and {t} < datetime({end})",
            t = s.time,
            start = window.start,
            end = window.end
        );
        if let Some(role) = &self.role {
            q.push_str(&format!("\n| where {} == {}", s.role, role.literal()));
        }
        q
    }

    /// One row: `total`, `failed`, `p50`, `p95`, `p99`.
    pub fn requests(&self, window: &TimeWindow) -> String {
        let s = self.schema();
        format!(
            "{}\n| summarize total = sum({ic}), failed = sumif({ic}, {ok} == false), p50 = percentile({d}, 50), p95 = percentile({d}, 95), p99 = percentile({d}, 99)",
            self.source(s.requests, window),
            ic = s.item_count,
            ok = s.success,
            d = s.duration
        )
    }

    /// Rows: `problemId`, `exceptionType`, `message`, `n`.
    pub fn exceptions(&self, window: &TimeWindow, top: u32) -> String {
        let s = self.schema();
        format!(
            "{}\n| summarize n = sum({ic}) by problemId = {p}, exceptionType = {et}, message = {m}\n| top {top} by n desc",
            self.source(s.exceptions, window),
            ic = s.item_count,
            p = s.problem_id,
            et = s.exception_type,
            m = s.outer_message
        )
    }

    /// Rows: `target`, `dependencyType`, `name`, `calls`, `failed`, `p95`, `avg`.
    pub fn dependencies(&self, window: &TimeWindow, top: u32) -> String {
        let s = self.schema();
        format!(
            "{}\n| summarize calls = sum({ic}), failed = sumif({ic}, {ok} == false), p95 = percentile({d}, 95), avg = avg({d}) by target = {t}, dependencyType = {dt}, name = {n}\n| top {top} by p95 desc",
            self.source(s.dependencies, window),
            ic = s.item_count,
            ok = s.success,
            d = s.duration,
            t = s.target,
            dt = s.dependency_type,
            n = s.name
        )
    }
}

/// Reads the requests summary table.
pub fn parse_request_stats(result: &QueryResult) -> Result<RequestStats> {
    let t = result.primary()?;
    let (total, failed, p50, p95, p99) = (
        t.column("total")?,
        t.column("failed")?,
        t.column("p50")?,
        t.column("p95")?,
        t.column("p99")?,
    );
    if t.rows.is_empty() {
        return Ok(RequestStats {
            total: 0,
            failed: 0,
            failure_rate_pct: None,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
        });
    }
    let total_n = t.u64_at(0, total)?;
    let failed_n = t.u64_at(0, failed)?;
    Ok(RequestStats {
        total: total_n,
        failed: failed_n,
        failure_rate_pct: (total_n > 0).then(|| 100.0 * failed_n as f64 / total_n as f64),
        p50_ms: t.f64_at(0, p50)?,
        p95_ms: t.f64_at(0, p95)?,
        p99_ms: t.f64_at(0, p99)?,
    })
}

/// Reads the exceptions table.
pub fn parse_exceptions(result: &QueryResult) -> Result<Vec<ExceptionCount>> {
    let t = result.primary()?;
    let (p, e, m, n) = (
        t.column("problemId")?,
        t.column("exceptionType")?,
        t.column("message")?,
        t.column("n")?,
    );
    (0..t.rows.len())
        .map(|r| {
            Ok(ExceptionCount {
                problem_id: t.string_at(r, p)?,
                exception_type: t.string_at(r, e)?,
                message: t.string_at(r, m)?,
                count: t.u64_at(r, n)?,
            })
        })
        .collect()
}

/// Reads the dependencies table.
pub fn parse_dependencies(result: &QueryResult) -> Result<Vec<DependencyStats>> {
    let t = result.primary()?;
    let cols = [
        t.column("target")?,
        t.column("dependencyType")?,
        t.column("name")?,
        t.column("calls")?,
        t.column("failed")?,
        t.column("p95")?,
        t.column("avg")?,
    ];
    (0..t.rows.len())
        .map(|r| {
            Ok(DependencyStats {
                target: t.string_at(r, cols[0])?,
                dependency_type: t.string_at(r, cols[1])?,
                name: t.string_at(r, cols[2])?,
                calls: t.u64_at(r, cols[3])?,
                failed: t.u64_at(r, cols[4])?,
                p95_ms: t.f64_at(r, cols[5])?,
                avg_ms: t.f64_at(r, cols[6])?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Client

/// [`Telemetry`] over the Log Analytics or classic Application Insights query API.
#[derive(Clone, Debug)]
pub struct TelemetryClient {
    http: Http,
    url: String,
    kql: KqlBuilder,
}

impl TelemetryClient {
    /// A client for `options`, over azure_core's default HTTP client.
    pub fn new(credential: Arc<dyn TokenCredential>, options: &TelemetryOptions) -> Result<Self> {
        Self::with_transport(credential, options, None)
    }

    /// Like [`Self::new`] with a custom transport.
    pub fn with_transport(
        credential: Arc<dyn TokenCredential>,
        options: &TelemetryOptions,
        transport: Option<Transport>,
    ) -> Result<Self> {
        let role = options
            .role_name
            .as_deref()
            .map(RoleName::new)
            .transpose()?;
        let (base, scope, path, classic) = match &options.source {
            TelemetrySource::Workspace { workspace_id } => (
                &options.cloud.log_analytics,
                &options.cloud.log_analytics_scope,
                format!(
                    "/v1/workspaces/{}/query",
                    checked_id("workspace_id", workspace_id)?
                ),
                false,
            ),
            TelemetrySource::AppInsights { app_id } => (
                &options.cloud.app_insights,
                &options.cloud.app_insights_scope,
                format!("/v1/apps/{}/query", checked_id("app_id", app_id)?),
                true,
            ),
        };
        Ok(Self {
            http: Http::new(credential, scope, &options.retry, transport),
            url: format!("{}{path}", base.trim_end_matches('/')),
            kql: KqlBuilder::new(classic, role),
        })
    }

    /// The KQL builder in use.
    pub fn kql(&self) -> &KqlBuilder {
        &self.kql
    }

    /// Runs `query` over `window` and returns the raw tables.
    pub async fn run(
        &self,
        operation: &str,
        query: &str,
        window: &TimeWindow,
    ) -> Result<QueryResult> {
        let url =
            Url::parse(&self.url).map_err(|e| AzureError::invalid("endpoint", e.to_string()))?;
        let body = json!({ "query": query, "timespan": window.timespan() });
        let reply = self
            .http
            .send(operation, Method::Post, url, Some(&body))
            .await?;
        QueryResult::from_slice(&reply.body).map_err(|e| match e {
            AzureError::InvalidResponse { reason, .. } => AzureError::response(operation, reason),
            other => other,
        })
    }
}

/// Workspace and app ids are GUIDs; anything else is refused before it reaches a URL.
fn checked_id<'a>(field: &'static str, id: &'a str) -> Result<&'a str> {
    let ok =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(id)
    } else {
        Err(AzureError::invalid(field, format!("{id:?} is not a GUID")))
    }
}

#[async_trait]
impl Telemetry for TelemetryClient {
    async fn request_stats(&self, window: TimeWindow) -> Result<RequestStats> {
        let result = self
            .run("query request stats", &self.kql.requests(&window), &window)
            .await?;
        parse_request_stats(&result)
    }

    async fn top_exceptions(&self, window: TimeWindow, top: u32) -> Result<Vec<ExceptionCount>> {
        let result = self
            .run(
                "query top exceptions",
                &self.kql.exceptions(&window, top),
                &window,
            )
            .await?;
        parse_exceptions(&result)
    }

    async fn slowest_dependencies(
        &self,
        window: TimeWindow,
        top: u32,
    ) -> Result<Vec<DependencyStats>> {
        let result = self
            .run(
                "query slowest dependencies",
                &self.kql.dependencies(&window, top),
                &window,
            )
            .await?;
        parse_dependencies(&result)
    }

    async fn report(
        &self,
        window: TimeWindow,
        baseline: Option<TimeWindow>,
        top: u32,
    ) -> Result<TelemetryReport> {
        let one = |w: TimeWindow| async move {
            let (requests, top_exceptions, slowest_dependencies) = futures::try_join!(
                self.request_stats(w),
                self.top_exceptions(w, top),
                self.slowest_dependencies(w, top)
            )?;
            Ok::<_, AzureError>(WindowReport {
                window: w,
                requests,
                top_exceptions,
                slowest_dependencies,
            })
        };
        let current = one(window).await?;
        let baseline = match baseline {
            Some(b) => Some(one(b).await?),
            None => None,
        };
        Ok(TelemetryReport { current, baseline })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> TimeWindow {
        let start: Timestamp = "2025-06-01T18:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let end: Timestamp = "2025-06-01T19:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        TimeWindow { start, end }
    }

    #[test]
    fn kql_uses_typed_values_only() {
        let k = KqlBuilder::new(false, RoleName::new("fleet-api").ok());
        let q = k.requests(&window());
        assert!(q.starts_with("AppRequests\n| where TimeGenerated >= datetime(2025-06-01T18:00:00Z) and TimeGenerated < datetime(2025-06-01T19:00:00Z)"), "{q}");
        assert!(q.contains("| where AppRoleName == \"fleet-api\""));
        assert!(q.contains("sum(ItemCount)"));
        let classic = KqlBuilder::new(true, None).dependencies(&window(), 5);
        assert!(classic.starts_with("dependencies\n| where timestamp >="));
        assert!(classic.ends_with("| top 5 by p95 desc"));
    }

    #[test]
    fn role_names_cannot_inject() {
        assert!(RoleName::new("api\" | take 1 //").is_err());
        assert!(RoleName::new("").is_err());
        assert!(RoleName::new("fleet/api:v2").is_ok());
    }

    #[test]
    fn windows_must_be_ordered() {
        let w = window();
        assert!(TimeWindow::new(w.end, w.start).is_err());
        assert_eq!(w.timespan(), "2025-06-01T18:00:00Z/2025-06-01T19:00:00Z");
    }

    #[test]
    fn cells_tolerate_strings_and_nulls() -> Result<()> {
        let r = QueryResult::from_slice(
            br#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"total","type":"long"},{"name":"failed","type":"long"},{"name":"p50","type":"real"},{"name":"p95","type":"real"},{"name":"p99","type":"real"}],"rows":[["200", 3, "12.5", null, "NaN"]]}]}"#,
        )?;
        let s = parse_request_stats(&r)?;
        assert_eq!(s.total, 200);
        assert_eq!(s.failed, 3);
        assert_eq!(s.failure_rate_pct, Some(1.5));
        assert_eq!(s.p50_ms, Some(12.5));
        assert_eq!(s.p95_ms, None);
        assert_eq!(s.p99_ms, None);
        Ok(())
    }

    #[test]
    fn bad_cells_are_typed_errors() -> Result<()> {
        let r = QueryResult::from_slice(
            br#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"total","type":"long"},{"name":"failed","type":"long"},{"name":"p50","type":"real"},{"name":"p95","type":"real"},{"name":"p99","type":"real"}],"rows":[["many", 3, 1, 1, 1]]}]}"#,
        )?;
        let e = parse_request_stats(&r).err();
        assert!(e.is_some_and(|e| e.to_string().contains("\"many\" is not a number")));
        let missing = QueryResult::from_slice(
            br#"{"tables":[{"name":"PrimaryResult","columns":[],"rows":[]}]}"#,
        )?;
        assert!(parse_request_stats(&missing).is_err());
        assert!(QueryResult::from_slice(b"{\"tables\": [").is_err());
        Ok(())
    }

    #[test]
    fn guid_ids_only() {
        assert!(checked_id("w", "63613592-b6f7-4c3d-a390-22ba13102111").is_ok());
        assert!(checked_id("w", "../x").is_err());
    }
}
