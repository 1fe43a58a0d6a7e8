//! `pods/NAME/exec`: checks the pod and container, then upgrades to a WebSocket session run by
//! the cluster's exec handler.

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::response::Response;

use crate::k8s::exec::{self, ExecRequest};
use crate::k8s::knobs::lock;
use crate::k8s::resources::ResourceType;
use crate::k8s::shared::Shared;
use crate::k8s::status::ApiError;
use crate::k8s::util;

pub(crate) async fn upgrade(
    sh: &Shared,
    parts: &mut Parts,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let pod = sh.store.existing(rt, ns, name)?;
    let q = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let flags: HashMap<&str, &str> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
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
    let container = match flags.get("container").copied() {
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
        .protocols(exec::PROTOCOLS);
    if ws.selected_protocol().is_none() {
        return Err(ApiError::bad_request(
            "this fake serves exec over v5.channel.k8s.io and v4.channel.k8s.io only",
        ));
    }
    let on = |k: &str| matches!(flags.get(k).copied(), Some("true" | "1"));
    let request = ExecRequest {
        namespace: ns.to_string(),
        pod: name.to_string(),
        container,
        command,
        stdin: on("stdin"),
        tty: on("tty"),
    };
    let handler = lock(&sh.knobs.exec).clone();
    Ok(ws.on_upgrade(move |socket| exec::session(socket, request, handler)))
}
