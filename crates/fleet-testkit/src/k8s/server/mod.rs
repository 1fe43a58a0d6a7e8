//! The HTTP side. `handle` wraps every request in the knobs (latency, injected faults) and the
//! request log, then dispatches by route: discovery, the verbs on stored resources (`read`,
//! `write`, `watch`), the `scale`, `status` and `log` subresources, exec, and the computed
//! metrics.k8s.io resources.

mod ctx;
mod discovery;
mod exec;
mod logs;
mod read;
mod response;
mod reviews;
mod route;
mod scale;
mod watch;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{Method, header};
use axum::response::Response;

use crate::k8s::auth::{self, Attributes};
use crate::k8s::knobs::{Op, RequestRecord, lock};
use crate::k8s::metrics;
use crate::k8s::resources::ResourceType;
use crate::k8s::shared::Shared;
use crate::k8s::status::ApiError;
use crate::k8s::store::WriteMode;
use ctx::Ctx;
use response::{error_response, json_response};
use route::Route;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let q = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let route = route::parse_route(parts.uri.path());
    let op = route::classify(&parts.method, &route, &q);
    let (resource, ns, name, sub) = match &route {
        Route::Resource { rt, ns, name, sub } => (
            Some(rt.plural.to_string()),
            ns.clone(),
            name.clone(),
            sub.clone(),
        ),
        _ => (None, None, None, None),
    };
    let mut record = RequestRecord {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        op,
        resource: resource.clone(),
        subresource: sub,
        namespace: ns,
        name,
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        status: 0,
        user: String::new(),
    };
    let latency = *lock(&sh.knobs.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let attrs = match &route {
        Route::Resource { rt, ns, name, sub } => Attributes::resource(
            &parts.method,
            rt,
            ns.as_deref(),
            name.as_deref(),
            sub.as_deref(),
            &q,
            parts.uri.path(),
        ),
        _ => Attributes::non_resource(&parts.method, parts.uri.path()),
    };
    // A WebSocket upgrade is a GET; the server also requires `create` on the subresource
    // (on by default from Kubernetes 1.35), so both are checked.
    let checks = if op == Op::Exec {
        vec![attrs.with_verb("get"), attrs.with_verb("create")]
    } else {
        vec![attrs]
    };
    let identity = auth::check(&parts.headers, &sh.auth, &sh.store, &checks);
    record.user = match &identity {
        Ok(id) => id.name.clone(),
        Err(r) => r.user.clone().unwrap_or_default(),
    };
    let response = match (sh.knobs.take_fault(op, resource.as_deref()), identity) {
        (Some(code), _) => error_response(&ApiError::injected(code)),
        (None, Err(refusal)) => error_response(&refusal.error),
        (None, Ok(id)) => match &route {
            Route::Resource {
                rt,
                ns: Some(ns),
                name: Some(name),
                ..
            } if op == Op::Exec => exec::upgrade(&sh, &mut parts, rt, ns, name)
                .await
                .unwrap_or_else(|e| error_response(&e)),
            _ => {
                let ctx = Ctx {
                    sh: &sh,
                    id,
                    q,
                    headers: parts.headers,
                    body,
                };
                dispatch(&ctx, &parts.method, route, op)
                    .await
                    .unwrap_or_else(|e| error_response(&e))
            }
        },
    };
    record.status = response.status().as_u16();
    tracing::debug!(method = %record.method, path = %record.path, status = record.status, "fake cluster request");
    lock(&sh.knobs.requests).push(record);
    response
}

fn not_allowed(method: &Method) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource ({method})"
    ))
}

async fn dispatch(
    ctx: &Ctx<'_>,
    method: &Method,
    route: Route,
    op: Op,
) -> Result<Response, ApiError> {
    if let Some(r) = discovery::serve(ctx, &route) {
        return r;
    }
    let Route::Resource { rt, ns, name, sub } = route else {
        return Err(ApiError::no_route());
    };
    if rt.namespaced && ns.is_none() && name.is_some() {
        return Err(ApiError::no_route());
    }
    let ns = ns.unwrap_or_default();
    if rt.is_review() {
        return reviews::serve(ctx, rt, method.as_str());
    }
    if rt.computed {
        return computed(ctx, rt, &ns, name.as_deref());
    }
    match (name, sub.as_deref()) {
        (None, None) => match op {
            Op::List => read::list(ctx, rt, &ns),
            Op::Watch => watch::watch(ctx, rt, &ns),
            Op::Create => write::create(ctx, rt, &ns),
            Op::DeleteCollection => write::delete_collection(ctx, rt, &ns),
            _ => Err(not_allowed(method)),
        },
        (Some(name), None | Some("status")) => {
            let mode = if sub.is_some() {
                WriteMode::Status
            } else {
                WriteMode::Main
            };
            if sub.is_some() && !rt.status_subresource {
                return Err(ApiError::no_route());
            }
            match op {
                Op::Get => read::get(ctx, rt, &ns, &name),
                Op::Update => write::update(ctx, rt, &ns, &name, mode),
                Op::Patch => write::patch_object(ctx, rt, &ns, &name, mode),
                Op::Delete if sub.is_none() => write::delete(ctx, rt, &ns, &name),
                _ => Err(not_allowed(method)),
            }
        }
        (Some(name), Some("scale")) if rt.scale_subresource => match op {
            Op::Get => scale::get(ctx, rt, &ns, &name),
            Op::Update | Op::Patch => scale::write(ctx, rt, &ns, &name, op),
            _ => Err(ApiError::method_not_allowed(
                "scale supports get, update and patch",
            )),
        },
        (Some(name), Some("log")) if rt.plural == "pods" && rt.group.is_empty() => {
            logs::serve(ctx.sh, &ns, &name, &ctx.q)
        }
        _ => Err(ApiError::no_route()),
    }
}

/// metrics.k8s.io: computed from the pods, in the versions the cluster serves.
fn computed(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: Option<&str>,
) -> Result<Response, ApiError> {
    if rt.group == discovery::METRICS_GROUP && !discovery::metrics_api(ctx).serves(rt.version) {
        return Err(ApiError::no_route());
    }
    let labels = ctx.selectors()?.0;
    metrics::serve(ctx.sh, rt, ns, name, &labels).map(|v| json_response(200, &v))
}
