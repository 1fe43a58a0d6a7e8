//! The writing verbs: create, update (main resource or `status`), the three patch kinds,
//! delete (with preconditions and the `Orphan` policy) and delete-collection.

use axum::response::Response;
use serde_json::{Value, json};

use super::ctx::Ctx;
use super::response::{bytes_response, json_bytes, json_response, list_body};
use crate::k8s::convert;
use crate::k8s::patch::{self, PatchKind};
use crate::k8s::resources::{self, ResourceType};
use crate::k8s::status::ApiError;
use crate::k8s::store::{Stored, WriteMode};
use crate::k8s::util::{self, name_of, now_rfc3339};

pub(crate) fn check_kind(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
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

pub(crate) fn create(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
) -> Result<Response, ApiError> {
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

pub(crate) fn update(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    mode: WriteMode,
) -> Result<Response, ApiError> {
    let obj = ctx.body_json()?;
    check_kind(rt, &obj)?;
    let obj = convert::ingest(rt, obj);
    let stored = resources::storage(rt);
    if mode == WriteMode::Main
        && rt.create_on_update()
        && ctx.sh.store.get_in(stored, ns, name).is_none()
    {
        // Kinds whose registry allows it are created by a PUT to a missing name.
        let mut obj = obj;
        if util::name_of(&obj).is_empty() {
            obj["metadata"]["name"] = json!(name);
        }
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let s = ctx.sh.store.create(stored, ns, obj, ctx.dry_run())?;
        return Ok(bytes_response(
            201,
            convert::view(rt, &s).json(),
            "application/json",
        ));
    }
    if !rt.unconditional_update()
        && util::str_at(&obj, &["metadata", "resourceVersion"]).is_none_or(str::is_empty)
    {
        return Err(ApiError::invalid_resource_version(rt, name));
    }
    let s = ctx
        .sh
        .store
        .update(stored, ns, name, obj, mode, ctx.dry_run())?;
    Ok(json_bytes(convert::view(rt, &s).json()))
}

pub(crate) fn patch_kind(ctx: &Ctx<'_>) -> Result<PatchKind, ApiError> {
    let ct = ctx.content_type();
    PatchKind::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))
}

pub(crate) fn patch_object(
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
        let cur = ctx.sh.store.existing(rt, ns, name)?;
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
            Ok(s) => return Ok(json_bytes(convert::view(rt, &s).json())),
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

fn deleted_response(rt: &ResourceType, s: &Stored, orphan: bool) -> Response {
    if rt.plural == "pods" && rt.group.is_empty() {
        let mut v = s.value.clone();
        v["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        return json_response(200, &v);
    }
    if rt.plural == "jobs" && rt.group == "batch" && orphan {
        // A Job deleted with the orphan policy: the real server answers with the object,
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

pub(crate) fn delete(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let pre = delete_options(ctx);
    let body: Value = serde_json::from_slice(&ctx.body).unwrap_or(Value::Null);
    let policy = ctx
        .param("propagationPolicy")
        .or_else(|| body["propagationPolicy"].as_str());
    // Jobs (batch/v1) default to orphaning their pods; everything else to the background
    // collection of dependents.
    let orphan = match policy {
        Some(p) => p == "Orphan",
        None => match body["orphanDependents"].as_bool() {
            Some(o) => o,
            None => rt.group == "batch" && rt.plural == "jobs",
        },
    };
    if orphan && !ctx.dry_run() {
        // Release the dependents first, so that the collector never sees them ownerless.
        if let Some(cur) = ctx.sh.store.get_in(rt, ns, name) {
            ctx.sh.store.orphan_dependents(ns, util::uid_of(&cur.value));
        }
    }
    let s = ctx.sh.store.delete_in(rt, ns, name, pre, ctx.dry_run())?;
    Ok(deleted_response(rt, &s, orphan))
}

pub(crate) fn delete_collection(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
) -> Result<Response, ApiError> {
    let (labels, fields) = ctx.selectors()?;
    let (all, _) = ctx.sh.store.list_in(rt, rt.ns_filter(ns));
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
    Ok(json_bytes(list_body(rt, rv, None, None, &deleted)))
}
