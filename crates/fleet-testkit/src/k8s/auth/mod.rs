//! Authentication and authorization.
//!
//! The fake serves plain HTTP, and kubectl (client-go) sends no credentials over plain HTTP,
//! only impersonation headers. So the listener behaves like the API server's old insecure
//! port: a request without credentials comes from the cluster's administrator, who may act as
//! anyone through impersonation. The kubeconfigs written for an identity
//! ([`FakeCluster::kubeconfig_for`](crate::k8s::FakeCluster::kubeconfig_for)) name it with
//! `as` / `as-groups`, which kubectl and kube-rs send as `Impersonate-User` /
//! `Impersonate-Group`. A bearer token the cluster issued
//! ([`FakeCluster::token_for`](crate::k8s::FakeCluster::token_for)) authenticates as its
//! identity instead, and that caller's own impersonation is authorized with verb
//! `impersonate`, as on a real server; an unknown token is 401. RBAC is off unless turned on,
//! so that tests which do not care run as an all-powerful user.

mod attributes;
mod identity;
mod rbac;
mod refusal;

use axum::http::HeaderMap;

pub(crate) use attributes::{Attributes, ResourceAttributes};
pub use identity::{Identity, MASTERS};
pub(crate) use rbac::{Decision, authorize, rules_for};
use refusal::forbidden;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::k8s::status::ApiError;
use crate::k8s::store::Store;
use crate::k8s::util::next_random;

/// The cluster's authentication and authorization settings: whether RBAC is on, and the
/// bearer tokens it issued.
#[derive(Default)]
pub(crate) struct AuthState {
    rbac: Mutex<bool>,
    tokens: Mutex<HashMap<String, Identity>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a poisoned lock still holds a usable value.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AuthState {
    pub(crate) fn rbac(&self) -> bool {
        *locked(&self.rbac)
    }

    pub(crate) fn set_rbac(&self, on: bool) {
        *locked(&self.rbac) = on;
    }

    /// The bearer token that authenticates as `id`, issued on first use.
    pub(crate) fn token(&self, id: &Identity) -> String {
        let mut tokens = locked(&self.tokens);
        if let Some((t, _)) = tokens.iter().find(|(_, who)| *who == id) {
            return t.clone();
        }
        let token = format!("fleet-fake-{:016x}{:016x}", next_random(), next_random());
        tokens.insert(token.clone(), id.clone());
        token
    }

    fn identity(&self, token: &str) -> Option<Identity> {
        locked(&self.tokens).get(token).cloned()
    }
}

/// Who sent the request: the identity of its bearer token, or the administrator when it
/// carries none (the trusted plain-HTTP listener); an unknown token is 401.
fn authenticate(headers: &HeaderMap, state: &AuthState) -> Result<Identity, ApiError> {
    let Some(auth) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Identity::admin().authenticated());
    };
    let token = auth
        .strip_prefix("Bearer ")
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    state
        .identity(token)
        .map(Identity::authenticated)
        .ok_or_else(ApiError::unauthorized)
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// The identity the request acts as after impersonation; the caller must be allowed to
/// impersonate each part of it when RBAC is on.
fn impersonate(
    caller: Identity,
    headers: &HeaderMap,
    store: &Store,
    rbac_on: bool,
) -> Result<Identity, ApiError> {
    let user = header_values(headers, "impersonate-user")
        .first()
        .map(|u| u.to_string());
    let groups: Vec<String> = header_values(headers, "impersonate-group")
        .into_iter()
        .map(String::from)
        .collect();
    let uid = header_values(headers, "impersonate-uid");
    let extras: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix("impersonate-extra-")?;
            Some((key.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect();
    let Some(user) = user else {
        if !groups.is_empty() || !uid.is_empty() || !extras.is_empty() {
            return Err(ApiError::bad_request(
                "requested impersonation of groups, a uid or extra fields without impersonating a user",
            ));
        }
        return Ok(caller);
    };
    let mut target = Identity::user(user.clone());
    if rbac_on {
        let mut checks: Vec<(String, String, String, String)> = Vec::new();
        match Identity::user(user.clone()).service_account_parts() {
            Some((ns, name)) => {
                checks.push(("".into(), "serviceaccounts".into(), ns.into(), name.into()));
            }
            None => checks.push(("".into(), "users".into(), String::new(), user.clone())),
        }
        for g in &groups {
            checks.push(("".into(), "groups".into(), String::new(), g.clone()));
        }
        for u in &uid {
            checks.push((
                "authentication.k8s.io".into(),
                "uids".into(),
                String::new(),
                (*u).to_string(),
            ));
        }
        for (k, v) in &extras {
            checks.push((
                "authentication.k8s.io".into(),
                format!("userextras/{k}"),
                String::new(),
                v.clone(),
            ));
        }
        for (group, resource, namespace, name) in checks {
            let (resource, subresource) = match resource.split_once('/') {
                Some((r, s)) => (r.to_string(), s.to_string()),
                None => (resource, String::new()),
            };
            let attrs = Attributes {
                verb: "impersonate".into(),
                resource: Some(ResourceAttributes {
                    group,
                    version: "v1".into(),
                    resource,
                    subresource,
                    name,
                    namespace,
                }),
                path: String::new(),
            };
            let d = authorize(store, &caller, &attrs);
            if !d.allowed {
                return Err(forbidden(&attrs, &caller.name, &d.reason));
            }
        }
    }
    if groups.is_empty()
        && let Some((ns, name)) = target.service_account_parts()
    {
        target = Identity::service_account(ns, name);
    } else {
        target.groups = groups;
    }
    if target.name == identity::ANONYMOUS {
        if !target.in_group(identity::UNAUTHENTICATED) {
            target.groups.push(identity::UNAUTHENTICATED.into());
        }
        return Ok(target);
    }
    Ok(target.authenticated())
}

/// A refused request: why, and who it was from when that is known.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) user: Option<String>,
    pub(crate) error: ApiError,
}

/// Authenticates the request, applies impersonation, and authorizes `attrs` (every entry must
/// be allowed) when RBAC is on. Returns the identity the request acts as.
pub(crate) fn check(
    headers: &HeaderMap,
    state: &AuthState,
    store: &Store,
    attrs: &[Attributes],
) -> Result<Identity, Refusal> {
    let rbac_on = state.rbac();
    let refused = |user: Option<&Identity>, error| Refusal {
        user: user.map(|u| u.name.clone()),
        error,
    };
    let caller = authenticate(headers, state).map_err(|e| refused(None, e))?;
    let id = impersonate(caller.clone(), headers, store, rbac_on)
        .map_err(|e| refused(Some(&caller), e))?;
    if rbac_on {
        for a in attrs {
            let d = authorize(store, &id, a);
            if !d.allowed {
                return Err(refused(Some(&id), forbidden(a, &id.name, &d.reason)));
            }
        }
    }
    Ok(id)
}
