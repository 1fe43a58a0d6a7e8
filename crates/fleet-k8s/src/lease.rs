//! [`LeaseLock`]: `fleet_guard::TargetLock` on a `coordination.k8s.io/v1` Lease per target,
//! so that two engineers (or a CronJob and an engineer) cannot change the same target at once
//! even from different machines.
//!
//! Each target gets one Lease, named from the target (a readable part and a hash of the exact
//! text, so two targets never share a Lease). The holder is `spec.holderIdentity`; the reason
//! and the exact target are annotations. Every write is conditional on the `resourceVersion`
//! read just before it, so of two runs racing for a free Lease exactly one wins (the other gets
//! 409 Conflict, reads again and is refused with the winner's name and reason).
//!
//! A held Lease is renewed by a background task (`renewTime`, every third of the lease
//! duration by default). A Lease counts as expired once `renewTime + leaseDurationSeconds` (plus
//! an allowance for clock skew between machines) has passed on this machine's clock; only then
//! may another holder take it over, which increments `leaseTransitions`. Releasing clears
//! `holderIdentity` (as client-go's `ReleaseOnCancel` does), so the next run may take the Lease
//! at once; dropping a handle without releasing it stops the renewal and starts a best-effort
//! release in the background, and a holder that crashed simply stops renewing, so its Lease
//! expires.
//!
//! On a dry-run [`KubeCluster`](crate::KubeCluster) (`as_dry_run`) the Lease is read and the
//! write sent with `dryRun=All`: a refusal is reported as in a real run, but nothing is stored
//! and nothing is renewed.
//!
//! RBAC: `get`, `create`, `update` on `leases` in API group `coordination.k8s.io`, in the
//! lock's namespace.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fleet_guard::{Clock, LockHandle, LockHolder, LockRequest, SystemClock, TargetLock};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;

use crate::cluster::KubeCluster;
use crate::error::{Error, Result};
use crate::time::{from_micro_time, to_micro_time};
use crate::validate;

/// Annotation on a lock's Lease holding the exact target it locks.
pub const LOCK_TARGET_ANNOTATION: &str = "fleet-runbook/lock-target";
/// Annotation on a lock's Lease holding the holder's reason.
pub const LOCK_REASON_ANNOTATION: &str = "fleet-runbook/lock-reason";

/// Longest reason accepted, in bytes (it is stored in an annotation and shown to others).
const MAX_REASON: usize = 1024;
/// Longest holder identity accepted, in bytes.
const MAX_HOLDER: usize = 253;

/// Plain-data options of a [`LeaseLock`].
#[derive(Clone)]
#[non_exhaustive]
pub struct LeaseLockOptions {
    /// Namespace of the Leases; `None` takes the cluster handle's namespace.
    pub namespace: Option<String>,
    /// First part of every Lease name (a DNS label, at most 20 characters).
    pub name_prefix: String,
    /// How often a held Lease is renewed; `None` renews every third of the request's ttl.
    pub renew_every: Option<Duration>,
    /// How far clocks of different machines may disagree: a Lease is taken over only once
    /// `renewTime + leaseDurationSeconds + clock_skew` has passed here.
    pub clock_skew: Duration,
    /// How many 409 Conflicts one acquire or release absorbs (each followed by a fresh read)
    /// before it gives up with `fleet_guard::Error::Lock`.
    pub max_conflicts: u32,
    /// Where `now` comes from (the system clock by default).
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for LeaseLockOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseLockOptions")
            .field("namespace", &self.namespace)
            .field("name_prefix", &self.name_prefix)
            .field("renew_every", &self.renew_every)
            .field("clock_skew", &self.clock_skew)
            .field("max_conflicts", &self.max_conflicts)
            .field("clock", &self.clock)
            .finish()
    }
}

impl Default for LeaseLockOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            name_prefix: "fleet-lock".into(),
            renew_every: None,
            clock_skew: Duration::from_secs(1),
            max_conflicts: 8,
            clock: Arc::new(SystemClock),
        }
    }
}

impl LeaseLockOptions {
    /// Sets the namespace of the Leases.
    #[must_use]
    pub fn with_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }
    /// Sets the renewal interval.
    #[must_use]
    pub fn with_renew_every(mut self, d: Duration) -> Self {
        self.renew_every = Some(d);
        self
    }
    /// Sets the clock-skew allowance.
    #[must_use]
    pub fn with_clock_skew(mut self, d: Duration) -> Self {
        self.clock_skew = d;
        self
    }
    /// Sets the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// One operation at a time per target, on Kubernetes Leases (see the module documentation
/// of `fleet_k8s` and [`LeaseLock::new`]).
#[derive(Clone)]
pub struct LeaseLock {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: KubeCluster,
    api: Api<Lease>,
    namespace: String,
    opts: LeaseLockOptions,
}

impl fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseLock")
            .field("namespace", &self.inner.namespace)
            .field("options", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// Locks on Leases through `cluster`'s client (its retry policy and dry-run setting apply).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the namespace or the name prefix is not a DNS label, the
    /// prefix is longer than 20 characters, or `max_conflicts` is 0.
    pub fn new(cluster: &KubeCluster, options: LeaseLockOptions) -> Result<Self> {
        let namespace = options
            .namespace
            .clone()
            .unwrap_or_else(|| cluster.namespace().to_string());
        validate::label_name("namespace", &namespace)?;
        validate::label_name("lease name prefix", &options.name_prefix)?;
        if options.name_prefix.len() > 20 {
            return Err(Error::invalid(
                "lease name prefix",
                options.name_prefix.clone(),
                "must be at most 20 characters",
            ));
        }
        if options.max_conflicts == 0 {
            return Err(Error::invalid(
                "max_conflicts",
                "0",
                "must allow at least one attempt",
            ));
        }
        let api = Api::namespaced(cluster.client().clone(), &namespace);
        Ok(Self {
            inner: Arc::new(Inner {
                cluster: cluster.clone(),
                api,
                namespace,
                opts: options,
            }),
        })
    }

    /// The namespace of the Leases.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The Lease name of `target`: the prefix, the target's letters and digits in lower case
    /// with every other run of characters as one `-`, and 8 hex digits of a hash of the exact
    /// target, within the 63 characters of a DNS label.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty target.
    pub fn lease_name(&self, target: &str) -> Result<String> {
        lease_name(&self.inner.opts.name_prefix, target)
    }
}

/// See [`LeaseLock::lease_name`].
fn lease_name(prefix: &str, target: &str) -> Result<String> {
    if target.trim().is_empty() {
        return Err(Error::invalid("lock target", target, "must not be empty"));
    }
    let hash = format!("{:08x}", fnv1a32(target.as_bytes()));
    let mut slug = String::new();
    for c in target.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    // prefix + '-' + slug + '-' + hash <= 63
    let room = 63usize.saturating_sub(prefix.len() + 2 + hash.len());
    slug.truncate(room);
    let slug = slug.trim_end_matches('-');
    let name = if slug.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{slug}-{hash}")
    };
    validate::label_name("lease name", &name)?;
    Ok(name)
}

/// FNV-1a (32 bits): stable across builds and platforms, unlike std's hasher.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// `now` at the Lease's precision (microseconds), so what we write is what we read back.
fn micro(t: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

fn lock_err(target: &str, reason: impl fmt::Display) -> fleet_guard::Error {
    fleet_guard::Error::Lock {
        target: target.to_string(),
        reason: reason.to_string(),
    }
}

/// What a Lease says.
#[derive(Debug, Clone)]
struct Record {
    holder: String,
    reason: String,
    target: Option<String>,
    acquired: Option<Timestamp>,
    renewed: Option<Timestamp>,
    duration: i32,
    transitions: i32,
}

impl Record {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        let annotations = lease.metadata.annotations.clone().unwrap_or_default();
        Self {
            holder: spec.holder_identity.unwrap_or_default(),
            reason: annotations
                .get(LOCK_REASON_ANNOTATION)
                .cloned()
                .unwrap_or_default(),
            target: annotations.get(LOCK_TARGET_ANNOTATION).cloned(),
            acquired: from_micro_time(spec.acquire_time.as_ref()),
            renewed: from_micro_time(spec.renew_time.as_ref())
                .or_else(|| from_micro_time(spec.acquire_time.as_ref())),
            duration: spec.lease_duration_seconds.unwrap_or(0).max(0),
            transitions: spec.lease_transitions.unwrap_or(0).max(0),
        }
    }

    /// When the holder's claim ends unless renewed (the epoch when the Lease says nothing).
    fn expires(&self) -> Timestamp {
        let renewed = self.renewed.unwrap_or(Timestamp::UNIX_EPOCH);
        renewed
            .checked_add(SignedDuration::from_secs(i64::from(self.duration)))
            .unwrap_or(Timestamp::MAX)
    }

    /// Held by someone whose claim has not run out, with `skew` of doubt.
    fn is_live(&self, now: Timestamp, skew: Duration) -> bool {
        let skew = SignedDuration::try_from(skew).unwrap_or(SignedDuration::MAX);
        !self.holder.is_empty() && now < self.expires().checked_add(skew).unwrap_or(Timestamp::MAX)
    }

    fn is(&self, holder: &str, acquired: Timestamp) -> bool {
        self.holder == holder && self.acquired == Some(acquired)
    }

    fn shown(&self, target: &str) -> LockHolder {
        let renewed = self.renewed.unwrap_or(Timestamp::UNIX_EPOCH);
        LockHolder {
            target: self.target.clone().unwrap_or_else(|| target.to_string()),
            holder: self.holder.clone(),
            reason: self.reason.clone(),
            acquired: self.acquired.unwrap_or(renewed),
            renewed,
            expires: self.expires(),
        }
    }
}

/// Writes a holder's claim into `lease`.
fn claim(lease: &mut Lease, holder: &LockHolder, seconds: i32, transitions: i32) {
    let annotations = lease.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(LOCK_TARGET_ANNOTATION.into(), holder.target.clone());
    annotations.insert(LOCK_REASON_ANNOTATION.into(), holder.reason.clone());
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(holder.holder.clone());
    spec.lease_duration_seconds = Some(seconds);
    spec.acquire_time = to_micro_time(holder.acquired);
    spec.renew_time = to_micro_time(holder.renewed);
    spec.lease_transitions = Some(transitions);
}

impl Inner {
    fn post_params(&self) -> PostParams {
        self.cluster.post_params(self.cluster.options().dry_run)
    }

    async fn get(&self, name: &str) -> Result<Option<Lease>> {
        let op = format!("get lease {name}");
        match self.cluster.call(&op, || self.api.get(name)).await {
            Ok(l) => Ok(Some(l)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, lease: &Lease) -> Result<Lease> {
        let pp = self.post_params();
        let op = "create lease";
        self.cluster.call(op, || self.api.create(&pp, lease)).await
    }

    async fn replace(&self, name: &str, lease: &Lease) -> Result<Lease> {
        let pp = self.post_params();
        let op = format!("update lease {name}");
        self.cluster
            .call(&op, || self.api.replace(name, &pp, lease))
            .await
    }

    /// One acquire: the stored Lease, or a refusal naming the holder.
    async fn acquire(
        &self,
        name: &str,
        holder: &LockHolder,
        seconds: i32,
    ) -> fleet_guard::Result<Lease> {
        let target = holder.target.as_str();
        for attempt in 1..=self.opts.max_conflicts {
            let now = self.opts.clock.now();
            let written = match self.get(name).await.map_err(|e| lock_err(target, e))? {
                None => {
                    let mut lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(name.to_string()),
                            namespace: Some(self.namespace.clone()),
                            ..ObjectMeta::default()
                        },
                        spec: None,
                    };
                    claim(&mut lease, holder, seconds, 0);
                    self.create(&lease).await
                }
                Some(mut lease) => {
                    let record = Record::of(&lease);
                    if record.is(&holder.holder, holder.acquired) {
                        // Our own earlier attempt got through (a retried write).
                        return Ok(lease);
                    }
                    if let Some(other) = record.target.as_deref().filter(|t| *t != target) {
                        return Err(lock_err(
                            target,
                            format!("lease {name} belongs to another target ({other})"),
                        ));
                    }
                    if record.is_live(now, self.opts.clock_skew) {
                        tracing::info!(lease = name, holder = %record.holder, "lock refused");
                        return Err(fleet_guard::Error::Locked {
                            holder: Box::new(record.shown(target)),
                        });
                    }
                    if !record.holder.is_empty() {
                        tracing::info!(lease = name, previous = %record.holder, "taking over an expired lock");
                    }
                    let transitions = if record.holder == holder.holder {
                        record.transitions
                    } else {
                        record.transitions.saturating_add(1)
                    };
                    claim(&mut lease, holder, seconds, transitions);
                    self.replace(name, &lease).await
                }
            };
            match written {
                Ok(lease) => return Ok(lease),
                Err(e) if e.is_conflict() => {
                    tracing::debug!(lease = name, attempt, "lost a write race, reading again");
                }
                Err(e) => return Err(lock_err(target, e)),
            }
        }
        Err(lock_err(
            target,
            format!(
                "lease {name}: {} conflicting writes in a row",
                self.opts.max_conflicts
            ),
        ))
    }

    /// Gives the Lease back if it is still ours: clears the holder so the next run may take it
    /// at once.
    async fn release(&self, name: &str, holder: &LockHolder) -> fleet_guard::Result<()> {
        let target = holder.target.as_str();
        for _ in 0..self.opts.max_conflicts {
            let Some(mut lease) = self.get(name).await.map_err(|e| lock_err(target, e))? else {
                return Ok(());
            };
            if !Record::of(&lease).is(&holder.holder, holder.acquired) {
                tracing::warn!(lease = name, "lock was no longer ours at release");
                return Ok(());
            }
            let now = micro(self.opts.clock.now());
            if let Some(a) = lease.metadata.annotations.as_mut() {
                a.remove(LOCK_REASON_ANNOTATION);
            }
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            spec.holder_identity = Some(String::new());
            spec.lease_duration_seconds = Some(1);
            spec.acquire_time = to_micro_time(now);
            spec.renew_time = to_micro_time(now);
            match self.replace(name, &lease).await {
                Ok(_) => {
                    tracing::info!(lease = name, "lock released");
                    return Ok(());
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(lock_err(target, e)),
            }
        }
        Err(lock_err(
            target,
            format!("lease {name}: release lost every write race"),
        ))
    }
}

#[async_trait]
impl TargetLock for LeaseLock {
    #[tracing::instrument(skip_all, fields(namespace = %self.inner.namespace, target = %request.target, holder = %request.holder))]
    async fn acquire(&self, request: &LockRequest) -> fleet_guard::Result<Box<dyn LockHandle>> {
        let target = request.target.as_str();
        let invalid = |reason: &str| fleet_guard::Error::InvalidInput {
            field: "lock request",
            reason: reason.to_string(),
        };
        if request.holder.trim().is_empty() || request.holder.len() > MAX_HOLDER {
            return Err(invalid("the holder must be 1 to 253 bytes"));
        }
        if request.reason.len() > MAX_REASON {
            return Err(invalid("the reason must be at most 1024 bytes"));
        }
        let name = self
            .lease_name(target)
            .map_err(|e| invalid(&e.to_string()))?;
        // Whole seconds, rounded up; at least one.
        let seconds = request.ttl.as_secs() + u64::from(request.ttl.subsec_nanos() > 0);
        let seconds = i32::try_from(seconds.max(1))
            .map_err(|_| invalid("the ttl is longer than a Lease can say"))?;
        let ttl = Duration::from_secs(u64::try_from(seconds).unwrap_or(1));
        let now = micro(self.inner.opts.clock.now());
        let holder = LockHolder {
            target: target.to_string(),
            holder: request.holder.clone(),
            reason: request.reason.clone(),
            acquired: now,
            renewed: now,
            expires: now
                .checked_add(SignedDuration::from_secs(i64::from(seconds)))
                .unwrap_or(Timestamp::MAX),
        };
        let lease = self.inner.acquire(&name, &holder, seconds).await?;
        let dry_run = self.inner.cluster.options().dry_run;
        let state = Arc::new(State {
            holder: Mutex::new(holder),
            lease: Mutex::new(lease),
            live: AtomicBool::new(true),
        });
        let renewal = if dry_run {
            None
        } else {
            let every = self
                .inner
                .opts
                .renew_every
                .unwrap_or(ttl / 3)
                .max(Duration::from_millis(100));
            Some(tokio::spawn(renew(
                Arc::clone(&self.inner),
                name.clone(),
                Arc::clone(&state),
                every,
                seconds,
            )))
        };
        tracing::info!(lease = %name, dry_run, "lock acquired");
        Ok(Box::new(LeaseHandle {
            lock: Arc::clone(&self.inner),
            name,
            state,
            renewal,
            dry_run,
            released: false,
        }))
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.inner.namespace, target))]
    async fn current(&self, target: &str) -> fleet_guard::Result<Option<LockHolder>> {
        let name = self
            .lease_name(target)
            .map_err(|e| fleet_guard::Error::InvalidInput {
                field: "lock target",
                reason: e.to_string(),
            })?;
        let now = self.inner.opts.clock.now();
        let lease = self
            .inner
            .get(&name)
            .await
            .map_err(|e| lock_err(target, e))?;
        Ok(lease
            .map(|l| Record::of(&l))
            .filter(|r| r.is_live(now, Duration::ZERO))
            .map(|r| r.shown(target)))
    }
}

/// What a handle and its renewal task share.
struct State {
    holder: Mutex<LockHolder>,
    /// The Lease as last written by us (its resourceVersion is the one to replace).
    lease: Mutex<Lease>,
    live: AtomicBool,
}

impl State {
    fn holder(&self) -> Option<LockHolder> {
        self.holder.lock().ok().map(|h| h.clone())
    }
}

/// Keeps the Lease ours until the handle goes, the Lease is overtaken, or renewals fail until
/// it expires.
async fn renew(inner: Arc<Inner>, name: String, state: Arc<State>, every: Duration, seconds: i32) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(mut holder) = state.holder() else {
            return;
        };
        let now = micro(inner.opts.clock.now());
        let Ok(mut lease) = state.lease.lock().map(|l| l.clone()) else {
            return;
        };
        let transitions = Record::of(&lease).transitions;
        let mut renewed = holder.clone();
        renewed.renewed = now;
        renewed.expires = now
            .checked_add(SignedDuration::from_secs(i64::from(seconds)))
            .unwrap_or(Timestamp::MAX);
        claim(&mut lease, &renewed, seconds, transitions);
        let outcome = match inner.replace(&name, &lease).await {
            Err(e) if e.is_conflict() => {
                // Someone wrote since our last write: still ours?
                match inner.get(&name).await {
                    Ok(Some(mut fresh))
                        if Record::of(&fresh).is(&holder.holder, holder.acquired) =>
                    {
                        let transitions = Record::of(&fresh).transitions;
                        claim(&mut fresh, &renewed, seconds, transitions);
                        inner.replace(&name, &fresh).await
                    }
                    Ok(_) => {
                        tracing::warn!(lease = %name, "lock overtaken by another holder");
                        state.live.store(false, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match outcome {
            Ok(stored) => {
                holder = renewed;
                if let Ok(mut l) = state.lease.lock() {
                    *l = stored;
                }
                if let Ok(mut h) = state.holder.lock() {
                    *h = holder;
                }
                tracing::debug!(lease = %name, "lock renewed");
            }
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "lock renewal failed");
                if inner.opts.clock.now() >= holder.expires {
                    tracing::warn!(lease = %name, "lock expired before it could be renewed");
                    state.live.store(false, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}

/// A held Lease.
struct LeaseHandle {
    lock: Arc<Inner>,
    name: String,
    state: Arc<State>,
    renewal: Option<tokio::task::JoinHandle<()>>,
    dry_run: bool,
    released: bool,
}

impl fmt::Debug for LeaseHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseHandle")
            .field("lease", &self.name)
            .field("namespace", &self.lock.namespace)
            .field("dry_run", &self.dry_run)
            .field("held", &self.is_held())
            .finish()
    }
}

#[async_trait]
impl LockHandle for LeaseHandle {
    fn holder(&self) -> LockHolder {
        self.state.holder().unwrap_or_else(|| LockHolder {
            target: String::new(),
            holder: String::new(),
            reason: String::new(),
            acquired: Timestamp::UNIX_EPOCH,
            renewed: Timestamp::UNIX_EPOCH,
            expires: Timestamp::UNIX_EPOCH,
        })
    }

    fn is_held(&self) -> bool {
        !self.released
            && self.state.live.load(Ordering::SeqCst)
            && self.lock.opts.clock.now() < self.holder().expires
    }

    async fn release(mut self: Box<Self>) -> fleet_guard::Result<()> {
        self.released = true;
        self.state.live.store(false, Ordering::SeqCst);
        if let Some(task) = self.renewal.take() {
            task.abort();
            // Wait for the task to be gone, so no renewal races the release.
            let _ = task.await;
        }
        if self.dry_run {
            return Ok(());
        }
        let holder = self.holder();
        self.lock.release(&self.name, &holder).await
    }
}

impl Drop for LeaseHandle {
    fn drop(&mut self) {
        if let Some(task) = self.renewal.take() {
            task.abort();
        }
        if self.released || self.dry_run {
            return;
        }
        self.state.live.store(false, Ordering::SeqCst);
        // Best effort: without a runtime (or if this task never runs) the Lease expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let lock = Arc::clone(&self.lock);
            let name = self.name.clone();
            let holder = self.holder();
            rt.spawn(async move {
                if let Err(e) = lock.release(&name, &holder).await {
                    tracing::warn!(lease = %name, error = %e, "release of a dropped lock failed; it will expire");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_labels_and_distinct() {
        let a = lease_name("fleet-lock", "deployment/fleet-management/fleet-api").expect("ok");
        assert!(
            a.starts_with("fleet-lock-deployment-fleet-management-fleet-api-"),
            "{a}"
        );
        let b = lease_name("fleet-lock", "deployment-fleet-management-fleet-api").expect("ok");
        assert_ne!(
            a, b,
            "punctuation alone must not make two targets share a lease"
        );
        let long = "x/".repeat(200);
        let n = lease_name("fleet-lock", &long).expect("ok");
        assert!(n.len() <= 63 && !n.contains("--"), "{n}");
        let odd = lease_name("fleet-lock", "Ünïcode / ☃").expect("ok");
        assert!(odd.starts_with("fleet-lock-n-code-"), "{odd}");
        assert!(lease_name("fleet-lock", "  ").is_err());
        // Stable across builds: a fixed value.
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    }

    #[test]
    fn expiry_is_renew_time_plus_duration_plus_skew() {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let r = Record {
            holder: "a".into(),
            reason: String::new(),
            target: None,
            acquired: Some(t),
            renewed: Some(t),
            duration: 10,
            transitions: 0,
        };
        let at = |s: i64| t.checked_add(SignedDuration::from_secs(s)).expect("ts");
        assert!(r.is_live(at(9), Duration::ZERO));
        assert!(!r.is_live(at(10), Duration::ZERO));
        assert!(r.is_live(at(10), Duration::from_secs(2)));
        assert!(!r.is_live(at(12), Duration::from_secs(2)));
        let released = Record {
            holder: String::new(),
            ..r
        };
        assert!(!released.is_live(at(0), Duration::ZERO));
    }
}
