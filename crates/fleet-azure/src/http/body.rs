//! The response-size cap: a transport wrapper that hands every body on as a stream and fails
//! it, with [`Error::ResponseTooLarge`], once more bytes than the cap have arrived (counted
//! after decompression, since the HTTP client decompresses before the stream). azure_core's
//! buffered `send` collects from this stream, so no answer larger than the cap is ever held.

use crate::error::Error;
use async_trait::async_trait;
use azure_core::Bytes;
use azure_core::http::headers::CONTENT_LENGTH;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{AsyncRawResponse, Context, Request, Transport};
use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};

/// Wraps the caller's transport (or azure_core's default) with the cap.
pub(crate) fn capped_transport(inner: Option<Transport>, limit: u64) -> Transport {
    Transport::with_policy(Arc::new(CappedTransport {
        inner: inner.unwrap_or_default(),
        limit,
    }))
}

#[derive(Debug)]
struct CappedTransport {
    inner: Transport,
    limit: u64,
}

#[async_trait]
impl Policy for CappedTransport {
    // The trait spells the context without its lifetime; the impl must match.
    #[allow(elided_lifetimes_in_paths)]
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        _next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let target = format!("{} {}", request.method(), request.url().path());
        let response = self.inner.send(ctx, request).await?;
        let declared = response
            .headers()
            .get_optional_str(&CONTENT_LENGTH)
            .and_then(|v| v.trim().parse::<u64>().ok());
        let too_large = || {
            Error::ResponseTooLarge {
                operation: target.clone(),
                limit: self.limit,
            }
            .into_azure()
        };
        // A declared length is the compressed size when the body is compressed, so it can only
        // refuse early; the stream below counts what is actually read.
        let compressed = response
            .headers()
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(
                "content-encoding",
            ))
            .is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
        if declared.is_some_and(|n| n > self.limit) && !compressed {
            return Err(too_large());
        }
        let (status, headers, body) = response.deconstruct();
        let capped = CappedStream {
            inner: Box::pin(body),
            seen: 0,
            limit: self.limit,
            target,
            done: false,
        };
        Ok(AsyncRawResponse::new(status, headers, Box::pin(capped)))
    }
}

struct CappedStream<S> {
    inner: Pin<Box<S>>,
    seen: u64,
    limit: u64,
    target: String,
    done: bool,
}

impl<S> Stream for CappedStream<S>
where
    S: Stream<Item = azure_core::Result<Bytes>> + Send,
{
    type Item = azure_core::Result<Bytes>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = ready!(self.inner.as_mut().poll_next(cx));
        if let Some(Ok(chunk)) = &item {
            let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            self.seen = self.seen.saturating_add(len);
            if self.seen > self.limit {
                self.done = true;
                return Poll::Ready(Some(Err(Error::ResponseTooLarge {
                    operation: self.target.clone(),
                    limit: self.limit,
                }
                .into_azure())));
            }
        }
        Poll::Ready(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{StreamExt, stream};

    #[tokio::test]
    async fn the_stream_fails_once_past_the_cap() {
        let chunks = stream::iter(vec![
            Ok(Bytes::from_static(b"1234")),
            Ok(Bytes::from_static(b"5678")),
            Ok(Bytes::from_static(b"9")),
        ]);
        let mut capped = CappedStream {
            inner: Box::pin(chunks),
            seen: 0,
            limit: 8,
            target: "GET /x".into(),
            done: false,
        };
        assert!(matches!(capped.next().await, Some(Ok(_))));
        assert!(matches!(capped.next().await, Some(Ok(_))));
        let e = capped.next().await;
        let Some(Err(e)) = e else {
            panic!("expected the cap error");
        };
        assert_eq!(
            Error::from_azure("x", e).kind(),
            crate::ErrorKind::ResponseTooLarge
        );
        assert!(capped.next().await.is_none());
    }
}
