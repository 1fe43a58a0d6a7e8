//! `Status` error bodies with the reasons and codes the real API server uses.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// An API error as the server reports it: an HTTP code, a `reason` and a message, rendered as
/// a `meta/v1` `Status` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...).
    pub reason: &'static str,
    /// Human-readable message, worded like the real server's.
    pub message: String,
    /// `details`, when the real server sends them.
    pub details: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

fn details(rt: &ResourceType, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": rt.plural});
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d
}

impl ApiError {
    /// 404 for a named object.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{}\" not found", rt.group_resource(), name),
            details: Some(details(rt, name)),
        }
    }

    /// 404 for a path the server does not serve.
    pub fn no_route() -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: Some(json!({})),
        }
    }

    /// 409 AlreadyExists on create.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{}\" already exists", rt.group_resource(), name),
            details: Some(details(rt, name)),
        }
    }

    /// 409 Conflict on a stale `resourceVersion`.
    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        Self {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                rt.group_resource(),
                name
            ),
            details: Some(details(rt, name)),
        }
    }

    /// 422 Invalid with one cause per `(field, message)`.
    pub fn invalid(rt: &ResourceType, name: &str, causes: &[(String, String)]) -> Self {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let msg = if text.len() == 1 {
            text.join("")
        } else {
            format!("[{}]", text.join(", "))
        };
        let mut d = details(rt, name);
        d["kind"] = json!(rt.kind);
        d["causes"] = causes
            .iter()
            .map(|(f, m)| {
                let reason = if m.starts_with("Required value") {
                    "FieldValueRequired"
                } else {
                    "FieldValueInvalid"
                };
                json!({"reason": reason, "message": m, "field": f})
            })
            .collect();
        Self {
            code: 422,
            reason: "Invalid",
            message: format!("{} \"{}\" is invalid: {}", rt.kind, name, msg),
            details: Some(d),
        }
    }

    /// 422 for an update without `metadata.resourceVersion` of a kind that requires one. The
    /// real registry names the resource (not the kind) in this message and prints the missing
    /// version as Go does (`0x0`).
    pub fn invalid_resource_version(rt: &ResourceType, name: &str) -> Self {
        let message = "Invalid value: 0x0: must be specified for an update";
        let mut d = details(rt, name);
        d["causes"] = json!([{"reason": "FieldValueInvalid", "message": message, "field": "metadata.resourceVersion"}]);
        Self {
            code: 422,
            reason: "Invalid",
            message: format!(
                "{} \"{}\" is invalid: metadata.resourceVersion: {message}",
                rt.group_resource(),
                name
            ),
            details: Some(d),
        }
    }

    /// 422 for a patch that cannot be applied.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self {
            code: 422,
            reason: "",
            message: message.into(),
            details: None,
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self {
            code: 405,
            reason: "MethodNotAllowed",
            message: message.into(),
            details: Some(json!({})),
        }
    }

    /// 415 for a patch content type the server does not know.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"
            ),
            details: None,
        }
    }

    /// 410 Expired for a continue token that is too old.
    pub fn expired_continue() -> Self {
        Self {
            code: 410,
            reason: "Expired",
            message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response.".into(),
            details: None,
        }
    }

    /// 410 Expired for a watch from a compacted `resourceVersion` (sent as an ERROR frame).
    pub fn gone(rv: &str) -> Self {
        Self {
            code: 410,
            reason: "Expired",
            message: format!("too old resource version: {rv}"),
            details: None,
        }
    }

    /// 401 for a bearer token the cluster did not issue.
    pub fn unauthorized() -> Self {
        Self {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".into(),
            details: None,
        }
    }

    /// An injected fault with the given code (429, 500, 503, ...).
    pub fn injected(code: u16) -> Self {
        let (reason, message) = match code {
            429 => (
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
            500 => ("InternalError", "Internal error occurred: injected fault"),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => (
                "Timeout",
                "the server was unable to return a response in the time allotted",
            ),
            403 => ("Forbidden", "forbidden: injected fault"),
            401 => ("Unauthorized", "Unauthorized"),
            _ => ("", "injected fault"),
        };
        let details = (code == 429).then(|| json!({"retryAfterSeconds": 1}));
        Self {
            code,
            reason,
            message: message.into(),
            details,
        }
    }

    /// The `Status` body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if !self.reason.is_empty() {
            s["reason"] = json!(self.reason);
        }
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}
