//! The HTTP side: routing of API paths, the verbs, watch streams, logs, scale, metrics, and the
//! fault knobs and request log wrapped around them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::convert;
use super::knobs::{Knobs, MetricsApi, Op, RequestRecord, lock};
use super::patch::{self, PatchKind};
use super::protobuf;
use super::resources::{self, ResourceType};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{ChangeType, Store, Stored, WriteMode};
use super::table;
use super::util::{self, name_of, now_rfc3339};

/// State shared by every request.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) knobs: Arc<Knobs>,
    pub(crate) address: String,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// A parsed request path.
#[derive(Debug)]
enum Route {
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

fn parse_route(path: &str) -> Route {
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

pub(crate) fn json_response(code: u16, v: &Value) -> Response {
    // Serializing a `Value` cannot fail.
    bytes_response(
        code,
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        "application/json",
    )
}

pub(crate) fn bytes_response(code: u16, body: Bytes, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if e.code == 429 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

struct Ctx<'a> {
    sh: &'a Shared,
    q: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Ctx<'_> {
    fn param(&self, k: &str) -> Option<&str> {
        self.q.get(k).map(String::as_str).filter(|s| !s.is_empty())
    }
    fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }
    fn wants_table(&self) -> bool {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("as=Table"))
    }
    fn body_json(&self) -> Result<Value, ApiError> {
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
    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn classify(method: &Method, route: &Route, q: &HashMap<String, String>) -> Op {
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

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let q = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let route = parse_route(parts.uri.path());
    let op = classify(&parts.method, &route, &q);
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
    };
    let latency = *lock(&sh.knobs.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match sh.knobs.take_fault(op, resource.as_deref()) {
        Some(code) => error_response(&ApiError::injected(code)),
        None if op == Op::Exec => match exec(&sh, &mut parts, &route).await {
            Ok(r) => r,
            Err(e) => error_response(&e),
        },
        None => {
            let ctx = Ctx {
                sh: &sh,
                q,
                headers: parts.headers,
                body,
            };
            match dispatch(&ctx, &parts.method, route, op).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            }
        }
    };
    record.status = response.status().as_u16();
    tracing::debug!(method = %record.method, path = %record.path, status = record.status, "fake cluster request");
    lock(&sh.knobs.requests).push(record);
    response
}

const METRICS_GROUP: &str = "metrics.k8s.io";

fn metrics_api(ctx: &Ctx<'_>) -> MetricsApi {
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

/// The stored object, or the 404 Status a real server answers.
fn existing(
    store: &Store,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<Arc<Stored>, ApiError> {
    store
        .get_in(rt, ns, name)
        .ok_or_else(|| ApiError::not_found(rt, name))
}

async fn dispatch(
    ctx: &Ctx<'_>,
    method: &Method,
    route: Route,
    op: Op,
) -> Result<Response, ApiError> {
    match route {
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
        Route::Group(g) => resources::group(&g)
            .filter(|_| g != METRICS_GROUP || metrics_api(ctx) != MetricsApi::Absent)
            .map(|mut d| {
                served_metrics_group(ctx, &mut d);
                json_response(200, &d)
            })
            .ok_or_else(ApiError::no_route),
        Route::ResourceList(g, v) => resources::resource_list(&g, &v)
            .filter(|_| g != METRICS_GROUP || metrics_api(ctx).serves(&v))
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::OpenApiRoot => Ok(json_response(200, &resources::openapi_v3_root())),
        Route::OpenApi(p) => resources::openapi_v3_gv(&p)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::NotFound => Err(ApiError::no_route()),
        Route::Resource { rt, ns, name, sub } => {
            if rt.namespaced && ns.is_none() && name.is_some() {
                return Err(ApiError::no_route());
            }
            let ns = ns.unwrap_or_default();
            if rt.computed {
                if rt.group == METRICS_GROUP && !metrics_api(ctx).serves(rt.version) {
                    return Err(ApiError::no_route());
                }
                return super::metrics::serve(ctx.sh, rt, &ns, name.as_deref(), &ctx.q);
            }
            match (name, sub.as_deref()) {
                (None, None) => match op {
                    Op::List => list(ctx, rt, &ns),
                    Op::Watch => watch(ctx, rt, &ns),
                    Op::Create => create(ctx, rt, &ns),
                    Op::DeleteCollection => delete_collection(ctx, rt, &ns),
                    _ => Err(ApiError::method_not_allowed(format!(
                        "the server does not allow this method on the requested resource ({method})"
                    ))),
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
                        Op::Get => get(ctx, rt, &ns, &name),
                        Op::Update => update(ctx, rt, &ns, &name, mode),
                        Op::Patch => patch_object(ctx, rt, &ns, &name, mode),
                        Op::Delete if sub.is_none() => delete(ctx, rt, &ns, &name),
                        _ => Err(ApiError::method_not_allowed(format!(
                            "the server does not allow this method on the requested resource ({method})"
                        ))),
                    }
                }
                (Some(name), Some("scale")) if rt.scale_subresource => match op {
                    Op::Get => scale_get(ctx, rt, &ns, &name),
                    Op::Update | Op::Patch => scale_write(ctx, rt, &ns, &name, op),
                    _ => Err(ApiError::method_not_allowed(
                        "scale supports get, update and patch",
                    )),
                },
                (Some(name), Some("log")) if rt.plural == "pods" && rt.group.is_empty() => {
                    super::logs::serve(ctx.sh, &ns, &name, &ctx.q).await
                }
                _ => Err(ApiError::no_route()),
            }
        }
    }
}

/// Upgrades `pods/NAME/exec` to a WebSocket session run by the exec handler.
async fn exec(
    sh: &Shared,
    parts: &mut axum::http::request::Parts,
    route: &Route,
) -> Result<Response, ApiError> {
    use axum::extract::FromRequestParts;
    use axum::extract::ws::WebSocketUpgrade;
    let Route::Resource {
        rt,
        ns: Some(ns),
        name: Some(name),
        ..
    } = route
    else {
        return Err(ApiError::no_route());
    };
    let pod = existing(&sh.store, rt, ns, name)?;
    let q = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let command: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let containers: Vec<&str> = pod.value["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match get("container") {
        Some(c) if containers.contains(&c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None => containers
            .first()
            .map(|c| (*c).to_string())
            .unwrap_or_default(),
    };
    if util::str_at(&pod.value, &["status", "phase"]) != Some("Running") {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    let ws = WebSocketUpgrade::from_request_parts(parts, &())
        .await
        .map_err(|_| ApiError::bad_request("Upgrade request required"))?
        .protocols(super::exec::PROTOCOLS);
    if ws.selected_protocol().is_none() {
        return Err(ApiError::bad_request(
            "this fake serves exec over v5.channel.k8s.io and v4.channel.k8s.io only",
        ));
    }
    let request = super::exec::ExecRequest {
        namespace: ns.clone(),
        pod: name.clone(),
        container,
        command,
        stdin: matches!(get("stdin"), Some("true" | "1")),
        tty: matches!(get("tty"), Some("true" | "1")),
    };
    let handler = lock(&sh.knobs.exec).clone();
    Ok(ws.on_upgrade(move |socket| super::exec::session(socket, request, handler)))
}

fn selectors(ctx: &Ctx<'_>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    Ok((
        LabelSelector::parse(ctx.param("labelSelector").unwrap_or(""))?,
        FieldSelector::parse(ctx.param("fieldSelector").unwrap_or(""))?,
    ))
}

fn ns_opt<'a>(rt: &ResourceType, ns: &'a str) -> Option<&'a str> {
    (rt.namespaced && !ns.is_empty()).then_some(ns)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
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

fn list(ctx: &Ctx<'_>, rt: &'static ResourceType, ns: &str) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(ctx)?;
    let limit: usize = ctx.param("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    // Where to start: after the key in the continue token, in the snapshot it was cut from.
    let mut start_after: Option<(String, String)> = None;
    let mut snapshot_rv: Option<u64> = None;
    if let Some(token) = ctx.param("continue") {
        let decoded = unhex(token).ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: illegal base64 data")
        })?;
        let mut it = decoded.splitn(3, '\n');
        let token_rv: u64 = it.next().and_then(|r| r.parse().ok()).ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: no resource version")
        })?;
        let kns = it.next().unwrap_or("").to_string();
        let kname = it.next().unwrap_or("").to_string();
        let expired = {
            let mut flag = lock(&ctx.sh.knobs.expire_continue);
            std::mem::take(&mut *flag)
        };
        if expired {
            return Err(ApiError::expired_continue());
        }
        start_after = Some((if rt.namespaced { kns } else { String::new() }, kname));
        snapshot_rv = Some(token_rv);
    }
    let (all, rv) = ctx
        .sh
        .store
        .list_page(rt, ns_opt(rt, ns), start_after.as_ref(), snapshot_rv)
        .ok_or_else(ApiError::expired_continue)?;
    let key_of = |s: &Stored| {
        (
            util::namespace_of(&s.value).to_string(),
            name_of(&s.value).to_string(),
        )
    };
    let unfiltered = labels.is_empty() && fields == FieldSelector::default();
    let mut items: Vec<Arc<Stored>> = Vec::new();
    let mut more = 0usize;
    if unfiltered {
        more = if limit > 0 {
            all.len().saturating_sub(limit)
        } else {
            0
        };
        items = if more > 0 { all[..limit].to_vec() } else { all };
    } else {
        for s in all
            .into_iter()
            .filter(|s| labels.matches(&s.value) && fields.matches(&s.value))
        {
            if limit > 0 && items.len() >= limit {
                more += 1;
                continue;
            }
            items.push(s);
        }
    }
    let cont = (more > 0).then(|| {
        let last = items.last().map(|s| key_of(s)).unwrap_or_default();
        hex(&format!("{rv}\n{}\n{}", last.0, last.1))
    });
    let remaining =
        (more > 0 && labels.is_empty() && fields.pinned_name().is_none()).then_some(more);
    if ctx.wants_table() {
        let t = table::to_table(rt, &items, ctx.param("includeObject"), rv, cont.as_deref());
        return Ok(bytes_response(200, t, "application/json"));
    }
    Ok(bytes_response(
        200,
        list_body(
            rt,
            rv,
            cont.as_deref(),
            remaining,
            &items
                .iter()
                .map(|s| convert::view(rt, s))
                .collect::<Vec<_>>(),
        ),
        "application/json",
    ))
}

fn get(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let s = existing(&ctx.sh.store, rt, ns, name)?;
    if ctx.wants_table() {
        let rv = ctx.sh.store.resource_version();
        return Ok(bytes_response(
            200,
            table::to_table(
                rt,
                std::slice::from_ref(&s),
                ctx.param("includeObject"),
                rv,
                None,
            ),
            "application/json",
        ));
    }
    Ok(bytes_response(
        200,
        convert::view(rt, &s).json(),
        "application/json",
    ))
}

fn check_kind(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str);
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    if kind.is_some_and(|k| k != rt.kind) || api_version.is_some_and(|a| a != rt.api_version()) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            api_version.unwrap_or(""),
            rt.api_version()
        )));
    }
    Ok(())
}

fn create(ctx: &Ctx<'_>, rt: &'static ResourceType, ns: &str) -> Result<Response, ApiError> {
    let obj = ctx.body_json()?;
    check_kind(rt, &obj)?;
    let obj = convert::ingest(rt, obj);
    let s = ctx
        .sh
        .store
        .create(resources::storage(rt), ns, obj, ctx.dry_run())?;
    Ok(bytes_response(
        201,
        convert::view(rt, &s).json(),
        "application/json",
    ))
}

fn update(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    mode: WriteMode,
) -> Result<Response, ApiError> {
    let obj = ctx.body_json()?;
    check_kind(rt, &obj)?;
    let obj = convert::ingest(rt, obj);
    let s = ctx
        .sh
        .store
        .update(resources::storage(rt), ns, name, obj, mode, ctx.dry_run())?;
    Ok(bytes_response(
        200,
        convert::view(rt, &s).json(),
        "application/json",
    ))
}

fn patch_kind(ctx: &Ctx<'_>) -> Result<PatchKind, ApiError> {
    let ct = ctx.content_type();
    PatchKind::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))
}

fn patch_object(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    mode: WriteMode,
) -> Result<Response, ApiError> {
    let kind = patch_kind(ctx)?;
    let p = ctx.body_json()?;
    let pins_rv = util::at(&p, &["metadata", "resourceVersion"]).is_some();
    // The real server retries a patch internally when the object changed underneath it.
    for _ in 0..5 {
        let cur = existing(&ctx.sh.store, rt, ns, name)?;
        let patched = patch::apply(kind, &convert::view_value(rt, &cur.value), &p)?;
        check_kind(rt, &patched)?;
        let patched = convert::ingest(rt, patched);
        if name_of(&patched) != name {
            return Err(ApiError::bad_request(
                "metadata.name: Invalid value: the name of the object cannot be changed by a patch",
            ));
        }
        match ctx.sh.store.update(
            resources::storage(rt),
            ns,
            name,
            patched,
            mode,
            ctx.dry_run(),
        ) {
            Ok(s) => {
                return Ok(bytes_response(
                    200,
                    convert::view(rt, &s).json(),
                    "application/json",
                ));
            }
            Err(e) if e.code == 409 && !pins_rv => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(rt, name))
}

fn delete_options(ctx: &Ctx<'_>) -> Option<(Option<String>, Option<String>)> {
    let body: Value = serde_json::from_slice(&ctx.body).ok()?;
    let pre = body.get("preconditions")?;
    Some((
        pre.get("uid").and_then(Value::as_str).map(String::from),
        pre.get("resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
    ))
}

fn deleted_response(rt: &ResourceType, s: &Stored) -> Response {
    if rt.plural == "pods" && rt.group.is_empty() {
        let mut v = s.value.clone();
        v["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        return json_response(200, &v);
    }
    if rt.plural == "jobs" && rt.group == "batch" {
        // Jobs default to orphaning their pods: the real server answers with the object,
        // marked for deletion and holding the `orphan` finalizer until the collector acts.
        let mut v = s.value.clone();
        v["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        v["metadata"]["finalizers"] = json!(["orphan"]);
        v["metadata"]["generation"] = json!(util::i64_at(&v, &["metadata", "generation"], 1) + 1);
        return json_response(200, &v);
    }
    let mut details =
        json!({"name": name_of(&s.value), "kind": rt.plural, "uid": util::uid_of(&s.value)});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json_response(
        200,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
    )
}

fn delete(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let pre = delete_options(ctx);
    let body: Value = serde_json::from_slice(&ctx.body).unwrap_or(Value::Null);
    let orphan = ctx.param("propagationPolicy") == Some("Orphan")
        || body["propagationPolicy"] == "Orphan"
        || body["orphanDependents"] == true;
    if orphan && !ctx.dry_run() {
        // Release the dependents first, so that the collector never sees them ownerless.
        if let Some(cur) = ctx.sh.store.get_in(rt, ns, name) {
            ctx.sh.store.orphan_dependents(ns, util::uid_of(&cur.value));
        }
    }
    let s = ctx.sh.store.delete_in(rt, ns, name, pre, ctx.dry_run())?;
    Ok(deleted_response(rt, &s))
}

fn delete_collection(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(ctx)?;
    let (all, _) = ctx.sh.store.list_in(rt, ns_opt(rt, ns));
    let mut deleted = Vec::new();
    for s in all
        .iter()
        .filter(|s| labels.matches(&s.value) && fields.matches(&s.value))
    {
        let n = name_of(&s.value).to_string();
        let o_ns = util::namespace_of(&s.value).to_string();
        if let Ok(d) = ctx.sh.store.delete_in(rt, &o_ns, &n, None, ctx.dry_run()) {
            deleted.push(d);
        }
    }
    let rv = ctx.sh.store.resource_version();
    Ok(bytes_response(
        200,
        list_body(rt, rv, None, None, &deleted),
        "application/json",
    ))
}

fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let selector = obj["spec"]["selector"]
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let _ = rt;
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": util::i64_at(obj, &["spec", "replicas"], 1)},
        "status": {"replicas": util::i64_at(obj, &["status", "replicas"], 0), "selector": selector},
    })
}

fn scale_get(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let s = existing(&ctx.sh.store, rt, ns, name)?;
    Ok(json_response(200, &scale_of(rt, &s.value)))
}

fn scale_write(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    op: Op,
) -> Result<Response, ApiError> {
    let cur = existing(&ctx.sh.store, rt, ns, name)?;
    let scale = scale_of(rt, &cur.value);
    let body = ctx.body_json()?;
    let new_scale = if op == Op::Patch {
        patch::apply(patch_kind(ctx)?, &scale, &body)?
    } else {
        body
    };
    let replicas = match new_scale["spec"]["replicas"].as_i64() {
        Some(r) if r >= 0 => r,
        other => {
            return Err(ApiError {
                code: 422,
                reason: "Invalid",
                message: format!(
                    "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0",
                    other
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "null".into())
                ),
                details: Some(json!({"name": name, "group": "autoscaling", "kind": "Scale"})),
            });
        }
    };
    let mut obj = cur.value.clone();
    obj["spec"]["replicas"] = json!(replicas);
    // A resourceVersion in the Scale is a precondition on the scaled object.
    match new_scale["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() => obj["metadata"]["resourceVersion"] = json!(rv),
        _ => {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
        }
    }
    let s = ctx
        .sh
        .store
        .update(rt, ns, name, obj, WriteMode::Main, ctx.dry_run())?;
    Ok(json_response(200, &scale_of(rt, &s.value)))
}

fn frame(kind: &str, obj: &Bytes) -> Bytes {
    let mut out = Vec::with_capacity(obj.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(obj);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let mut obj = json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta});
    // A bookmark carries an otherwise empty object, serialized as the server's typed structs
    // serialize their zero value.
    match (rt.group, rt.plural) {
        ("", "pods") => {
            obj["spec"] = json!({"containers": null});
            obj["status"] = json!({});
        }
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets") => {
            obj["spec"] = json!({"selector": null, "template": {"metadata": {}, "spec": {"containers": null}}});
            obj["status"] = json!({});
        }
        _ if rt.status_subresource => {
            obj["spec"] = json!({});
            obj["status"] = json!({});
        }
        _ => {}
    }
    frame("BOOKMARK", &Bytes::from(obj.to_string()))
}

fn watch(ctx: &Ctx<'_>, rt: &'static ResourceType, ns: &str) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(ctx)?;
    let ns_filter = ns_opt(rt, ns).map(String::from);
    let bookmarks = ctx.param("allowWatchBookmarks") == Some("true");
    let how = if ctx.wants_table() {
        Render::Table(ctx.param("includeObject").map(String::from))
    } else {
        Render::Object
    };
    let send_initial = ctx.param("sendInitialEvents") == Some("true");
    let timeout = ctx
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let rv_param = ctx.param("resourceVersion").unwrap_or("");
    let store = ctx.sh.store.clone();
    // Subscribe before reading so that nothing falls between the snapshot and the stream.
    let mut rx = store.subscribe();
    let matches = {
        let labels = labels.clone();
        let fields = fields.clone();
        let ns_filter = ns_filter.clone();
        move |v: &Value| {
            ns_filter
                .as_deref()
                .is_none_or(|n| util::namespace_of(v) == n)
                && labels.matches(v)
                && fields.matches(v)
        }
    };
    let mut initial: Vec<Bytes> = Vec::new();
    let mut last_rv;
    if rv_param.is_empty() || rv_param == "0" || send_initial {
        let (items, rv) = store.list_in(rt, ns_filter.as_deref());
        for s in items.iter().filter(|s| matches(&s.value)) {
            initial.push(frame("ADDED", &render(rt, s, &how)));
        }
        last_rv = rv;
        if send_initial && bookmarks {
            initial.push(bookmark(rt, rv, true));
        }
    } else {
        let rv: u64 = rv_param
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv_param}")))?;
        match store.history_since(rt, rv) {
            None => {
                let err = ApiError::gone(rv_param).to_status();
                initial.push(frame("ERROR", &Bytes::from(err.to_string())));
                let body = Body::from(Bytes::from(initial.concat()));
                let mut r = Response::new(body);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return Ok(r);
            }
            Some(changes) => {
                last_rv = rv;
                for c in changes {
                    if let Some(f) =
                        change_frame(rt, &c.kind, &c.obj, c.old.as_deref(), &matches, &how)
                    {
                        initial.push(f);
                    }
                    last_rv = c.rv;
                }
            }
        }
    }
    let (tx, out_rx) = mpsc::channel::<Bytes>(256);
    let mut drop_rx = ctx.sh.knobs.drop_watches.subscribe();
    let bookmark_every = *lock(&ctx.sh.knobs.bookmark_interval);
    tokio::spawn(async move {
        for f in initial {
            if tx.send(f).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = drop_rx.changed() => break,
                _ = tx.closed() => break,
                _ = tick.tick(), if bookmarks => {
                    if tx.send(bookmark(rt, last_rv, false)).await.is_err() { break; }
                }
                msg = rx.recv() => match msg {
                    Ok(c) => {
                        if c.res.group != rt.group || c.res.plural != rt.plural || c.rv <= last_rv {
                            continue;
                        }
                        last_rv = c.rv;
                        if let Some(f) = change_frame(rt, &c.kind, &c.obj, c.old.as_deref(), &matches, &how)
                            && tx.send(f).await.is_err() { break; }
                    }
                    // Fell behind: end the stream so the client re-lists, as after a
                    // dropped connection.
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    });
    let stream = futures::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// The frame a change produces for a watcher with the given filter: label changes that move an
/// object in or out of the selection become ADDED / DELETED, as on the real server.
/// How watch events carry their object: as stored, or as a one-row `Table` for
/// `kubectl get --watch` (with the request's `includeObject`).
#[derive(Clone)]
enum Render {
    Object,
    Table(Option<String>),
}

fn render(rt: &'static ResourceType, s: &Arc<Stored>, how: &Render) -> Bytes {
    match how {
        Render::Object => convert::view(rt, s).json(),
        Render::Table(include) => {
            let rv = util::str_at(&s.value, &["metadata", "resourceVersion"])
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            table::to_table(rt, std::slice::from_ref(s), include.as_deref(), rv, None)
        }
    }
}

fn change_frame(
    rt: &'static ResourceType,
    kind: &ChangeType,
    obj: &Arc<Stored>,
    old: Option<&Stored>,
    matches: &impl Fn(&Value) -> bool,
    how: &Render,
) -> Option<Bytes> {
    let now = matches(&obj.value);
    let body = || render(rt, obj, how);
    match kind {
        ChangeType::Added => now.then(|| frame("ADDED", &body())),
        ChangeType::Deleted => {
            (now || old.is_some_and(|o| matches(&o.value))).then(|| frame("DELETED", &body()))
        }
        ChangeType::Modified => {
            let before = old.is_some_and(|o| matches(&o.value));
            match (before, now) {
                (true, true) => Some(frame("MODIFIED", &body())),
                (false, true) => Some(frame("ADDED", &body())),
                (true, false) => Some(frame("DELETED", &body())),
                (false, false) => None,
            }
        }
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

    #[test]
    fn continue_tokens_round_trip() {
        assert_eq!(unhex(&hex("12\nns\nname")).as_deref(), Some("12\nns\nname"));
        assert_eq!(unhex("zz"), None);
    }
}
