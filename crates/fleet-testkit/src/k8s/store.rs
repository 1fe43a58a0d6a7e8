//! Object storage with the API server's bookkeeping: one global `resourceVersion` counter,
//! `uid`, `creationTimestamp`, `generation`, the status-subresource split, and a bounded change
//! history that watches replay from.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

use super::defaults;
use super::resources::{self, ResourceType};
use super::status::ApiError;
use super::util::{self, name_of, new_uid, now_rfc3339, random_suffix};

/// One stored object and its serialized form (kept so that lists are cheap). As on the real
/// server, list items carry no `kind` / `apiVersion`; single objects and watch events do.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) value: Value,
    /// The serialization without `kind` and `apiVersion`.
    pub(crate) item: Bytes,
}

impl Stored {
    pub(crate) fn new(value: Value) -> Arc<Self> {
        let mut bare = value.clone();
        if let Some(m) = bare.as_object_mut() {
            m.remove("kind");
            m.remove("apiVersion");
        }
        // Serializing a `Value` cannot fail: its map keys are strings.
        let item = Bytes::from(serde_json::to_vec(&bare).unwrap_or_default());
        Arc::new(Self { value, item })
    }

    /// The full serialization, `kind` and `apiVersion` first as the real server writes them.
    pub(crate) fn json(&self) -> Bytes {
        let kind = self.value.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = self
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let head = format!("{{\"kind\":\"{kind}\",\"apiVersion\":\"{api_version}\"");
        let mut out = Vec::with_capacity(head.len() + self.item.len() + 1);
        out.extend_from_slice(head.as_bytes());
        if self.item.len() > 2 {
            out.push(b',');
            out.extend_from_slice(&self.item[1..]);
        } else {
            out.push(b'}');
        }
        Bytes::from(out)
    }
}

/// What a change did, as watch event types name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed change.
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) rv: u64,
    pub(crate) kind: ChangeType,
    pub(crate) res: &'static ResourceType,
    pub(crate) obj: Arc<Stored>,
    pub(crate) old: Option<Arc<Stored>>,
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// A client write to the main resource: the stored status is kept.
    Main,
    /// A client write to the `status` subresource: only the status changes.
    Status,
    /// A write by the simulated controllers or the test: everything may change.
    Internal,
}

type ObjKey = (String, String);

#[derive(Default)]
struct State {
    rv: u64,
    tables: HashMap<String, BTreeMap<ObjKey, Arc<Stored>>>,
    history: VecDeque<Arc<Change>>,
    /// Changes with `rv > floor` are still in the history; older ones are compacted.
    floor: u64,
}

struct Inner {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Change>>,
    notify: Notify,
    history_limit: usize,
}

/// The fake cluster's object store, shared by the HTTP server, the simulated controllers and
/// the test. Cloning is cheap; all clones see the same objects.
///
/// Resources are named as kubectl accepts them (`pods`, `deploy`, `deployments.apps`, `hpa`).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.resource_version())
            .finish_non_exhaustive()
    }
}

fn resolve(resource: &str) -> Result<&'static ResourceType, ApiError> {
    resources::resolve(resource).ok_or_else(|| {
        ApiError::bad_request(format!(
            "the server doesn't have a resource type \"{resource}\""
        ))
    })
}

/// What `metadata.generation` tracks: everything but metadata and status (and, for pods,
/// the node binding, which is not a spec update).
fn generation_part(rt: &ResourceType, v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    if rt.group.is_empty()
        && rt.plural == "pods"
        && let Some(spec) = c.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.remove("nodeName");
    }
    c
}

impl Store {
    pub(crate) fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(8192);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                tx,
                notify: Notify::new(),
                history_limit,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current (latest) `resourceVersion`.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    // ----- public, JSON-in JSON-out API for tests -----

    /// Creates an object from its JSON (`apiVersion` and `kind` pick the resource), with the
    /// server's defaulting and validation. Returns the stored object.
    pub fn insert(&self, obj: Value) -> Result<Value, ApiError> {
        let rt = rt_of(&obj)?;
        let ns = util::namespace_of(&obj).to_string();
        let ns = if rt.namespaced && ns.is_empty() {
            "default".to_string()
        } else {
            ns
        };
        Ok(self.create(rt, &ns, obj, false)?.value.clone())
    }

    /// Replaces an object wholesale (status included), as a controller would. A
    /// `metadata.resourceVersion` in `obj` is checked (409 when stale).
    pub fn replace(&self, obj: Value) -> Result<Value, ApiError> {
        let rt = rt_of(&obj)?;
        let ns = util::namespace_of(&obj).to_string();
        let name = name_of(&obj).to_string();
        Ok(self
            .update(rt, &ns, &name, obj, WriteMode::Internal, false)?
            .value
            .clone())
    }

    /// Reads an object (`namespace` is ignored for cluster-scoped resources).
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = resources::resolve(resource)?;
        self.get_in(rt, namespace, name).map(|s| s.value.clone())
    }

    /// Lists objects, in one namespace or (with `None`) all of them, ordered by namespace and
    /// name.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(rt) = resources::resolve(resource) else {
            return Vec::new();
        };
        self.list_in(rt, namespace)
            .0
            .iter()
            .map(|s| s.value.clone())
            .collect()
    }

    /// Changes an object in place through `f` (any field, status included) and stores it. If
    /// the object changes underneath (the simulated controllers write too), `f` runs again on
    /// the newer object, so it may be called more than once.
    pub fn modify(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        f: impl FnMut(&mut Value),
    ) -> Result<Value, ApiError> {
        let rt = resolve(resource)?;
        Ok(self.modify_in(rt, namespace, name, f)?.value.clone())
    }

    /// Deletes an object and returns it.
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let rt = resolve(resource)?;
        Ok(self
            .delete_in(rt, namespace, name, None, false)?
            .value
            .clone())
    }

    // ----- crate-internal API -----

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.inner.tx.subscribe()
    }

    /// Wakes when anything changed since the last wake.
    pub(crate) async fn changed(&self) {
        self.inner.notify.notified().await;
    }

    /// Wakes the controllers without a change (time-driven transitions).
    pub(crate) fn poke(&self) {
        self.inner.notify.notify_one();
    }

    /// Drops the change history: continue tokens and watch positions issued so far expire.
    pub(crate) fn compact(&self) {
        let mut st = self.lock();
        st.history.clear();
        st.floor = st.rv;
    }

    pub(crate) fn get_in(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Stored>> {
        let ns = if rt.namespaced { ns } else { "" };
        self.lock()
            .tables
            .get(&rt.key())?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// The stored object, or the 404 Status a real server answers.
    pub(crate) fn existing(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Stored>, ApiError> {
        self.get_in(rt, ns, name)
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// Objects in key order and the `resourceVersion` they were read at.
    pub(crate) fn list_in(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Arc<Stored>>, u64) {
        let st = self.lock();
        let items = match st.tables.get(&rt.key()) {
            None => Vec::new(),
            Some(t) => match ns.filter(|_| rt.namespaced) {
                Some(ns) => t
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect(),
                None => t.values().cloned().collect(),
            },
        };
        (items, st.rv)
    }

    /// Every stored object with its (storage) type, for the garbage collector.
    pub(crate) fn all(&self) -> Vec<(&'static ResourceType, Arc<Stored>)> {
        let st = self.lock();
        let mut out = Vec::new();
        for (key, table) in &st.tables {
            let Some(rt) = resources::RESOURCES
                .iter()
                .find(|r| !r.computed && r.key() == *key)
            else {
                continue;
            };
            out.extend(table.values().map(|v| (rt, v.clone())));
        }
        out
    }

    /// A page's worth of objects: those after `after` (namespace and name, exclusive) in key
    /// order, as they were at `resourceVersion` `at` (the first page's), or now when `at` is
    /// `None`. Like the real server, a paged list is one consistent snapshot; `None` is
    /// returned when `at` is older than the kept history (410 Expired for the client).
    pub(crate) fn list_page(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        after: Option<&(String, String)>,
        at: Option<u64>,
    ) -> Option<(Vec<Arc<Stored>>, u64)> {
        use std::ops::Bound;
        let st = self.lock();
        let ns = ns.filter(|_| rt.namespaced);
        let in_scope =
            |k: &ObjKey| ns.is_none_or(|want| k.0 == want) && after.is_none_or(|a| k > a);
        let lower = match after {
            Some(a) => Bound::Excluded(a.clone()),
            None => Bound::Included((ns.unwrap_or("").to_string(), String::new())),
        };
        let range = || {
            st.tables.get(&rt.key()).into_iter().flat_map(|t| {
                t.range((lower.clone(), Bound::Unbounded))
                    .take_while(|((n, _), _)| ns.is_none_or(|want| n == want))
            })
        };
        let later: Vec<&Arc<Change>> = match at {
            None => Vec::new(),
            Some(at) if at < st.floor => return None,
            Some(at) => st
                .history
                .iter()
                .filter(|c| c.rv > at && c.res.group == rt.group && c.res.plural == rt.plural)
                .collect(),
        };
        let list_rv = at.unwrap_or(st.rv);
        if later.is_empty() {
            // Nothing of this type changed since the snapshot: the current objects are it.
            return Some((range().map(|(_, v)| v.clone()).collect(), list_rv));
        }
        // Undo, newest first, what happened after the snapshot.
        let mut snapshot: BTreeMap<ObjKey, Arc<Stored>> =
            range().map(|(k, v)| (k.clone(), v.clone())).collect();
        for c in later.iter().rev() {
            let obj = c.old.as_ref().unwrap_or(&c.obj);
            let key = (
                util::namespace_of(&obj.value).to_string(),
                name_of(&obj.value).to_string(),
            );
            if !in_scope(&key) {
                continue;
            }
            match (c.kind, &c.old) {
                (ChangeType::Added, _) => {
                    snapshot.remove(&key);
                }
                (_, Some(old)) => {
                    snapshot.insert(key, old.clone());
                }
                (_, None) => {}
            }
        }
        Some((snapshot.into_values().collect(), list_rv))
    }

    /// Changes of `rt` after `rv`, or `None` when `rv` is older than the kept history.
    pub(crate) fn history_since(&self, rt: &ResourceType, rv: u64) -> Option<Vec<Arc<Change>>> {
        let st = self.lock();
        if rv < st.floor {
            return None;
        }
        Some(
            st.history
                .iter()
                .filter(|c| c.rv > rv && c.res.group == rt.group && c.res.plural == rt.plural)
                .cloned()
                .collect(),
        )
    }

    fn commit(
        &self,
        st: &mut State,
        rt: &'static ResourceType,
        kind: ChangeType,
        obj: Arc<Stored>,
        old: Option<Arc<Stored>>,
    ) {
        let change = Arc::new(Change {
            rv: st.rv,
            kind,
            res: rt,
            obj,
            old,
        });
        st.history.push_back(change.clone());
        while st.history.len() > self.inner.history_limit {
            if let Some(c) = st.history.pop_front() {
                st.floor = c.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.inner.tx.send(change);
        self.inner.notify.notify_one();
    }

    pub(crate) fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Arc<Stored>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        if name_of(&obj).is_empty()
            && let Some(prefix) = util::str_at(&obj, &["metadata", "generateName"])
        {
            let generated = format!("{prefix}{}", random_suffix(5));
            obj["metadata"]["name"] = json!(generated);
        }
        let name = name_of(&obj).to_string();
        let body_ns = util::namespace_of(&obj).to_string();
        if rt.namespaced {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            obj["metadata"]["namespace"] = json!(ns);
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        defaults::apply(rt, &mut obj);
        let causes = defaults::validate(rt, &obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt, &name, &causes));
        }
        obj["metadata"]["uid"] = json!(new_uid());
        defaults::after_uid(rt, &mut obj);
        let meta = &mut obj["metadata"];
        meta["creationTimestamp"] = json!(now_rfc3339());
        if let Some(m) = meta.as_object_mut() {
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
            m.remove("generation");
        }
        if rt.generation {
            obj["metadata"]["generation"] = json!(1);
        }
        let mut st = self.lock();
        let ns_key = if rt.namespaced { ns } else { "" };
        if rt.namespaced
            && !st
                .tables
                .get("/namespaces")
                .is_some_and(|t| t.contains_key(&(String::new(), ns.to_string())))
        {
            let ns_rt = resources::resolve("namespaces");
            return Err(match ns_rt {
                Some(n) => ApiError::not_found(n, ns),
                None => ApiError::no_route(),
            });
        }
        let key = (ns_key.to_string(), name.clone());
        if st
            .tables
            .get(&rt.key())
            .is_some_and(|t| t.contains_key(&key))
        {
            return Err(ApiError::already_exists(rt, &name));
        }
        if dry_run {
            return Ok(Stored::new(obj));
        }
        st.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        let stored = Stored::new(obj);
        st.tables
            .entry(rt.key())
            .or_default()
            .insert(key, stored.clone());
        self.commit(&mut st, rt, ChangeType::Added, stored.clone(), None);
        Ok(stored)
    }

    pub(crate) fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        mut obj: Value,
        mode: WriteMode,
        dry_run: bool,
    ) -> Result<Arc<Stored>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let ns_key = if rt.namespaced { ns } else { "" };
        let body_name = name_of(&obj);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let mut st = self.lock();
        let key = (ns_key.to_string(), name.to_string());
        let old = st
            .tables
            .get(&rt.key())
            .and_then(|t| t.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        if let Some(rv) = util::str_at(&obj, &["metadata", "resourceVersion"])
            && !rv.is_empty()
            && Some(rv) != util::str_at(&old.value, &["metadata", "resourceVersion"])
        {
            return Err(ApiError::conflict(rt, name));
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        match mode {
            WriteMode::Main if rt.status_subresource => match old.value.get("status") {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            },
            WriteMode::Status => {
                let status = obj.get("status").cloned();
                obj = old.value.clone();
                match status {
                    Some(s) => obj["status"] = s,
                    None => {
                        if let Some(m) = obj.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            _ => {}
        }
        // Fields the server owns.
        for f in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "deletionTimestamp",
        ] {
            match old.value["metadata"].get(f) {
                Some(v) => obj["metadata"][f] = v.clone(),
                None => {
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove(f);
                    }
                }
            }
        }
        if mode != WriteMode::Status {
            defaults::apply(rt, &mut obj);
            let causes = defaults::validate(rt, &obj);
            if !causes.is_empty() {
                return Err(ApiError::invalid(rt, name, &causes));
            }
        }
        if rt.generation {
            let old_gen = util::i64_at(&old.value, &["metadata", "generation"], 1);
            let bumped = generation_part(rt, &old.value) != generation_part(rt, &obj);
            obj["metadata"]["generation"] = json!(if bumped { old_gen + 1 } else { old_gen });
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("generation");
        }
        obj["metadata"]["resourceVersion"] = old.value["metadata"]["resourceVersion"].clone();
        if obj == old.value || dry_run {
            // A no-op write keeps the resourceVersion, as the real server does.
            return Ok(if obj == old.value {
                old
            } else {
                Stored::new(obj)
            });
        }
        st.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        let stored = Stored::new(obj);
        st.tables
            .entry(rt.key())
            .or_default()
            .insert(key, stored.clone());
        self.commit(&mut st, rt, ChangeType::Modified, stored.clone(), Some(old));
        Ok(stored)
    }

    /// Reads, changes through `f` and writes back (internal write, no conflict check).
    pub(crate) fn modify_in(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        mut f: impl FnMut(&mut Value),
    ) -> Result<Arc<Stored>, ApiError> {
        // Optimistic concurrency, as controllers do it: a write that raced with another one
        // conflicts on the resourceVersion and is redone on the newer object, so no update is
        // lost.
        let mut attempts = 0;
        loop {
            let cur = self
                .get_in(rt, ns, name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            let mut v = cur.value.clone();
            f(&mut v);
            v["metadata"]["resourceVersion"] = cur.value["metadata"]["resourceVersion"].clone();
            match self.update(rt, ns, name, v, WriteMode::Internal, false) {
                Err(e) if e.reason == "Conflict" && attempts < 100 => attempts += 1,
                other => return other,
            }
        }
    }

    /// Removes the owner reference to `owner_uid` from every object in namespace `ns` (the
    /// `Orphan` propagation policy).
    pub(crate) fn orphan_dependents(&self, ns: &str, owner_uid: &str) {
        let mut dependents = Vec::new();
        {
            let st = self.lock();
            for (key, table) in &st.tables {
                for ((ons, name), o) in table.range((ns.to_string(), String::new())..) {
                    if ons != ns {
                        break;
                    }
                    let owned = o.value["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid));
                    if owned {
                        dependents.push((key.clone(), name.clone()));
                    }
                }
            }
        }
        for (key, name) in dependents {
            let Some(rt) = resources::RESOURCES
                .iter()
                .find(|r| r.key() == key && !r.computed)
            else {
                continue;
            };
            let _ = self.modify_in(rt, ns, &name, |v| {
                if let Some(refs) = v["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"] != owner_uid);
                    if refs.is_empty() {
                        v["metadata"]
                            .as_object_mut()
                            .map(|m| m.remove("ownerReferences"));
                    }
                }
            });
        }
    }

    /// Deletes an object. `precondition` is `(uid, resourceVersion)` from `DeleteOptions`.
    pub(crate) fn delete_in(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        precondition: Option<(Option<String>, Option<String>)>,
        dry_run: bool,
    ) -> Result<Arc<Stored>, ApiError> {
        let ns_key = if rt.namespaced { ns } else { "" };
        let key = (ns_key.to_string(), name.to_string());
        let mut st = self.lock();
        let old = st
            .tables
            .get(&rt.key())
            .and_then(|t| t.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        if let Some((uid, rv)) = precondition
            && (uid.is_some_and(|u| u != util::uid_of(&old.value))
                || rv.is_some_and(|r| {
                    Some(r.as_str()) != util::str_at(&old.value, &["metadata", "resourceVersion"])
                }))
        {
            return Err(ApiError::conflict(rt, name));
        }
        if dry_run {
            return Ok(old);
        }
        if let Some(t) = st.tables.get_mut(&rt.key()) {
            t.remove(&key);
        }
        st.rv += 1;
        let mut gone = old.value.clone();
        gone["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        let gone = Stored::new(gone);
        // Deleting a namespace deletes what is in it.
        let mut cascaded = Vec::new();
        if rt.plural == "namespaces" && rt.group.is_empty() {
            for (table, objs) in st.tables.iter_mut() {
                let keys: Vec<ObjKey> = objs
                    .range((name.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == name)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    if let Some(o) = objs.remove(&k) {
                        cascaded.push((table.clone(), o));
                    }
                }
            }
        }
        self.commit(&mut st, rt, ChangeType::Deleted, gone.clone(), Some(old));
        for (table, o) in cascaded {
            if let Some(crt) = resources::RESOURCES
                .iter()
                .find(|r| r.key() == table && !r.computed)
            {
                st.rv += 1;
                self.commit(&mut st, crt, ChangeType::Deleted, o.clone(), Some(o));
            }
        }
        Ok(gone)
    }
}

fn rt_of(obj: &Value) -> Result<&'static ResourceType, ApiError> {
    let api_version = util::str_at(obj, &["apiVersion"]).unwrap_or("");
    let kind = util::str_at(obj, &["kind"]).unwrap_or("");
    resources::find_kind(api_version, kind)
        .map(resources::storage)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "no matches for kind \"{kind}\" in version \"{api_version}\""
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let s = Store::new(100);
        let _ = s.insert(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        );
        s
    }

    fn deploy(name: &str, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": image}]}}}})
    }

    #[test]
    fn create_sets_server_fields_and_rejects_duplicates() {
        let s = store();
        let d = s.insert(deploy("a", "x:1")).unwrap_or_default();
        assert_eq!(d["metadata"]["generation"], 1);
        assert!(d["metadata"]["uid"].is_string());
        assert!(d["metadata"]["resourceVersion"].is_string());
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
        let err = s
            .insert(deploy("a", "x:1"))
            .err()
            .map(|e| (e.code, e.reason));
        assert_eq!(err, Some((409, "AlreadyExists")));
    }

    #[test]
    fn generation_bumps_on_spec_change_only_and_stale_rv_conflicts() {
        let s = store();
        let d = s.insert(deploy("a", "x:1")).unwrap_or_default();
        let rt = resources::resolve("deployments").expect("known");
        let mut status_only = d.clone();
        status_only["status"] = json!({"replicas": 1});
        let after = s
            .update(rt, "default", "a", status_only, WriteMode::Status, false)
            .map(|x| x.value.clone())
            .unwrap_or_default();
        assert_eq!(after["metadata"]["generation"], 1);
        assert_ne!(
            after["metadata"]["resourceVersion"],
            d["metadata"]["resourceVersion"]
        );
        let mut spec = after.clone();
        spec["spec"]["replicas"] = json!(3);
        let after2 = s
            .update(rt, "default", "a", spec, WriteMode::Main, false)
            .map(|x| x.value.clone())
            .unwrap_or_default();
        assert_eq!(after2["metadata"]["generation"], 2);
        assert_eq!(after2["status"]["replicas"], 1, "main writes keep status");
        // The first object's resourceVersion is stale now.
        let err = s
            .update(rt, "default", "a", d, WriteMode::Main, false)
            .err()
            .map(|e| e.code);
        assert_eq!(err, Some(409));
    }

    #[test]
    fn modify_redoes_a_raced_write_instead_of_losing_the_other() {
        let s = store();
        s.insert(deploy("a", "x:1")).unwrap_or_default();
        let mut calls = 0;
        let out = s
            .modify("deploy", "default", "a", |v| {
                calls += 1;
                if calls == 1 {
                    // Someone else writes between our read and our write.
                    let _ = s.modify("deploy", "default", "a", |o| {
                        o["spec"]["replicas"] = json!(5);
                    });
                }
                v["metadata"]["annotations"] = json!({"mine": "yes"});
            })
            .unwrap_or_default();
        assert_eq!(calls, 2);
        assert_eq!(out["spec"]["replicas"], 5, "the other write survives");
        assert_eq!(out["metadata"]["annotations"]["mine"], "yes");
    }

    #[test]
    fn missing_namespace_is_404_and_invalid_is_422() {
        let s = store();
        let mut d = deploy("a", "x:1");
        d["metadata"]["namespace"] = json!("nope");
        assert_eq!(s.insert(d).err().map(|e| e.code), Some(404));
        let mut bad = deploy("b", "x:1");
        bad["spec"]["selector"] = json!({"matchLabels": {"app": "other"}});
        assert_eq!(s.insert(bad).err().map(|e| e.reason), Some("Invalid"));
    }
}
