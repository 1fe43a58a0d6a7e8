//! The `scale` subresource (`kubectl scale`, HPAs): an autoscaling/v1 `Scale` view of the
//! replicas of a Deployment, ReplicaSet or StatefulSet.

use axum::response::Response;
use serde_json::{Value, json};

use super::ctx::Ctx;
use super::response::json_response;
use super::write::patch_kind;
use crate::k8s::knobs::Op;
use crate::k8s::patch;
use crate::k8s::resources::ResourceType;
use crate::k8s::status::ApiError;
use crate::k8s::store::WriteMode;
use crate::k8s::util;

fn scale_of(obj: &Value) -> Value {
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

pub(crate) fn get(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let s = ctx.sh.store.existing(rt, ns, name)?;
    Ok(json_response(200, &scale_of(&s.value)))
}

pub(crate) fn write(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    op: Op,
) -> Result<Response, ApiError> {
    let cur = ctx.sh.store.existing(rt, ns, name)?;
    let scale = scale_of(&cur.value);
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
    Ok(json_response(200, &scale_of(&s.value)))
}
