//! Retries: the schedule azure_core's retry loop follows ([`ScheduledRetry`]), and the cap on
//! server-sent `Retry-After` values ([`RetryAfterCap`]) that every retry policy sees, whichever
//! the caller chose in `ClientOptions::retry`.

use super::Deadline;
use crate::options::RetrySettings;
use async_trait::async_trait;
use azure_core::http::headers::{
    HeaderName, Headers, RETRY_AFTER, RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS,
};
use azure_core::http::policies::{Policy, PolicyResult, RetryHeaders, RetryPolicy};
use azure_core::http::{AsyncRawResponse, Context, Request, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// The back-off azure_core's retry loop uses with [`RetrySettings`]; the loop itself (which
/// statuses are retried, `Retry-After` for 429/503 as `max(header, back-off)`) is azure_core's.
#[derive(Debug)]
pub(crate) struct ScheduledRetry {
    settings: RetrySettings,
    headers: RetryHeaders,
}

impl ScheduledRetry {
    pub(crate) fn new(settings: RetrySettings) -> Self {
        Self {
            settings,
            headers: RetryHeaders {
                retry_headers: vec![X_MS_RETRY_AFTER_MS, RETRY_AFTER_MS, RETRY_AFTER],
            },
        }
    }

    /// The back-off before retry number `retry_count` (1-based), before `Retry-After`.
    pub(crate) fn backoff(&self, retry_count: u32) -> Duration {
        let exp = retry_count.saturating_sub(1).min(30);
        let base = self.settings.initial_delay.saturating_mul(1u32 << exp);
        let mut delay = base.min(self.settings.max_delay);
        if self.settings.jitter {
            let mut byte = [0u8; 1];
            if getrandom::fill(&mut byte).is_ok() {
                // Up to 25 % extra.
                delay = delay.saturating_add(delay.mul_f64(f64::from(byte[0]) / 255.0 / 4.0));
            }
        }
        delay
    }
}

fn to_time(d: Duration) -> azure_core::time::Duration {
    azure_core::time::Duration::try_from(d).unwrap_or(azure_core::time::Duration::MAX)
}

fn from_time(d: azure_core::time::Duration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

#[async_trait]
impl RetryPolicy for ScheduledRetry {
    fn is_expired(&self, since_start: azure_core::time::Duration, retry_count: u32) -> bool {
        retry_count >= self.settings.max_retries
            || since_start >= to_time(self.settings.max_total_elapsed)
    }

    fn retry_headers(&self) -> Option<&RetryHeaders> {
        Some(&self.headers)
    }

    fn retry_status_codes(&self) -> &[StatusCode] {
        // Empty means azure_core's list: 408, 429, 500, 502, 503, 504.
        &[]
    }

    fn sleep_duration(&self, retry_count: u32) -> azure_core::time::Duration {
        to_time(self.backoff(retry_count))
    }

    async fn wait(&self, retry_count: u32, retry_after: Option<azure_core::time::Duration>) {
        let backoff = self.backoff(retry_count);
        // A negative Retry-After (which azure_core parses) counts as none.
        let server = retry_after.map(from_time);
        let wait = server.map_or(backoff, |s| s.max(backoff));
        tracing::info!(
            retry = retry_count,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            server_retry_after_ms =
                server.map(|s| u64::try_from(s.as_millis()).unwrap_or(u64::MAX)),
            "retrying an Azure request"
        );
        tokio::time::sleep(wait).await;
    }
}

/// Reads a retry hint: `x-ms-retry-after-ms`, `retry-after-ms` (milliseconds) or `Retry-After`
/// (seconds or an HTTP date). Values that do not parse (negative numbers, garbage) count as
/// none; huge ones saturate instead of overflowing.
pub(crate) fn retry_after(headers: &Headers) -> Option<Duration> {
    if let Some(ms) = headers
        .get_optional_str(&X_MS_RETRY_AFTER_MS)
        .or_else(|| headers.get_optional_str(&RETRY_AFTER_MS))
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_millis(ms));
    }
    let value = headers.get_optional_str(&RETRY_AFTER)?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = azure_core::time::parse_rfc7231(value).ok()?;
    let wait = at - azure_core::time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Cuts a server's `Retry-After` on 429/503 answers to `max` and to the time left before the
/// operation's [`Deadline`], by rewriting the headers every retry policy reads. It sits inside
/// the retry loop (a per-try policy), so the caller's own retry policy is capped too.
#[derive(Debug)]
pub(crate) struct RetryAfterCap {
    pub(crate) max: Duration,
}

#[async_trait]
impl Policy for RetryAfterCap {
    // The trait spells the context without its lifetime; the impl must match.
    #[allow(elided_lifetimes_in_paths)]
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let response = next[0].send(ctx, request, &next[1..]).await?;
        if !matches!(
            response.status(),
            StatusCode::TooManyRequests | StatusCode::ServiceUnavailable
        ) {
            return Ok(response);
        }
        let Some(asked) = retry_after(response.headers()) else {
            return Ok(response);
        };
        let left = ctx
            .value::<Deadline>()
            .map(|d| d.0.saturating_duration_since(tokio::time::Instant::now()));
        let capped = left.map_or(self.max, |l| l.min(self.max)).min(asked);
        if capped == asked {
            return Ok(response);
        }
        tracing::info!(
            status = u16::from(response.status()),
            asked_ms = u64::try_from(asked.as_millis()).unwrap_or(u64::MAX),
            capped_ms = u64::try_from(capped.as_millis()).unwrap_or(u64::MAX),
            "capped a server's Retry-After"
        );
        let (status, mut headers, body) = response.deconstruct();
        rewrite(&mut headers, capped);
        Ok(AsyncRawResponse::new(status, headers, Box::pin(body)))
    }
}

fn rewrite(headers: &mut Headers, wait: Duration) {
    let ms = u64::try_from(wait.as_millis())
        .unwrap_or(u64::MAX)
        .to_string();
    headers.insert(X_MS_RETRY_AFTER_MS, ms.clone());
    headers.insert(RETRY_AFTER_MS, ms);
    headers.insert(RETRY_AFTER, wait.as_secs().to_string());
}

/// Header names a long-running operation's answer may carry.
pub(crate) const AZURE_ASYNC_OPERATION: HeaderName =
    HeaderName::from_static("azure-asyncoperation");
pub(crate) const LOCATION: HeaderName = HeaderName::from_static("location");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_without_jitter() {
        let r = ScheduledRetry::new(RetrySettings {
            max_retries: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            max_total_elapsed: Duration::from_secs(10),
            jitter: false,
        });
        assert_eq!(r.backoff(1), Duration::from_millis(100));
        assert_eq!(r.backoff(2), Duration::from_millis(200));
        assert_eq!(r.backoff(3), Duration::from_millis(350));
        assert_eq!(r.backoff(u32::MAX), Duration::from_millis(350));
        assert!(r.is_expired(azure_core::time::Duration::ZERO, 5));
        assert!(!r.is_expired(azure_core::time::Duration::ZERO, 4));
    }

    #[test]
    fn extreme_settings_do_not_overflow() {
        let r = ScheduledRetry::new(RetrySettings {
            max_retries: u32::MAX,
            initial_delay: Duration::MAX,
            max_delay: Duration::MAX,
            max_total_elapsed: Duration::MAX,
            jitter: true,
        });
        assert_eq!(r.backoff(40), Duration::MAX);
        assert!(!r.is_expired(azure_core::time::Duration::hours(24), 1));
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        let r = ScheduledRetry::new(RetrySettings {
            initial_delay: Duration::from_millis(400),
            ..RetrySettings::default()
        });
        for _ in 0..50 {
            let d = r.backoff(1);
            assert!(
                d >= Duration::from_millis(400) && d <= Duration::from_millis(500),
                "{d:?}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let mut h = Headers::new();
        h.insert(RETRY_AFTER, "7");
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let mut h = Headers::new();
        h.insert(RETRY_AFTER, "Fri, 01 Jan 2021 00:00:00 GMT");
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        let mut h = Headers::new();
        h.insert(RETRY_AFTER_MS, "250");
        h.insert(RETRY_AFTER, "9");
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&Headers::new()), None);
        let mut h = Headers::new();
        h.insert(RETRY_AFTER, "-5");
        assert_eq!(retry_after(&h), None);
        let mut h = Headers::new();
        h.insert(RETRY_AFTER, "18446744073709551615");
        assert_eq!(retry_after(&h), Some(Duration::from_secs(u64::MAX)));
        let mut h = Headers::new();
        h.insert(RETRY_AFTER, "Fri, 31 Dec 9999 23:59:59 GMT");
        assert!(retry_after(&h).is_some_and(|d| d > Duration::from_secs(3600 * 24 * 365)));
    }

    #[test]
    fn rewritten_headers_say_the_cap_in_every_form() {
        let mut h = Headers::new();
        h.insert(RETRY_AFTER, "99999999");
        rewrite(&mut h, Duration::from_millis(1500));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        assert_eq!(h.get_optional_str(&RETRY_AFTER), Some("1"));
    }
}
