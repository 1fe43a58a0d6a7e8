//! Discovery (`/api`, `/apis`, group and resource lists), `/version`, health and OpenAPI, with
//! metrics.k8s.io shown only in the versions the cluster serves.

use axum::body::Bytes;
use axum::response::Response;
use serde_json::Value;

use super::ctx::Ctx;
use super::response::{bytes_response, json_response};
use super::route::Route;
use crate::k8s::knobs::{MetricsApi, lock};
use crate::k8s::resources;
use crate::k8s::status::ApiError;

pub(crate) const METRICS_GROUP: &str = "metrics.k8s.io";

pub(crate) fn metrics_api(ctx: &Ctx<'_>) -> MetricsApi {
    *lock(&ctx.sh.knobs.metrics_api)
}

/// Trims a discovery group document to the metrics versions served; `false` when the group is
/// metrics.k8s.io and none of its versions is served. Other groups are left alone.
fn served_metrics_group(ctx: &Ctx<'_>, group: &mut Value) -> bool {
    if group["name"] != METRICS_GROUP {
        return true;
    }
    let api = metrics_api(ctx);
    if let Some(versions) = group["versions"].as_array_mut() {
        versions.retain(|v| v["version"].as_str().is_some_and(|v| api.serves(v)));
        let first = versions.first().cloned();
        match first {
            Some(preferred) => group["preferredVersion"] = preferred,
            None => return false,
        }
    }
    true
}

/// Answers a route that is not a resource; `None` for resource routes.
pub(crate) fn serve(ctx: &Ctx<'_>, route: &Route) -> Option<Result<Response, ApiError>> {
    Some(match route {
        Route::Version => Ok(json_response(200, &resources::version_doc())),
        Route::Health => Ok(bytes_response(200, Bytes::from_static(b"ok"), "text/plain")),
        Route::CoreVersions => Ok(json_response(
            200,
            &resources::core_versions(&ctx.sh.address),
        )),
        Route::Groups => {
            let mut doc = resources::group_list();
            if let Some(groups) = doc["groups"].as_array_mut() {
                groups.retain_mut(|g| served_metrics_group(ctx, g));
            }
            Ok(json_response(200, &doc))
        }
        Route::Group(g) => resources::group(g)
            .filter(|_| g != METRICS_GROUP || metrics_api(ctx) != MetricsApi::Absent)
            .map(|mut d| {
                served_metrics_group(ctx, &mut d);
                json_response(200, &d)
            })
            .ok_or_else(ApiError::no_route),
        Route::ResourceList(g, v) => resources::resource_list(g, v)
            .filter(|_| g != METRICS_GROUP || metrics_api(ctx).serves(v))
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::OpenApiRoot => Ok(json_response(200, &resources::openapi_v3_root())),
        Route::OpenApi(p) => resources::openapi_v3_gv(p)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::NotFound => Err(ApiError::no_route()),
        Route::Resource { .. } => return None,
    })
}
