//! The HTTP layer shared by the ARM and query clients: an azure_core [`Pipeline`] with a bearer
//! token policy and azure_core's retry loop driven by [`RetrySettings`], plus the mapping from
//! Azure's error answers to [`AzureError`].

use crate::error::{AzureError, ErrorKind, Result, kind_for_status};
use crate::options::RetrySettings;
use azure_core::credentials::TokenCredential;
use azure_core::http::headers::{
    HeaderName, Headers, RETRY_AFTER, RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS,
};
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::policies::{Policy, RetryHeaders, RetryPolicy};
use azure_core::http::{
    ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, RetryOptions,
    StatusCode, Transport, Url,
};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// azure_core's retry loop calls this for the schedule; the loop itself (which statuses are
/// retried, `Retry-After` honoured for 429/503 as `max(header, back-off)`) is azure_core's.
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
                delay += delay.mul_f64(f64::from(byte[0]) / 255.0 / 4.0);
            }
        }
        delay
    }
}

fn to_time(d: Duration) -> azure_core::time::Duration {
    azure_core::time::Duration::try_from(d).unwrap_or(azure_core::time::Duration::MAX)
}

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
}

/// azure_core client options with this crate's retry schedule and an optional transport.
pub(crate) fn client_options(retry: &RetrySettings, transport: Option<Transport>) -> ClientOptions {
    ClientOptions {
        retry: RetryOptions::custom(Arc::new(ScheduledRetry::new(retry.clone()))),
        transport,
        ..Default::default()
    }
}

/// One buffered answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Headers,
    pub(crate) body: azure_core::Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: &'static str) -> Option<&str> {
        self.headers
            .get_optional_str(&HeaderName::from_static(name))
    }

    pub(crate) fn json<T: DeserializeOwned>(&self, operation: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            AzureError::response(operation, format!("body is not the expected JSON: {e}"))
        })
    }
}

/// A pipeline bound to one token scope.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    pipeline: Pipeline,
}

impl Http {
    pub(crate) fn new(
        credential: Arc<dyn TokenCredential>,
        scope: &str,
        retry: &RetrySettings,
        transport: Option<Transport>,
    ) -> Self {
        let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
            credential,
            [scope.to_owned()],
        ));
        let pipeline = Pipeline::new(
            option_env!("CARGO_PKG_NAME"),
            option_env!("CARGO_PKG_VERSION"),
            client_options(retry, transport),
            Vec::new(),
            vec![auth],
            None,
        );
        Self { pipeline }
    }

    /// Sends a request and returns the answer when its status is 2xx; any other status
    /// becomes an [`AzureError`].
    pub(crate) async fn send(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply> {
        let reply = self.send_raw(operation, method, url, body).await?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(service_error(operation, &reply))
        }
    }

    /// Sends a request and returns whatever status came back (after retries).
    pub(crate) async fn send_raw(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply> {
        let mut request = Request::new(url, method);
        request.insert_header("accept", "application/json");
        if let Some(body) = body {
            request.set_json(body).map_err(|e| AzureError::Transport {
                operation: operation.to_owned(),
                source: e,
            })?;
            request.insert_header("content-type", "application/json");
        }
        tracing::debug!(operation, method = ?request.method(), path = request.url().path(), "azure request");
        let options = PipelineSendOptions {
            skip_checks: true,
            ..Default::default()
        };
        let raw = self
            .pipeline
            .send(&Context::new(), &mut request, Some(options))
            .await
            .map_err(|e| match e.kind() {
                azure_core::error::ErrorKind::Credential => AzureError::Credential {
                    operation: operation.to_owned(),
                    source: e,
                },
                _ => AzureError::Transport {
                    operation: operation.to_owned(),
                    source: e,
                },
            })?;
        let (status, headers, body) = raw.deconstruct();
        let status = u16::from(status);
        tracing::debug!(operation, status, "azure answer");
        Ok(Reply {
            status,
            headers,
            body: body.into(),
        })
    }
}

/// Azure's error body: `{"error":{"code","message"}}` (ARM, Key Vault, Log Analytics).
#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorBody>,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

/// Parses a `Retry-After` value: seconds, or an HTTP date relative to now.
pub(crate) fn parse_retry_after(headers: &Headers) -> Option<Duration> {
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

/// Builds the typed error for a non-2xx answer.
pub(crate) fn service_error(operation: &str, reply: &Reply) -> AzureError {
    let envelope: Option<ErrorEnvelope> = serde_json::from_slice(&reply.body).ok();
    let body = envelope.and_then(|e| e.error);
    let code = body
        .as_ref()
        .and_then(|b| b.code.clone())
        .or_else(|| reply.header("x-ms-error-code").map(str::to_owned));
    let message = body.and_then(|b| b.message).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&reply.body);
        let text = text.trim();
        if text.is_empty() {
            "(no error body)".to_owned()
        } else {
            text.chars().take(300).collect()
        }
    });
    let kind = kind_for_status(reply.status);
    let retry_after = if kind == ErrorKind::Throttled || reply.status == 503 {
        parse_retry_after(&reply.headers)
    } else {
        None
    };
    AzureError::Service {
        operation: operation.to_owned(),
        kind,
        status: reply.status,
        code,
        message,
        retry_after,
    }
}

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
        assert!(r.is_expired(azure_core::time::Duration::ZERO, 5));
        assert!(!r.is_expired(azure_core::time::Duration::ZERO, 4));
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
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        let mut h = Headers::new();
        h.insert(RETRY_AFTER, "Fri, 01 Jan 2021 00:00:00 GMT");
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        let mut h = Headers::new();
        h.insert(RETRY_AFTER_MS, "250");
        h.insert(RETRY_AFTER, "9");
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
        assert_eq!(parse_retry_after(&Headers::new()), None);
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        let reply = Reply {
            status: 404,
            headers: Headers::new(),
            body: br#"{"error":{"code":"ResourceNotFound","message":"gone"}}"#
                .to_vec()
                .into(),
        };
        let e = service_error("GET x", &reply);
        assert!(e.is_not_found());
        assert_eq!(e.azure_code(), Some("ResourceNotFound"));
        let reply = Reply {
            status: 502,
            headers: Headers::new(),
            body: b"<html>".to_vec().into(),
        };
        let e = service_error("GET x", &reply);
        assert!(e.is_transient());
        assert!(e.to_string().contains("<html>"));
    }
}
