//! The HTTP layer shared by the hand-written clients: an azure_core [`Pipeline`] built from the
//! caller's [`ClientOptions`] (retry, transport, tracing), with a bearer-token policy whose
//! credential has a deadline, the `Retry-After` cap, the response-size cap, and a deadline on
//! every operation.

mod body;
mod request;
mod retry;

pub(crate) use body::capped_transport;
pub(crate) use request::{ArmRequest, resource_url, same_origin};
pub(crate) use retry::{
    AZURE_ASYNC_OPERATION, LOCATION, RetryAfterCap, ScheduledRetry, retry_after,
};

use crate::error::{Error, Result, kind_for_status};
use crate::options::Limits;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Context, Pipeline, PipelineSendOptions, Url};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The instant an operation must be done by; carried in the request [`Context`] so that the
/// `Retry-After` cap can see how much time is left.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(pub(crate) Instant);

/// One buffered answer (already within the size cap).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Headers,
    pub(crate) body: azure_core::Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get_optional_str(name)
    }

    pub(crate) fn json<T: DeserializeOwned>(&self, operation: &str) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::response(operation, format!("body is not the expected JSON: {e}")))
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The answer, or its typed error when the status is not 2xx.
    pub(crate) fn ok(self, operation: &str) -> Result<Self> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(service_error(operation, &self))
        }
    }
}

/// Builds the typed error for a non-2xx answer.
pub(crate) fn service_error(operation: &str, reply: &Reply) -> Error {
    let (code, message) = crate::error::error_body(&reply.body);
    let code = code.or_else(|| {
        reply
            .header(&HeaderName::from_static("x-ms-error-code"))
            .map(str::to_owned)
    });
    let kind = kind_for_status(reply.status);
    let retry_after = if matches!(reply.status, 429 | 503) {
        retry_after(&reply.headers)
    } else {
        None
    };
    Error::Service {
        operation: operation.to_owned(),
        kind,
        status: reply.status,
        code,
        message: message.unwrap_or_else(|| "(no error body)".to_owned()),
        retry_after,
    }
}

/// A credential whose every token fetch must finish within a deadline, so a hung metadata
/// endpoint or developer tool cannot stall an operation.
#[derive(Debug)]
pub(crate) struct DeadlineCredential {
    inner: Arc<dyn TokenCredential>,
    timeout: Duration,
}

impl DeadlineCredential {
    pub(crate) fn wrap(inner: Arc<dyn TokenCredential>, timeout: Duration) -> Arc<Self> {
        Arc::new(Self { inner, timeout })
    }
}

#[async_trait::async_trait]
impl TokenCredential for DeadlineCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        match tokio::time::timeout(self.timeout, self.inner.get_token(scopes, options)).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "an Azure token fetch did not finish in time");
                Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    format!("the token fetch did not finish within {:?}", self.timeout),
                ))
            }
        }
    }
}

/// A pipeline bound to one endpoint and token scope.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    pipeline: Pipeline,
    pub(crate) endpoint: Url,
    pub(crate) limits: Limits,
}

impl Http {
    pub(crate) fn new(
        endpoint: Url,
        credential: Arc<dyn TokenCredential>,
        scope: String,
        mut options: ClientOptions,
        limits: Limits,
    ) -> Self {
        let credential = DeadlineCredential::wrap(credential, limits.token_timeout);
        let auth: Arc<dyn Policy> =
            Arc::new(BearerTokenAuthorizationPolicy::new(credential, [scope]));
        let cap: Arc<dyn Policy> = Arc::new(RetryAfterCap {
            max: limits.max_retry_after,
        });
        options.transport = Some(capped_transport(
            options.transport.take(),
            limits.max_response_bytes,
        ));
        let pipeline = Pipeline::new(
            option_env!("CARGO_PKG_NAME"),
            option_env!("CARGO_PKG_VERSION"),
            options,
            Vec::new(),
            vec![auth, cap],
            None,
        );
        Self {
            pipeline,
            endpoint,
            limits,
        }
    }

    /// The deadline of an operation starting now.
    pub(crate) fn deadline(&self) -> Instant {
        deadline_after(self.limits.operation_timeout)
    }

    /// Sends `request` and returns whatever status came back (after retries), within the
    /// operation deadline. The body is read up to the size cap.
    pub(crate) async fn send(&self, ctx: &Context<'_>, request: &ArmRequest) -> Result<Reply> {
        let deadline = self.deadline();
        let ctx = ctx.clone().with_value(Deadline(deadline));
        let mut raw = request.to_request()?;
        tracing::debug!(request = %request.target(), "azure request");
        let options = PipelineSendOptions {
            skip_checks: true,
            ..Default::default()
        };
        let sent =
            tokio::time::timeout_at(deadline, self.pipeline.send(&ctx, &mut raw, Some(options)))
                .await
                .map_err(|_| Error::Timeout {
                    operation: request.operation.clone(),
                    after: self.limits.operation_timeout,
                    resume_token: None,
                })?
                .map_err(|e| Error::from_azure(&request.operation, e))?;
        let (status, headers, body) = sent.deconstruct();
        let status = u16::from(status);
        tracing::debug!(request = %request.target(), status, "azure answer");
        Ok(Reply {
            status,
            headers,
            body: body.into(),
        })
    }

    /// Sends `request` and returns the answer when its status is 2xx.
    pub(crate) async fn send_ok(&self, ctx: &Context<'_>, request: &ArmRequest) -> Result<Reply> {
        self.send(ctx, request).await?.ok(&request.operation)
    }
}

/// `now + after`, saturating far in the future instead of overflowing.
pub(crate) fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(Duration::from_secs(30 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn huge_deadlines_saturate() {
        let d = deadline_after(Duration::MAX);
        assert!(d > Instant::now());
    }
}
