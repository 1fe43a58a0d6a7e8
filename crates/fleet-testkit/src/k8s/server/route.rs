//! Parsing request paths into routes, and classifying requests into operations.

use std::collections::HashMap;

use axum::http::Method;

use crate::k8s::knobs::Op;
use crate::k8s::resources::{self, ResourceType};

/// A parsed request path.
#[derive(Debug)]
pub(crate) enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    ResourceList(String, String),
    OpenApiRoot,
    OpenApi(String),
    Resource {
        rt: &'static ResourceType,
        ns: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
    NotFound,
}

pub(crate) fn parse_route(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz"] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", v] => Route::ResourceList(String::new(), (*v).into()),
        ["api", v, rest @ ..] => resource_route("", v, rest),
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group((*g).into()),
        ["apis", g, v] => Route::ResourceList((*g).into(), (*v).into()),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", rest @ ..] => Route::OpenApi(rest.join("/")),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let owned = |s: Option<&&str>| s.map(|x| (*x).to_string());
    if rest.len() >= 3
        && rest[0] == "namespaces"
        && let Some(rt) = resources::find(group, version, rest[2]).filter(|r| r.namespaced)
    {
        if rest.len() > 5 {
            return Route::NotFound;
        }
        return Route::Resource {
            rt,
            ns: Some(rest[1].to_string()),
            name: owned(rest.get(3)),
            sub: owned(rest.get(4)),
        };
    }
    match resources::find(group, version, rest[0]) {
        Some(rt) if rest.len() <= 3 => Route::Resource {
            rt,
            ns: None,
            name: owned(rest.get(1)),
            sub: owned(rest.get(2)),
        },
        _ => Route::NotFound,
    }
}

/// The operation a request performs, as the request log and the fault knobs name it.
pub(crate) fn classify(method: &Method, route: &Route, q: &HashMap<String, String>) -> Op {
    match route {
        Route::Resource { name, sub, .. } => match (method.as_str(), name.is_some()) {
            (_, _) if sub.as_deref() == Some("exec") => Op::Exec,
            ("GET", _) if sub.as_deref() == Some("log") => Op::Logs,
            ("GET", true) => Op::Get,
            ("GET", false) => {
                if matches!(q.get("watch").map(String::as_str), Some("true" | "1")) {
                    Op::Watch
                } else {
                    Op::List
                }
            }
            ("POST", _) => Op::Create,
            ("PUT", _) => Op::Update,
            ("PATCH", _) => Op::Patch,
            ("DELETE", true) => Op::Delete,
            ("DELETE", false) => Op::DeleteCollection,
            _ => Op::Any,
        },
        _ => Op::Discovery,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(
            matches!(parse_route("/api/v1/namespaces/a/pods/b/log"), Route::Resource { rt, ns: Some(_), name: Some(_), sub: Some(_) } if rt.plural == "pods")
        );
        assert!(
            matches!(parse_route("/api/v1/namespaces/a"), Route::Resource { rt, ns: None, name: Some(n), .. } if rt.plural == "namespaces" && n == "a")
        );
        assert!(
            matches!(parse_route("/api/v1/namespaces/a/status"), Route::Resource { rt, sub: Some(_), .. } if rt.plural == "namespaces")
        );
        assert!(
            matches!(parse_route("/apis/apps/v1/deployments"), Route::Resource { rt, ns: None, name: None, .. } if rt.plural == "deployments")
        );
        assert!(
            matches!(parse_route("/apis/apps/v1/namespaces/x/deployments/y/scale"), Route::Resource { sub: Some(s), .. } if s == "scale")
        );
        assert!(matches!(
            parse_route("/apis/nope/v1/things"),
            Route::NotFound
        ));
    }
}
