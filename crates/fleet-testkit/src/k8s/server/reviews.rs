//! The reviews a client creates to ask about itself, answered and never stored:
//! `SelfSubjectAccessReview` (`kubectl auth can-i`), `SelfSubjectRulesReview`
//! (`kubectl auth can-i --list`) and `SelfSubjectReview` (`kubectl auth whoami`). The subject is
//! the caller, after impersonation. With RBAC off every access review is allowed.

use axum::response::Response;
use serde_json::{Value, json};

use super::ctx::Ctx;
use super::response::{bytes_response, json_response};
use crate::k8s::auth::{Attributes, ResourceAttributes, authorize, rules_for};
use crate::k8s::resources::ResourceType;
use crate::k8s::status::ApiError;

fn created(v: &Value) -> Response {
    // Serializing a `Value` cannot fail.
    bytes_response(
        201,
        serde_json::to_vec(v).unwrap_or_default().into(),
        "application/json",
    )
}

fn invalid(kind: &str, group: &str, field: &str, message: &str) -> ApiError {
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{kind}.{group} \"\" is invalid: {field}: {message}"),
        details: Some(json!({"group": group, "kind": kind, "causes": [{
            "reason": if message.starts_with("Required") { "FieldValueRequired" } else { "FieldValueInvalid" },
            "message": message, "field": field}]})),
    }
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

/// Answers a review `POST`.
pub(crate) fn serve(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    method: &str,
) -> Result<Response, ApiError> {
    if method != "POST" {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        )));
    }
    let mut review = ctx.body_json()?;
    if !review.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let blank = |v: &Value| match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if review["metadata"]
        .as_object()
        .is_some_and(|m| m.iter().any(|(k, v)| k != "creationTimestamp" && !blank(v)))
    {
        return Err(invalid(
            rt.kind,
            rt.group,
            "metadata",
            "Invalid value: must be empty",
        ));
    }
    review["kind"] = json!(rt.kind);
    review["apiVersion"] = json!(rt.api_version());
    review["metadata"] = json!({"creationTimestamp": null});
    let id = &ctx.id;
    match rt.plural {
        "selfsubjectaccessreviews" => {
            let spec = &review["spec"];
            let (res, non) = (&spec["resourceAttributes"], &spec["nonResourceAttributes"]);
            let attrs = match (res.is_object(), non.is_object()) {
                (true, true) => {
                    return Err(invalid(
                        rt.kind,
                        rt.group,
                        "spec.nonResourceAttributes",
                        "Invalid value: cannot be specified in combination with resourceAttributes",
                    ));
                }
                (false, false) => {
                    return Err(invalid(
                        rt.kind,
                        rt.group,
                        "spec.resourceAttributes",
                        "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                    ));
                }
                (true, false) => Attributes {
                    verb: text(res, "verb"),
                    resource: Some(ResourceAttributes {
                        group: text(res, "group"),
                        version: text(res, "version"),
                        resource: text(res, "resource"),
                        subresource: text(res, "subresource"),
                        name: text(res, "name"),
                        namespace: text(res, "namespace"),
                    }),
                    path: String::new(),
                },
                (false, true) => Attributes {
                    verb: text(non, "verb"),
                    resource: None,
                    path: text(non, "path"),
                },
            };
            let rbac_on = ctx.sh.auth.rbac();
            let decision = if rbac_on {
                authorize(&ctx.sh.store, id, &attrs)
            } else {
                crate::k8s::auth::Decision {
                    allowed: true,
                    reason: String::new(),
                }
            };
            let mut status = json!({"allowed": decision.allowed});
            if !decision.reason.is_empty() {
                status["reason"] = json!(decision.reason);
            }
            review["status"] = status;
            Ok(created(&review))
        }
        "selfsubjectrulesreviews" => {
            let ns = text(&review["spec"], "namespace");
            let (resource_rules, non_resource, incomplete) = rules_for(&ctx.sh.store, id, &ns);
            let mut status = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": incomplete});
            if !ctx.sh.auth.rbac() {
                // Everything is allowed: say so as one rule.
                status["resourceRules"] =
                    json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]);
                status["nonResourceRules"] = json!([{"verbs": ["*"], "nonResourceURLs": ["*"]}]);
            }
            review["status"] = status;
            Ok(created(&review))
        }
        _ => {
            review["status"] = json!({"userInfo": {"username": id.name, "groups": id.groups}});
            Ok(json_response(201, &review))
        }
    }
}
