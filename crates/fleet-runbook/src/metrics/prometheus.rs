//! The Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`), as in Prometheus 2.42:
//! form-encoded POSTs, the `{"status", "data": {"resultType", "result"}}` envelope, sample
//! values as strings (`"NaN"`, `"+Inf"` included), errors as `errorType` and `error`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use fleet_policy::scaling::Sample;
use jiff::Timestamp;
use reqwest::Url;
use serde::Deserialize;

use super::promql::{LabelMatcher, PromQueries, check_label};
use super::{Latency, MetricsSource, RequestMetrics, Window};
use crate::error::{Error, Result};
use crate::http::{self, Call, RetryOptions, retry_common};
use crate::secret::{Secret, check_url, url_without_query};

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS: u128 = 11_000;

/// Tunables of [`PrometheusSource`].
#[derive(Clone, Debug, PartialEq)]
pub struct PrometheusOptions {
    /// The queries.
    pub queries: PromQueries,
    /// Label matchers put into every query's `$matchers` (`job="fleet-api"`).
    pub matchers: Vec<LabelMatcher>,
    /// A bearer token, when the server sits behind an authenticating proxy (secret).
    pub bearer_token: Option<Secret>,
    /// Per-request timeout (30 s).
    pub timeout: Duration,
    /// Sent as the query's `timeout` parameter, when set (the server caps it).
    pub query_timeout: Option<Duration>,
    /// Largest answer read (8 MiB); a longer one is an error.
    pub max_response_bytes: usize,
    /// Retries of 5xx and connection failures (3 attempts, 30 s).
    pub retry: RetryOptions,
}

impl Default for PrometheusOptions {
    fn default() -> Self {
        Self {
            queries: PromQueries::default(),
            matchers: Vec::new(),
            bearer_token: None,
            timeout: Duration::from_secs(30),
            query_timeout: None,
            max_response_bytes: 8 * 1024 * 1024,
            retry: RetryOptions {
                max_attempts: 3,
                budget: Duration::from_secs(30),
                ..RetryOptions::default()
            },
        }
    }
}

impl PrometheusOptions {
    /// Adds a label matcher.
    pub fn with_matcher(mut self, matcher: LabelMatcher) -> Self {
        self.matchers.push(matcher);
        self
    }

    /// Uses these queries.
    pub fn with_queries(mut self, queries: PromQueries) -> Self {
        self.queries = queries;
        self
    }
}

/// One sample of an instant query.
#[derive(Clone, Debug, PartialEq)]
pub struct PromSample {
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// The evaluation time.
    pub at: Timestamp,
    /// The value (NaN and infinities as Prometheus sent them).
    pub value: f64,
}

/// The answer of an instant query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PromInstant {
    /// One sample per series (a scalar is one sample without labels).
    pub samples: Vec<PromSample>,
    /// Prometheus' warnings, if any.
    pub warnings: Vec<String>,
}

/// One series of a range query.
#[derive(Clone, Debug, PartialEq)]
pub struct PromSeries {
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// Its points, oldest first.
    pub points: Vec<(Timestamp, f64)>,
}

/// Request metrics from a Prometheus server.
#[derive(Clone)]
pub struct PrometheusSource {
    base_url: Url,
    options: PrometheusOptions,
    client: reqwest::Client,
}

impl fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("base_url", &url_without_query(&self.base_url))
            .field("queries", &self.options.queries)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorItem>),
    Matrix(Vec<MatrixItem>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

#[derive(Deserialize)]
struct MatrixItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// A sample value as Prometheus writes it.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// Unix seconds (with milliseconds) as Prometheus writes them.
fn parse_time(t: f64) -> Option<Timestamp> {
    if !t.is_finite() {
        return None;
    }
    Timestamp::from_millisecond((t * 1000.0).round() as i64).ok()
}

/// Unix seconds with milliseconds, as Prometheus reads them.
fn prom_time(t: Timestamp) -> String {
    let ms = t.as_millisecond();
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

impl PrometheusSource {
    /// A source reading the server at `base_url` (`http://prometheus:9090`, or with a path
    /// prefix); `None` options are the defaults (the conventional metric names).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a base URL that is not http(s), a bad template or label.
    pub fn new(base_url: Url, options: Option<PrometheusOptions>) -> Result<Self> {
        check_url("prometheus.base_url", &base_url)?;
        let options = options.unwrap_or_default();
        options.queries.check()?;
        for m in &options.matchers {
            check_label(&m.name)?;
        }
        let client = http::client(options.timeout)?;
        Ok(Self {
            base_url,
            options,
            client,
        })
    }

    fn endpoint(&self, path: &str) -> Result<Url> {
        let mut base = self.base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(path)
            .map_err(|e| Error::invalid("prometheus.base_url", e.to_string()))
    }

    async fn call(
        &self,
        path: &str,
        params: Vec<(&'static str, String)>,
    ) -> Result<(Data, Vec<String>)> {
        let url = self.endpoint(path)?;
        let token = self
            .options
            .bearer_token
            .as_ref()
            .map(|t| t.expose())
            .unwrap_or("");
        let secrets = [token];
        let call = Call {
            service: "prometheus",
            target: url_without_query(&url),
            secrets: &secrets,
            retry: &self.options.retry,
            max_body: self.options.max_response_bytes.saturating_add(1),
            retry_on: retry_common,
        };
        let mut params = params;
        if let Some(t) = self.options.query_timeout {
            params.push(("timeout", super::promql::prom_duration(t)));
        }
        let answer = http::send(&call, || {
            let mut req = self.client.post(url.clone()).form(&params);
            if let Some(t) = &self.options.bearer_token {
                req = req.bearer_auth(t.expose());
            }
            req
        })
        .await?;
        if answer.body.len() > self.options.max_response_bytes {
            return Err(Error::Response {
                service: "prometheus",
                target: call.target.clone(),
                detail: format!(
                    "the answer is larger than {} bytes (max_response_bytes)",
                    self.options.max_response_bytes
                ),
            });
        }
        let envelope: Envelope = match serde_json::from_slice(&answer.body) {
            Ok(e) => e,
            Err(e) if answer.is_success() => {
                return Err(Error::Response {
                    service: "prometheus",
                    target: call.target.clone(),
                    detail: format!("not a Prometheus API answer: {e}"),
                });
            }
            Err(_) => return Err(answer.error(&call)),
        };
        if envelope.status != "success" {
            return Err(Error::Query {
                target: call.target.clone(),
                error_type: envelope.error_type.unwrap_or_else(|| "unknown".into()),
                detail: envelope.error.unwrap_or_default(),
            });
        }
        let data = envelope.data.ok_or_else(|| Error::Response {
            service: "prometheus",
            target: call.target.clone(),
            detail: "success without data".into(),
        })?;
        Ok((data, envelope.warnings))
    }

    /// An instant query evaluated at `at`.
    ///
    /// # Errors
    /// [`Error::Query`] when Prometheus refuses or fails the query; transport and HTTP
    /// errors after retries; [`Error::Response`] for an answer of another shape.
    #[tracing::instrument(skip_all, fields(server = %url_without_query(&self.base_url)))]
    pub async fn instant(&self, query: &str, at: Timestamp) -> Result<PromInstant> {
        let (data, warnings) = self
            .call(
                "api/v1/query",
                vec![("query", query.to_owned()), ("time", prom_time(at))],
            )
            .await?;
        let samples = match data {
            Data::Vector(items) => items
                .into_iter()
                .filter_map(|i| {
                    let (t, v) = i.value?;
                    Some(PromSample {
                        labels: i.metric,
                        at: parse_time(t)?,
                        value: parse_value(&v)?,
                    })
                })
                .collect(),
            Data::Scalar((t, v)) => parse_time(t)
                .zip(parse_value(&v))
                .map(|(at, value)| PromSample {
                    labels: BTreeMap::new(),
                    at,
                    value,
                })
                .into_iter()
                .collect(),
            Data::Matrix(_) | Data::String(_) => {
                return Err(Error::Response {
                    service: "prometheus",
                    target: url_without_query(&self.base_url),
                    detail: "an instant query must give a vector or a scalar".into(),
                });
            }
        };
        Ok(PromInstant { samples, warnings })
    }

    /// A range query over `window` every `step`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a step under 1 ms or more than 11,000 points per series (refused
    /// before sending, as Prometheus would); otherwise as [`PrometheusSource::instant`].
    #[tracing::instrument(skip_all, fields(server = %url_without_query(&self.base_url)))]
    pub async fn range(
        &self,
        query: &str,
        window: Window,
        step: Duration,
    ) -> Result<Vec<PromSeries>> {
        if step.as_millis() == 0 {
            return Err(Error::invalid("step", "must be at least 1 ms"));
        }
        let points = window.length().as_millis() / step.as_millis();
        if points > MAX_POINTS {
            return Err(Error::invalid(
                "step",
                format!("{points} points per series is over Prometheus' 11,000: use a longer step"),
            ));
        }
        let (data, _warnings) = self
            .call(
                "api/v1/query_range",
                vec![
                    ("query", query.to_owned()),
                    ("start", prom_time(window.start)),
                    ("end", prom_time(window.end)),
                    ("step", super::promql::prom_duration(step)),
                ],
            )
            .await?;
        match data {
            Data::Matrix(items) => Ok(items
                .into_iter()
                .map(|i| PromSeries {
                    labels: i.metric,
                    points: i
                        .values
                        .into_iter()
                        .filter_map(|(t, v)| Some((parse_time(t)?, parse_value(&v)?)))
                        .collect(),
                })
                .collect()),
            _ => Err(Error::Response {
                service: "prometheus",
                target: url_without_query(&self.base_url),
                detail: "a range query must give a matrix".into(),
            }),
        }
    }

    /// The latency template's `quantile` at every `step` of `window`, each point computed
    /// over the `rate_window` before it (the template's `$window`), as fleet-policy samples in
    /// milliseconds (for the scaling rules' sustained-latency signal). Points without
    /// observations (NaN) are left out.
    ///
    /// # Errors
    /// As [`PrometheusSource::range`]; [`Error::Response`] when the query gives more than
    /// one series.
    pub async fn latency_samples(
        &self,
        window: Window,
        step: Duration,
        rate_window: Duration,
        quantile: f64,
    ) -> Result<Vec<Sample>> {
        let q = &self.options.queries;
        let query = q
            .latency
            .render(rate_window, &self.options.matchers, Some(quantile));
        let series = self.range(&query, window, step).await?;
        if series.len() > 1 {
            return Err(self.too_many("latency", series.len()));
        }
        Ok(series
            .into_iter()
            .flat_map(|s| s.points)
            .filter(|(_, v)| v.is_finite())
            .map(|(at, v)| Sample {
                at,
                value: q.latency_unit.to_ms(v),
            })
            .collect())
    }

    fn too_many(&self, what: &str, n: usize) -> Error {
        Error::Response {
            service: "prometheus",
            target: url_without_query(&self.base_url),
            detail: format!(
                "the {what} query gave {n} series; aggregate it to one (sum, sum by (le))"
            ),
        }
    }

    /// The single value of an instant query over `window` (`None`: no series, or NaN).
    /// `empty_is_news`: whether a query matching no series deserves a warning (not for
    /// errors: a 5xx matcher matches nothing until the first 5xx).
    async fn single(
        &self,
        what: &str,
        query: String,
        at: Timestamp,
        empty_is_news: bool,
    ) -> Result<(Option<f64>, Vec<String>)> {
        let PromInstant {
            samples,
            mut warnings,
        } = self.instant(&query, at).await?;
        match samples.as_slice() {
            [] => {
                if empty_is_news {
                    warnings.push(format!("the {what} query matched no series"));
                }
                Ok((None, warnings))
            }
            [one] => Ok((one.value.is_finite().then_some(one.value), warnings)),
            many => Err(self.too_many(what, many.len())),
        }
    }
}

/// A counter's increase as a count: rounded, never negative.
fn count(v: Option<f64>) -> u64 {
    v.filter(|v| v.is_finite() && *v > 0.0)
        .map_or(0, |v| v.round() as u64)
}

#[async_trait]
impl MetricsSource for PrometheusSource {
    fn describe(&self) -> String {
        format!("prometheus {}", url_without_query(&self.base_url))
    }

    #[tracing::instrument(skip_all, fields(server = %url_without_query(&self.base_url), %window))]
    async fn request_metrics(&self, window: Window) -> Result<RequestMetrics> {
        let q = &self.options.queries;
        let m = &self.options.matchers;
        let len = window.length();
        let at = window.end;
        let (requests, errors, p50, p95, p99) = futures::join!(
            self.single("requests", q.requests.render(len, m, None), at, true),
            self.single("errors", q.errors.render(len, m, None), at, false),
            self.single("latency", q.latency.render(len, m, Some(0.5)), at, true),
            self.single("latency", q.latency.render(len, m, Some(0.95)), at, true),
            self.single("latency", q.latency.render(len, m, Some(0.99)), at, true),
        );
        let (requests, errors, p50, p95, p99) = (requests?, errors?, p50?, p95?, p99?);
        let mut warnings: Vec<String> = Vec::new();
        for w in [&requests.1, &errors.1, &p50.1, &p95.1, &p99.1]
            .into_iter()
            .flatten()
        {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
        let unit = q.latency_unit;
        let latency = Latency {
            p50_ms: p50.0.map(|v| unit.to_ms(v)),
            p95_ms: p95.0.map(|v| unit.to_ms(v)),
            p99_ms: p99.0.map(|v| unit.to_ms(v)),
        };
        let requests = count(requests.0);
        let errors = count(errors.0);
        Ok(RequestMetrics {
            window,
            requests,
            errors,
            latency,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_as_prometheus_writes_them() {
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("1e-07"), Some(1e-7));
        assert_eq!(parse_value("x"), None);
        let t = parse_time(1435781451.781).expect("t");
        assert_eq!(t.as_millisecond(), 1_435_781_451_781);
        assert_eq!(prom_time(t), "1435781451.781");
        assert_eq!(
            prom_time(Timestamp::from_millisecond(-1).expect("t")),
            "-0.001"
        );
    }

    #[test]
    fn counts_round_and_clamp() {
        assert_eq!(count(Some(99.6)), 100);
        assert_eq!(count(Some(-1.0)), 0);
        assert_eq!(count(Some(f64::NAN)), 0);
        assert_eq!(count(None), 0);
    }
}
