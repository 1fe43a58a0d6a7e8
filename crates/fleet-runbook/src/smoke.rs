//! Smoke tests of the critical paths (the runbook's login flow, vehicle dashboard, GPS
//! tracking, work orders): configurable HTTP checks (method, URL, headers, body, expected
//! status, a body substring or regex, a latency budget), run concurrently under one deadline.
//! The result converts to fleet-policy's smoke-test input, where a failed critical path is
//! "critical functionality broken".
//!
//! Redirects are not followed (a check that expects a `302` after a login says so); header
//! values and request bodies are secrets (test credentials) and never appear in results.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use regex::Regex;
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::http::{self, describe};
use crate::secret::{Secret, check_url, url_without_query};

/// What the body must contain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyMatch {
    /// A substring.
    Contains(String),
    /// A regular expression (Rust `regex` syntax), found anywhere in the body.
    Regex(String),
}

/// One HTTP check of a critical path.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SmokeCheck {
    /// The critical path, as the policy names it (`login flow`).
    pub name: String,
    /// The method (`GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// The URL (its query is not shown in results).
    pub url: String,
    /// Request headers; values are secret (a session token).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// A request body (secret: it may hold test credentials).
    #[serde(default)]
    pub body: Option<Secret>,
    /// Statuses that pass; empty means any 2xx.
    #[serde(default)]
    pub expect_status: Vec<u16>,
    /// What the body must contain, if anything.
    #[serde(default)]
    pub expect_body: Option<BodyMatch>,
    /// Longest acceptable time to the end of the body, in milliseconds (2000).
    #[serde(default = "default_budget_ms", rename = "latency_budget_ms")]
    pub latency_budget_ms: u64,
}

fn default_method() -> String {
    "GET".into()
}

fn default_budget_ms() -> u64 {
    2000
}

impl SmokeCheck {
    /// A `GET` of `url` expecting any 2xx within 2 s.
    pub fn get(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            method: default_method(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
            expect_status: Vec::new(),
            expect_body: None,
            latency_budget_ms: default_budget_ms(),
        }
    }

    /// A `POST` of `body` to `url`.
    pub fn post(name: impl Into<String>, url: impl Into<String>, body: Secret) -> Self {
        Self {
            method: "POST".into(),
            body: Some(body),
            ..Self::get(name, url)
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: Secret) -> Self {
        self.headers.insert(name.into(), value);
        self
    }

    /// Passes only on these statuses.
    pub fn with_status(mut self, statuses: &[u16]) -> Self {
        self.expect_status = statuses.to_vec();
        self
    }

    /// The body must match.
    pub fn with_body_match(mut self, m: BodyMatch) -> Self {
        self.expect_body = Some(m);
        self
    }

    /// Sets the latency budget.
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.latency_budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX);
        self
    }
}

/// How the checks run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmokeOptions {
    /// All checks end by then (30 s); one still running fails with "deadline".
    #[serde(with = "crate::http::millis", rename = "deadline_ms")]
    pub deadline: Duration,
    /// Checks running at once (8).
    pub max_concurrency: usize,
    /// Body bytes read per check (1 MiB); body matching sees only these.
    pub max_body_bytes: usize,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30),
            max_concurrency: 8,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Why a check failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
#[non_exhaustive]
pub enum SmokeFailure {
    /// The status was not one expected.
    Status {
        /// What passes (empty: any 2xx).
        expected: Vec<u16>,
        /// What came.
        got: u16,
    },
    /// The body did not match.
    Body {
        /// The substring or pattern.
        expected: String,
    },
    /// It answered, but over the budget.
    Slow {
        /// The budget, ms.
        budget_ms: u64,
        /// The time taken, ms.
        took_ms: u64,
    },
    /// No answer (connection refused, reset, TLS...).
    Transport {
        /// What happened.
        detail: String,
    },
    /// The run's deadline passed first.
    Deadline,
}

impl std::fmt::Display for SmokeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmokeFailure::Status { expected, got } if expected.is_empty() => {
                write!(f, "HTTP {got}, expected 2xx")
            }
            SmokeFailure::Status { expected, got } => {
                write!(f, "HTTP {got}, expected {expected:?}")
            }
            SmokeFailure::Body { expected } => write!(f, "body does not match {expected:?}"),
            SmokeFailure::Slow { budget_ms, took_ms } => {
                write!(f, "took {took_ms} ms, over the {budget_ms} ms budget")
            }
            SmokeFailure::Transport { detail } => write!(f, "no answer: {detail}"),
            SmokeFailure::Deadline => f.write_str("not finished by the deadline"),
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeResult {
    /// The critical path.
    pub name: String,
    /// The method.
    pub method: String,
    /// The URL without its query.
    pub url: String,
    /// Whether it passed.
    pub passed: bool,
    /// The status, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Time to the end of the body (or to the failure), ms.
    pub latency_ms: u64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<SmokeFailure>,
}

/// All checks of one run, in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeReport {
    /// When the run started.
    pub started_at: Timestamp,
    /// How long it took, ms.
    pub elapsed_ms: u64,
    /// The results.
    pub results: Vec<SmokeResult>,
}

impl SmokeReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }

    /// fleet-policy's smoke-test input (`rollback.smoke-tests`).
    pub fn smoke_tests(&self) -> Vec<fleet_policy::rollback::SmokeTest> {
        self.results
            .iter()
            .map(|r| fleet_policy::rollback::SmokeTest {
                path: r.name.clone(),
                passed: r.passed,
                detail: r
                    .failure
                    .as_ref()
                    .map(|f| format!("{} {}: {f}", r.method, r.url)),
            })
            .collect()
    }
}

struct Prepared {
    name: String,
    method: Method,
    url: Url,
    headers: reqwest::header::HeaderMap,
    body: Option<Secret>,
    expect_status: Vec<u16>,
    expect_body: Option<(String, Matcher)>,
    budget_ms: u64,
}

enum Matcher {
    Contains(String),
    Regex(Regex),
}

fn prepare(i: usize, c: &SmokeCheck) -> Result<Prepared> {
    let field = |f: &str| format!("smoke[{i}].{f}");
    if c.name.trim().is_empty() {
        return Err(Error::invalid(field("name"), "must not be empty"));
    }
    let method =
        Method::from_bytes(c.method.trim().to_ascii_uppercase().as_bytes()).map_err(|_| {
            Error::invalid(
                field("method"),
                format!("{:?} is not an HTTP method", c.method),
            )
        })?;
    let url = Url::parse(c.url.trim())
        .map_err(|e| Error::invalid(field("url"), format!("not a URL ({e})")))?;
    check_url(&field("url"), &url)?;
    let headers = http::header_map(
        &field("headers"),
        c.headers.iter().map(|(k, v)| (k.as_str(), v)),
    )?;
    let expect_body = match &c.expect_body {
        None => None,
        Some(BodyMatch::Contains(s)) => Some((s.clone(), Matcher::Contains(s.clone()))),
        Some(BodyMatch::Regex(p)) => Some((
            p.clone(),
            Matcher::Regex(
                Regex::new(p)
                    .map_err(|e| Error::invalid(field("expect_body"), format!("bad regex: {e}")))?,
            ),
        )),
    };
    if let Some(bad) = c.expect_status.iter().find(|s| !(100..=599).contains(*s)) {
        return Err(Error::invalid(
            field("expect_status"),
            format!("{bad} is not an HTTP status"),
        ));
    }
    Ok(Prepared {
        name: c.name.trim().to_owned(),
        method,
        url,
        headers,
        body: c.body.clone(),
        expect_status: c.expect_status.clone(),
        expect_body,
        budget_ms: c.latency_budget_ms,
    })
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn run_one(client: &reqwest::Client, p: &Prepared, max_body: usize) -> SmokeResult {
    let started = std::time::Instant::now();
    let mut result = SmokeResult {
        name: p.name.clone(),
        method: p.method.to_string(),
        url: url_without_query(&p.url),
        passed: false,
        status: None,
        latency_ms: 0,
        failure: None,
    };
    let mut req = client
        .request(p.method.clone(), p.url.clone())
        .headers(p.headers.clone());
    if let Some(body) = &p.body {
        req = req.body(body.expose().to_owned());
    }
    let response = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            result.latency_ms = ms(started.elapsed());
            result.failure = Some(SmokeFailure::Transport {
                detail: describe(&e),
            });
            return result;
        }
    };
    let status = response.status().as_u16();
    result.status = Some(status);
    let body = http::read_capped(response, max_body).await;
    result.latency_ms = ms(started.elapsed());
    let status_ok = if p.expect_status.is_empty() {
        (200..300).contains(&status)
    } else {
        p.expect_status.contains(&status)
    };
    result.failure = if !status_ok {
        Some(SmokeFailure::Status {
            expected: p.expect_status.clone(),
            got: status,
        })
    } else if let Some((shown, m)) = &p.expect_body {
        let text = String::from_utf8_lossy(&body);
        let found = match m {
            Matcher::Contains(s) => text.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(&text),
        };
        (!found).then(|| SmokeFailure::Body {
            expected: shown.clone(),
        })
    } else {
        None
    };
    if result.failure.is_none() && result.latency_ms > p.budget_ms {
        result.failure = Some(SmokeFailure::Slow {
            budget_ms: p.budget_ms,
            took_ms: result.latency_ms,
        });
    }
    result.passed = result.failure.is_none();
    result
}

/// Runs `checks` concurrently (at most `max_concurrency` at once) until they finish or the
/// deadline passes (`None` options: the defaults). Every configuration problem is reported before any request is made.
///
/// # Errors
/// [`Error::InvalidInput`] naming the check and field (`smoke[2].expect_body`): an empty name,
/// a bad method, URL, header, status or regex. Failed checks are results, not errors.
#[tracing::instrument(skip_all, fields(checks = checks.len()))]
pub async fn run_smoke_tests(
    checks: &[SmokeCheck],
    options: Option<SmokeOptions>,
) -> Result<SmokeReport> {
    let options = options.unwrap_or_default();
    let prepared = checks
        .iter()
        .enumerate()
        .map(|(i, c)| prepare(i, c))
        .collect::<Result<Vec<_>>>()?;
    // The run's deadline governs; the client's own timeout is only a backstop behind it.
    let client = http::client(options.deadline.saturating_add(Duration::from_secs(1)))?;
    let started_at = Timestamp::now();
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + options.deadline;
    let client = &client;
    let max_body = options.max_body_bytes;
    let mut results: Vec<(usize, SmokeResult)> = futures::stream::iter(prepared.iter().enumerate())
        .map(|(i, p)| async move {
            let began = std::time::Instant::now();
            let r = match tokio::time::timeout_at(deadline, run_one(client, p, max_body)).await {
                Ok(r) => r,
                Err(_) => SmokeResult {
                    name: p.name.clone(),
                    method: p.method.to_string(),
                    url: url_without_query(&p.url),
                    passed: false,
                    status: None,
                    latency_ms: ms(began.elapsed()),
                    failure: Some(SmokeFailure::Deadline),
                },
            };
            tracing::debug!(check = %r.name, passed = r.passed, latency_ms = r.latency_ms, "smoke test");
            (i, r)
        })
        .buffer_unordered(options.max_concurrency.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    Ok(SmokeReport {
        started_at,
        elapsed_ms: ms(started.elapsed()),
        results: results.into_iter().map(|(_, r)| r).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn configuration_errors_come_before_any_request() {
        let checks = [
            SmokeCheck::get("login flow", "http://127.0.0.1:9/"),
            SmokeCheck::get("work orders", "http://127.0.0.1:9/")
                .with_body_match(BodyMatch::Regex("([".into())),
        ];
        let e = run_smoke_tests(&checks, None).await.expect_err("bad regex");
        assert!(e.to_string().contains("smoke[1].expect_body"), "{e}");
        let e = run_smoke_tests(&[SmokeCheck::get("x", "file:///etc/passwd")], None)
            .await
            .expect_err("scheme");
        assert!(e.is_invalid_input());
        let mut bad = SmokeCheck::get("x", "http://h/");
        bad.method = "GE T".into();
        assert!(run_smoke_tests(&[bad], None).await.is_err());
    }

    #[test]
    fn checks_deserialize_with_defaults() {
        let c: SmokeCheck = serde_json::from_str(
            r#"{"name": "gps tracking", "url": "http://app/api/gps", "headers": {"Authorization": "Bearer t0k"},
                "expect_body": {"regex": "\"lat\":\\s*-?\\d"}}"#,
        )
        .expect("check");
        assert_eq!(c.method, "GET");
        assert_eq!(c.latency_budget_ms, 2000);
        assert!(!format!("{c:?}").contains("t0k"));
    }
}
