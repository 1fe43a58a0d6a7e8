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

mod kql;
mod model;
mod table;

pub use kql::{KqlBuilder, RoleName};
pub use model::{
    DependencyStats, ExceptionCount, RequestStats, TelemetryReport, TimeWindow, WindowReport,
};
pub use table::{
    Column, QueryResult, QueryTable, parse_dependencies, parse_exceptions, parse_request_stats,
};

use crate::arm::parse_endpoint;
use crate::error::{Error, Result};
use crate::http::{ArmRequest, Http, resource_url};
use crate::names::validate_guid;
use crate::options::{AzureCloud, Limits, ReadOptions, RetrySettings, Service, token_scope};
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Method, Url};
use serde_json::json;
use std::sync::Arc;

/// Which query API serves Application Insights data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TelemetrySource {
    /// Workspace-based Application Insights through the Log Analytics query API
    /// (`/v1/workspaces/{id}/query`, tables `AppRequests`, `AppExceptions`, `AppDependencies`).
    Workspace {
        /// Log Analytics workspace id (a GUID).
        workspace_id: String,
    },
    /// The classic Application Insights API (`/v1/apps/{id}/query`, tables `requests`,
    /// `exceptions`, `dependencies`).
    AppInsights {
        /// Application Insights application id (a GUID).
        app_id: String,
    },
}

impl TelemetrySource {
    /// The endpoint of this source in `cloud`, for [`TelemetryClient::new`].
    pub fn endpoint(&self, cloud: &AzureCloud) -> String {
        match self {
            Self::Workspace { workspace_id } => format!(
                "{}/v1/workspaces/{workspace_id}",
                cloud.log_analytics.trim_end_matches('/')
            ),
            Self::AppInsights { app_id } => format!(
                "{}/v1/apps/{app_id}",
                cloud.app_insights.trim_end_matches('/')
            ),
        }
    }
}

/// Options of a [`TelemetryClient`].
#[derive(Clone, Debug)]
pub struct TelemetryClientOptions {
    /// azure_core's client options (retry, transport, logging, tracing, cloud).
    pub client_options: ClientOptions,
    /// The token audience instead of the cloud's.
    pub audience: Option<String>,
    /// Only this cloud role (`AppRoleName` / `cloud_RoleName`), when a workspace holds several
    /// applications. Checked by [`RoleName`]'s rules.
    pub role_name: Option<String>,
    /// Deadlines and caps (query answers can be large: raise `max_response_bytes` for big
    /// custom queries).
    pub limits: Limits,
}

impl Default for TelemetryClientOptions {
    fn default() -> Self {
        Self {
            client_options: ClientOptions {
                retry: RetrySettings::default().into(),
                ..Default::default()
            },
            audience: None,
            role_name: None,
            limits: Limits::default(),
        }
    }
}

/// Application Insights queries.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Telemetry: Send + Sync {
    /// Request count, failure rate and percentiles.
    async fn request_stats<'a>(
        &self,
        window: TimeWindow,
        options: Option<ReadOptions<'a>>,
    ) -> Result<RequestStats>;
    /// The `top` exception groups by count.
    async fn top_exceptions<'a>(
        &self,
        window: TimeWindow,
        top: u32,
        options: Option<ReadOptions<'a>>,
    ) -> Result<Vec<ExceptionCount>>;
    /// The `top` dependencies by p95 duration.
    async fn slowest_dependencies<'a>(
        &self,
        window: TimeWindow,
        top: u32,
        options: Option<ReadOptions<'a>>,
    ) -> Result<Vec<DependencyStats>>;
    /// All of the above for `window` and, when given, `baseline`.
    async fn report<'a>(
        &self,
        window: TimeWindow,
        baseline: Option<TimeWindow>,
        top: u32,
        options: Option<ReadOptions<'a>>,
    ) -> Result<TelemetryReport>;
}

/// [`Telemetry`] over the Log Analytics or classic Application Insights query API.
#[derive(Clone, Debug)]
pub struct TelemetryClient {
    http: Http,
    query_url: Url,
    kql: KqlBuilder,
}

impl TelemetryClient {
    /// A client for the query resource at `endpoint`: a Log Analytics workspace
    /// (`https://api.loganalytics.azure.com/v1/workspaces/{id}`) or a classic Application
    /// Insights application (`https://api.applicationinsights.io/v1/apps/{id}`), as
    /// [`TelemetrySource::endpoint`] builds them. The token scope follows the kind (Log
    /// Analytics or Application Insights) and the cloud in the options.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an endpoint that is not `https` or does not end in
    /// `/v1/workspaces/{guid}` or `/v1/apps/{guid}`, or an invalid role name.
    pub fn new(
        endpoint: &str,
        credential: Arc<dyn TokenCredential>,
        options: Option<TelemetryClientOptions>,
    ) -> Result<Self> {
        let options = options.unwrap_or_default();
        let url = parse_endpoint(endpoint)?;
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        let (classic, service) = match segments.as_slice() {
            [.., "v1", "workspaces", id] => {
                validate_guid("workspace_id", id)?;
                (false, Service::LogAnalytics)
            }
            [.., "v1", "apps", id] => {
                validate_guid("app_id", id)?;
                (true, Service::AppInsights)
            }
            _ => {
                return Err(Error::invalid(
                    "endpoint",
                    format!("{endpoint:?} names no /v1/workspaces/{{id}} or /v1/apps/{{id}}"),
                ));
            }
        };
        let role = options
            .role_name
            .as_deref()
            .map(RoleName::new)
            .transpose()?;
        let scope = token_scope(
            service,
            options.audience.as_deref(),
            options.client_options.cloud.as_deref(),
        )?;
        let query_url = resource_url(&url, &["query"], &[])?;
        Ok(Self {
            http: Http::new(
                url,
                credential,
                scope,
                options.client_options,
                options.limits,
            ),
            query_url,
            kql: KqlBuilder::new(classic, role),
        })
    }

    /// The KQL builder in use.
    pub fn kql(&self) -> &KqlBuilder {
        &self.kql
    }

    /// Runs `query` over `window` and returns the raw tables.
    ///
    /// # Errors
    /// As every request; [`crate::ErrorKind::InvalidResponse`] when the answer has no tables.
    #[tracing::instrument(skip_all, fields(endpoint = %self.http.endpoint, operation))]
    pub async fn run(
        &self,
        operation: &str,
        query: &str,
        window: &TimeWindow,
        options: Option<ReadOptions<'_>>,
    ) -> Result<QueryResult> {
        let options = options.unwrap_or_default();
        let request = ArmRequest::new(operation, Method::Post, self.query_url.clone())
            .with_json(json!({ "query": query, "timespan": window.timespan() }));
        let reply = self
            .http
            .send_ok(&options.method_options.context, &request)
            .await?;
        QueryResult::from_slice(&reply.body).map_err(|e| match e {
            Error::InvalidResponse { reason, .. } => Error::response(operation, reason),
            other => other,
        })
    }
}

fn reborrow<'a>(options: &Option<ReadOptions<'a>>) -> Option<ReadOptions<'a>> {
    options.clone()
}

#[async_trait]
impl Telemetry for TelemetryClient {
    async fn request_stats<'a>(
        &self,
        window: TimeWindow,
        options: Option<ReadOptions<'a>>,
    ) -> Result<RequestStats> {
        let result = self
            .run(
                "query request stats",
                &self.kql.requests(&window),
                &window,
                options,
            )
            .await?;
        parse_request_stats(&result)
    }

    async fn top_exceptions<'a>(
        &self,
        window: TimeWindow,
        top: u32,
        options: Option<ReadOptions<'a>>,
    ) -> Result<Vec<ExceptionCount>> {
        let result = self
            .run(
                "query top exceptions",
                &self.kql.exceptions(&window, top),
                &window,
                options,
            )
            .await?;
        parse_exceptions(&result)
    }

    async fn slowest_dependencies<'a>(
        &self,
        window: TimeWindow,
        top: u32,
        options: Option<ReadOptions<'a>>,
    ) -> Result<Vec<DependencyStats>> {
        let result = self
            .run(
                "query slowest dependencies",
                &self.kql.dependencies(&window, top),
                &window,
                options,
            )
            .await?;
        parse_dependencies(&result)
    }

    #[tracing::instrument(skip_all, fields(endpoint = %self.http.endpoint, top))]
    async fn report<'a>(
        &self,
        window: TimeWindow,
        baseline: Option<TimeWindow>,
        top: u32,
        options: Option<ReadOptions<'a>>,
    ) -> Result<TelemetryReport> {
        let one = |w: TimeWindow| {
            let options = options.clone();
            async move {
                let (requests, top_exceptions, slowest_dependencies) = futures::try_join!(
                    self.request_stats(w, reborrow(&options)),
                    self.top_exceptions(w, top, reborrow(&options)),
                    self.slowest_dependencies(w, top, reborrow(&options))
                )?;
                Ok::<_, Error>(WindowReport {
                    window: w,
                    requests,
                    top_exceptions,
                    slowest_dependencies,
                })
            }
        };
        let current = one(window).await?;
        let baseline = match baseline {
            Some(b) => Some(one(b).await?),
            None => None,
        };
        Ok(TelemetryReport { current, baseline })
    }
}
