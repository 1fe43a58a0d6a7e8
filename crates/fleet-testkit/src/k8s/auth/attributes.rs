//! The attributes a request is authorized on, derived as the API server's request-info
//! resolver does: the verb from the method (`get` / `list` / `watch`, `create`, `update`,
//! `patch`, `delete` / `deletecollection`), the API group, resource, subresource, name and
//! namespace; paths outside the resource tree are non-resource requests (path and lowercase
//! method).

use std::collections::HashMap;

use axum::http::Method;

use crate::k8s::resources::ResourceType;
use crate::k8s::selector::FieldSelector;

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub(crate) verb: String,
    /// `None` for a non-resource request.
    pub(crate) resource: Option<ResourceAttributes>,
    pub(crate) path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceAttributes {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) resource: String,
    pub(crate) subresource: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
}

impl ResourceAttributes {
    /// `resource` or `resource/subresource`, as rules and messages name it.
    pub(crate) fn full_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

impl Attributes {
    /// A resource request.
    pub(crate) fn resource(
        method: &Method,
        rt: &ResourceType,
        ns: Option<&str>,
        name: Option<&str>,
        sub: Option<&str>,
        q: &HashMap<String, String>,
        path: &str,
    ) -> Self {
        let mut name = name.unwrap_or("").to_string();
        let verb = match method.as_str() {
            "GET" | "HEAD" if name.is_empty() => {
                if matches!(q.get("watch").map(String::as_str), Some("true" | "1")) {
                    "watch"
                } else {
                    "list"
                }
            }
            "GET" | "HEAD" => "get",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" if name.is_empty() => "deletecollection",
            "DELETE" => "delete",
            _ => return Self::non_resource(method, path),
        };
        // A list or watch pinned to one name is authorized for that name.
        if matches!(verb, "list" | "watch")
            && let Some(pinned) = q
                .get("fieldSelector")
                .and_then(|f| FieldSelector::parse(f).ok())
                .and_then(|f| f.pinned_name().map(String::from))
        {
            name = pinned;
        }
        Self {
            verb: verb.to_string(),
            resource: Some(ResourceAttributes {
                group: rt.group.to_string(),
                version: rt.version.to_string(),
                resource: rt.plural.to_string(),
                subresource: sub.unwrap_or("").to_string(),
                name,
                namespace: ns.unwrap_or("").to_string(),
            }),
            path: path.to_string(),
        }
    }

    /// A request outside the resource tree (`/version`, `/apis`, `/openapi/v3`).
    pub(crate) fn non_resource(method: &Method, path: &str) -> Self {
        Self {
            verb: method.as_str().to_ascii_lowercase(),
            resource: None,
            path: path.to_string(),
        }
    }

    /// The same request with another verb (exec upgrades are checked for `get` and `create`).
    pub(crate) fn with_verb(&self, verb: &str) -> Self {
        Self {
            verb: verb.to_string(),
            ..self.clone()
        }
    }
}
