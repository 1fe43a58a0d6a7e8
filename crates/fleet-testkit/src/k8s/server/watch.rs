//! Watch streams: chunked JSON frames (`ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK`/`ERROR`),
//! resumption from a `resourceVersion`, `sendInitialEvents`, bookmarks, `timeoutSeconds`, and
//! one-row `Table` frames for `kubectl get --watch`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::ctx::Ctx;
use super::response::{json_bytes, stream_response};
use crate::k8s::convert;
use crate::k8s::knobs::lock;
use crate::k8s::resources::ResourceType;
use crate::k8s::status::ApiError;
use crate::k8s::store::{ChangeType, Stored};
use crate::k8s::table;
use crate::k8s::util;

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

/// The frame a change produces for a watcher with the given filter: label changes that move an
/// object in or out of the selection become ADDED / DELETED, as on the real server.
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

pub(crate) fn watch(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
) -> Result<Response, ApiError> {
    let (labels, fields) = ctx.selectors()?;
    let ns_filter = rt.ns_filter(ns).map(String::from);
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
        let Some(changes) = store.history_since(rt, rv) else {
            let err = ApiError::gone(rv_param).to_status();
            return Ok(json_bytes(frame("ERROR", &Bytes::from(err.to_string()))));
        };
        last_rv = rv;
        for c in changes {
            if let Some(f) = change_frame(rt, &c.kind, &c.obj, c.old.as_deref(), &matches, &how) {
                initial.push(f);
            }
            last_rv = c.rv;
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
    Ok(stream_response(out_rx, "application/json"))
}
