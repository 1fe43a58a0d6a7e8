//! `GET .../pods/NAME/log`: per-container logs, `previous`, `tailLines`, `limitBytes`,
//! `timestamps` and `follow`.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::Response;
use serde_json::Value;
use tokio::sync::mpsc;

use super::response::{bytes_response, stream_response};
use crate::k8s::knobs::lock;
use crate::k8s::resources;
use crate::k8s::shared::Shared;
use crate::k8s::status::ApiError;
use crate::k8s::util::{at, now_rfc3339, str_at};

fn container_names(pod: &Value) -> Vec<String> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

fn render(lines: &[String], q: &HashMap<String, String>) -> String {
    let tail: Option<usize> = q
        .get("tailLines")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|t| usize::try_from(t).ok());
    let start = tail.map_or(0, |t| lines.len().saturating_sub(t));
    let stamps = q.get("timestamps").is_some_and(|t| t == "true");
    let mut out = String::new();
    for l in &lines[start..] {
        if stamps {
            out.push_str(&now_rfc3339());
            out.push(' ');
        }
        out.push_str(l);
        out.push('\n');
    }
    if let Some(limit) = q.get("limitBytes").and_then(|l| l.parse::<usize>().ok()) {
        let mut cut = limit.min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// Serves a log request.
pub(crate) fn serve(
    sh: &Shared,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let rt = resources::resolve("pods").ok_or_else(ApiError::no_route)?;
    let pod = sh
        .store
        .get_in(rt, ns, name)
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    let names = container_names(&pod.value);
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) if names.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let previous = q.get("previous").is_some_and(|p| p == "true");
    let key = (ns.to_string(), name.to_string(), container.clone());
    let logs = lock(&sh.knobs.logs).get(&key).cloned().unwrap_or_default();
    if previous {
        let prev = logs.previous.ok_or_else(|| {
            ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            ))
        })?;
        return Ok(bytes_response(
            200,
            Bytes::from(render(&prev, q)),
            "text/plain",
        ));
    }
    let status = at(&pod.value, &["status", "containerStatuses"])
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["name"] == container.as_str()));
    let waiting = status.and_then(|s| str_at(s, &["state", "waiting", "reason"]));
    let started = status.is_some_and(|s| {
        s.get("restartCount").and_then(Value::as_i64).unwrap_or(0) > 0
            || at(s, &["state", "running"]).is_some()
            || at(s, &["state", "terminated"]).is_some()
    });
    if !started {
        let reason = waiting.unwrap_or("ContainerCreating");
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let body = render(&logs.current, q);
    if q.get("follow").is_none_or(|f| f != "true") {
        return Ok(bytes_response(200, Bytes::from(body), "text/plain"));
    }
    // Follow: send what is there, then poll for appended lines until the pod goes away or the
    // client disconnects.
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let knobs = sh.knobs.clone();
    let store = sh.store.clone();
    let (ns, name) = (ns.to_string(), name.to_string());
    let mut sent = logs.current.len();
    tokio::spawn(async move {
        if tx.send(Bytes::from(body)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            if store.get_in(rt, &ns, &name).is_none() {
                return;
            }
            let new: Vec<String> = lock(&knobs.logs)
                .get(&key)
                .map(|l| l.current.iter().skip(sent).cloned().collect())
                .unwrap_or_default();
            if new.is_empty() {
                continue;
            }
            sent += new.len();
            let mut chunk = new.join("\n");
            chunk.push('\n');
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    Ok(stream_response(rx, "text/plain"))
}
