//! HTTP plumbing shared by the notifiers and the Prometheus source: one client per user, a
//! retry loop under a budget that honours (and caps) `Retry-After`, capped body reads, and
//! error texts that never contain a URL's secret parts.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::secret::{Secret, scrub};

/// How a failed request is tried again: attempts, back-off, the cap on a server's
/// `Retry-After`, and a total budget (waits included) after which the last error is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryOptions {
    /// Requests at most, the first included (4).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one (500 ms).
    #[serde(with = "millis")]
    pub initial_backoff: Duration,
    /// Longest back-off (8 s).
    #[serde(with = "millis")]
    pub max_backoff: Duration,
    /// A server's `Retry-After` is honoured up to this (60 s); longer requests are cut to it.
    #[serde(with = "millis")]
    pub max_retry_after: Duration,
    /// Time for all attempts and waits together (90 s). A wait that would end after the
    /// budget is not started: the last error is returned instead.
    #[serde(with = "millis")]
    pub budget: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            budget: Duration::from_secs(90),
        }
    }
}

impl RetryOptions {
    /// One attempt, no retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The back-off before attempt `next` (2, 3, ...).
    fn backoff(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(20);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
}

/// Durations in milliseconds in serialized options.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A finished exchange: the final status and (capped) body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) attempts: u32,
    pub(crate) retry_after: Option<Duration>,
}

impl Answer {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (lossy), at most 500 characters, scrubbed of `secrets`.
    pub(crate) fn excerpt(&self, secrets: &[&str]) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        let cut: String = text.chars().take(500).collect();
        let cut = if cut.len() < text.len() {
            format!("{cut}…")
        } else {
            cut
        };
        scrub(&cut, secrets)
    }

    /// The error for a non-success answer.
    pub(crate) fn error(&self, call: &Call<'_>) -> Error {
        let body = self.excerpt(call.secrets);
        let detail = if body.is_empty() {
            StatusCode::from_u16(self.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no body")
                .to_owned()
        } else {
            body
        };
        Error::Http {
            service: call.service,
            target: call.target.clone(),
            status: self.status,
            attempts: self.attempts,
            detail,
            retry_after: self.retry_after,
        }
    }
}

/// One logical call: who it is for, where (shown), what must never be shown, how to retry.
pub(crate) struct Call<'a> {
    pub(crate) service: &'static str,
    pub(crate) target: String,
    pub(crate) secrets: &'a [&'a str],
    pub(crate) retry: &'a RetryOptions,
    pub(crate) max_body: usize,
    /// Statuses worth another attempt (besides connection errors).
    pub(crate) retry_on: fn(u16) -> bool,
}

/// 408, 429 and 5xx: the statuses every vendor here documents as worth retrying.
pub(crate) fn retry_common(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Builds a client: a per-request timeout, no redirects (a redirect could carry a payload or
/// a credential to another host), no proxy from the environment.
pub(crate) fn client(timeout: Duration) -> Result<Client> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("fleet-runbook/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::invalid("http client", e.without_url().to_string()))
}

/// Sends the request `make` builds, again while the answer or failure is worth retrying and
/// the budget allows. Returns the final answer (any status) or a transport error.
pub(crate) async fn send(call: &Call<'_>, make: impl Fn() -> RequestBuilder) -> Result<Answer> {
    let started = Instant::now();
    let max_attempts = call.retry.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = make().send().await;
        let (wait, last) = match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(&response, Timestamp::now());
                if !(call.retry_on)(status) || attempt >= max_attempts {
                    let body = read_capped(response, call.max_body).await;
                    return Ok(Answer {
                        status,
                        body,
                        attempts: attempt,
                        retry_after,
                    });
                }
                let wait = match retry_after {
                    Some(asked) => asked.min(call.retry.max_retry_after),
                    None => call.retry.backoff(attempt + 1),
                };
                let body = read_capped(response, call.max_body).await;
                (
                    wait,
                    Last::Answer(Answer {
                        status,
                        body,
                        attempts: attempt,
                        retry_after,
                    }),
                )
            }
            Err(e) => {
                let err = Error::Transport {
                    service: call.service,
                    target: call.target.clone(),
                    attempts: attempt,
                    timeout: e.is_timeout(),
                    detail: scrub(&describe(&e), call.secrets),
                };
                if attempt >= max_attempts {
                    return Err(err);
                }
                (call.retry.backoff(attempt + 1), Last::Failed(err))
            }
        };
        if started.elapsed().saturating_add(wait) > call.retry.budget {
            tracing::debug!(
                service = call.service,
                target = %call.target,
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retry budget exhausted"
            );
            return match last {
                Last::Answer(answer) => Ok(answer),
                Last::Failed(err) => Err(err),
            };
        }
        tracing::debug!(
            service = call.service,
            target = %call.target,
            attempt,
            status = match &last { Last::Answer(a) => a.status, Last::Failed(_) => 0 },
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

enum Last {
    Answer(Answer),
    Failed(Error),
}

/// A reqwest error without its URL, with its causes.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    let mut depth = 0;
    while let Some(cause) = source {
        let s = cause.to_string();
        if !text.ends_with(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = cause.source();
        depth += 1;
        if depth > 4 {
            break;
        }
    }
    text
}

/// Reads at most `cap` bytes of the body; a read error ends the body where it happened.
pub(crate) async fn read_capped(mut response: Response, cap: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body
}

/// Request headers from names and secret values, checked; values are marked sensitive.
pub(crate) fn header_map<'a>(
    field: &str,
    headers: impl Iterator<Item = (&'a str, &'a Secret)>,
) -> Result<reqwest::header::HeaderMap> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid(field, format!("{name:?} is not a header name")))?;
        let mut v = HeaderValue::from_str(value.expose()).map_err(|_| {
            Error::invalid(
                field,
                format!("the value of {name} is not a valid header value"),
            )
        })?;
        v.set_sensitive(true);
        map.append(n, v);
    }
    Ok(map)
}

/// `Retry-After` as seconds or an HTTP date (a date in the past is zero).
fn retry_after(response: &Response, now: Timestamp) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    parse_retry_after(value, now)
}

pub(crate) fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now: Timestamp = "2015-10-21T07:27:00Z".parse().expect("ts");
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = RetryOptions::default();
        assert_eq!(r.backoff(2), Duration::from_millis(500));
        assert_eq!(r.backoff(3), Duration::from_secs(1));
        assert_eq!(r.backoff(6), Duration::from_secs(8));
        assert_eq!(r.backoff(60), Duration::from_secs(8));
    }
}
