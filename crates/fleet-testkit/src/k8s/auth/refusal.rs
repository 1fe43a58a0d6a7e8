//! The 403 the API server answers when the authorizer does not allow a request.

use serde_json::json;

use super::attributes::Attributes;
use crate::k8s::status::ApiError;

/// 403 for a request the authorizer did not allow, worded as the real server words it:
/// `deployments.apps "fleet-api" is forbidden: User "jane" cannot patch resource
/// "deployments/scale" in API group "apps" in the namespace "fleet-management"`.
pub(crate) fn forbidden(attrs: &Attributes, user: &str, reason: &str) -> ApiError {
    let verb = &attrs.verb;
    let (sentence, prefix, details) = match &attrs.resource {
        None => (
            format!("User {user:?} cannot {verb} path {:?}", attrs.path),
            "forbidden".to_string(),
            json!({}),
        ),
        Some(r) => {
            let scope = if r.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {:?}", r.namespace)
            };
            let sentence = format!(
                "User {user:?} cannot {verb} resource {:?} in API group {:?} {scope}",
                r.full_resource(),
                r.group
            );
            let gr = if r.group.is_empty() {
                r.resource.clone()
            } else {
                format!("{}.{}", r.resource, r.group)
            };
            let prefix = if r.name.is_empty() {
                format!("{gr} is forbidden")
            } else {
                format!("{gr} {:?} is forbidden", r.name)
            };
            let mut d = json!({"kind": r.resource});
            if !r.name.is_empty() {
                d["name"] = json!(r.name);
            }
            if !r.group.is_empty() {
                d["group"] = json!(r.group);
            }
            (sentence, prefix, d)
        }
    };
    let message = if reason.is_empty() {
        format!("{prefix}: {sentence}")
    } else {
        format!("{prefix}: {sentence}: {reason}")
    };
    ApiError {
        code: 403,
        reason: "Forbidden",
        message,
        details: Some(details),
    }
}
