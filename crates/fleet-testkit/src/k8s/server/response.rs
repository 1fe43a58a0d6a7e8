//! Building responses: JSON and raw bodies, `Status` errors, and list bodies assembled from the
//! stored serializations.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::k8s::resources::ResourceType;
use crate::k8s::status::ApiError;
use crate::k8s::store::Stored;

/// A JSON body with the given status code.
pub(crate) fn json_response(code: u16, v: &Value) -> Response {
    // Serializing a `Value` cannot fail.
    bytes_response(
        code,
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        "application/json",
    )
}

/// A body of the given content type.
pub(crate) fn bytes_response(code: u16, body: Bytes, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON body that is already serialized, status 200.
pub(crate) fn json_bytes(body: Bytes) -> Response {
    bytes_response(200, body, "application/json")
}

/// The `Status` body of an error (429 also carries `Retry-After`).
pub(crate) fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if e.code == 429 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// A streamed body (watch frames, followed logs) with the given content type.
pub(crate) fn stream_response(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    content_type: &'static str,
) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Builds a list body from stored JSON without re-serializing the items.
pub(crate) fn list_body(
    rt: &ResourceType,
    rv: u64,
    cont: Option<&str>,
    remaining: Option<usize>,
    items: &[Arc<Stored>],
) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        meta["remainingItemCount"] = json!(r);
    }
    let head = format!(
        "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        rt.list_kind(),
        rt.api_version(),
        meta
    );
    let len: usize = items.iter().map(|i| i.item.len() + 1).sum::<usize>() + head.len() + 2;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(head.as_bytes());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item.item);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}
