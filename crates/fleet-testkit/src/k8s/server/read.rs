//! `get` and `list`: single objects, paged lists with consistent continue tokens, selectors, and
//! `Table` renderings for `kubectl get`.

use std::sync::Arc;

use axum::response::Response;

use super::ctx::Ctx;
use super::response::{json_bytes, list_body};
use crate::k8s::convert;
use crate::k8s::knobs::lock;
use crate::k8s::resources::ResourceType;
use crate::k8s::selector::FieldSelector;
use crate::k8s::status::ApiError;
use crate::k8s::store::Stored;
use crate::k8s::table;
use crate::k8s::util::{self, name_of};

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

pub(crate) fn list(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
) -> Result<Response, ApiError> {
    let (labels, fields) = ctx.selectors()?;
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
        .list_page(rt, rt.ns_filter(ns), start_after.as_ref(), snapshot_rv)
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
        return Ok(json_bytes(t));
    }
    let items: Vec<Arc<Stored>> = items.iter().map(|s| convert::view(rt, s)).collect();
    Ok(json_bytes(list_body(
        rt,
        rv,
        cont.as_deref(),
        remaining,
        &items,
    )))
}

pub(crate) fn get(
    ctx: &Ctx<'_>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let s = ctx.sh.store.existing(rt, ns, name)?;
    if ctx.wants_table() {
        let rv = ctx.sh.store.resource_version();
        return Ok(json_bytes(table::to_table(
            rt,
            std::slice::from_ref(&s),
            ctx.param("includeObject"),
            rv,
            None,
        )));
    }
    Ok(json_bytes(convert::view(rt, &s).json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        assert_eq!(unhex(&hex("12\nns\nname")).as_deref(), Some("12\nns\nname"));
        assert_eq!(unhex("zz"), None);
    }
}
