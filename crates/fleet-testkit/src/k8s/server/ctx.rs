//! What a request handler sees: the shared state, the query, the headers and the body.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::k8s::auth::Identity;
use crate::k8s::protobuf;
use crate::k8s::selector::{FieldSelector, LabelSelector};
use crate::k8s::shared::Shared;
use crate::k8s::status::ApiError;

pub(crate) struct Ctx<'a> {
    pub(crate) sh: &'a Shared,
    /// Who the request acts as (after impersonation).
    pub(crate) id: Identity,
    pub(crate) q: HashMap<String, String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Ctx<'_> {
    /// A query parameter, when present and not empty.
    pub(crate) fn param(&self, k: &str) -> Option<&str> {
        self.q.get(k).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }

    /// Whether the client asked for a server-side `Table` (`kubectl get`).
    pub(crate) fn wants_table(&self) -> bool {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("as=Table"))
    }

    /// The body as JSON (or decoded from the protobuf kubectl sends for HPAs).
    pub(crate) fn body_json(&self) -> Result<Value, ApiError> {
        let ct = self.content_type();
        let base = ct.split(';').next().unwrap_or("").trim();
        if base == protobuf::CONTENT_TYPE {
            return protobuf::decode(&self.body);
        }
        if !base.is_empty() && !base.contains("json") && base != "*/*" {
            return Err(ApiError::unsupported_media_type(ct));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })
    }

    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The request's `labelSelector` and `fieldSelector`.
    pub(crate) fn selectors(&self) -> Result<(LabelSelector, FieldSelector), ApiError> {
        Ok((
            LabelSelector::parse(self.param("labelSelector").unwrap_or(""))?,
            FieldSelector::parse(self.param("fieldSelector").unwrap_or(""))?,
        ))
    }
}
