//! One operation at a time per target: two engineers (or a CronJob and an engineer) must not
//! deploy, roll back or restore the same thing at once. The trait is here; the Kubernetes
//! Lease implementation is `fleet-k8s`'s, and [`MemoryLock`] serves tests.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, Result};

/// What a run asks for when it takes a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    /// The target (`deployment/fleet-management/fleet-api`, a server's id).
    pub target: String,
    /// Who takes it (the run's actor and run id).
    pub holder: String,
    /// Why, shown to whoever is refused.
    pub reason: String,
    /// How long the lock lasts without renewal; a crashed holder's lock can be taken over
    /// once this has passed since its last renewal.
    pub ttl: Duration,
}

/// Who holds a lock, shown to whoever is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The target.
    pub target: String,
    /// The holder.
    pub holder: String,
    /// The holder's reason.
    pub reason: String,
    /// When it was taken.
    pub acquired: Timestamp,
    /// When it was last renewed.
    pub renewed: Timestamp,
    /// When it expires unless renewed.
    pub expires: Timestamp,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is held by {} since {} ({}); it expires at {} unless renewed",
            self.target, self.holder, self.acquired, self.reason, self.expires
        )
    }
}

/// A held lock. Dropping it without [`LockHandle::release`] leaves the lock to expire.
#[async_trait]
pub trait LockHandle: Send + Sync + fmt::Debug {
    /// The lock as held.
    fn holder(&self) -> LockHolder;

    /// Whether the lock is still ours (its renewal has not failed or been overtaken).
    fn is_held(&self) -> bool;

    /// Gives the lock back.
    async fn release(self: Box<Self>) -> Result<()>;
}

/// A lock per target.
#[async_trait]
pub trait TargetLock: Send + Sync + fmt::Debug {
    /// Takes the lock, or fails with [`Error::Locked`] naming the holder.
    async fn acquire(&self, request: &LockRequest) -> Result<Box<dyn LockHandle>>;

    /// Who holds the lock on `target` now, if anyone (expired holders are not returned).
    async fn current(&self, target: &str) -> Result<Option<LockHolder>>;
}

/// The live locks: each holder with the flag its handle reads.
type Held = BTreeMap<String, (LockHolder, Arc<AtomicBool>)>;

/// Locks in one process's memory (tests, and tools that only need to protect themselves).
/// Expiry is judged on the given [`Clock`]; there is no renewal task, so a holder keeps the
/// lock until it releases it or its ttl passes.
#[derive(Clone)]
pub struct MemoryLock {
    clock: Arc<dyn Clock>,
    held: Arc<Mutex<Held>>,
}

impl fmt::Debug for MemoryLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLock").finish_non_exhaustive()
    }
}

impl MemoryLock {
    /// An empty set of locks on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            held: Arc::default(),
        }
    }
}

#[derive(Debug)]
struct MemoryHandle {
    lock: MemoryLock,
    holder: LockHolder,
    live: Arc<AtomicBool>,
}

#[async_trait]
impl LockHandle for MemoryHandle {
    fn holder(&self) -> LockHolder {
        self.holder.clone()
    }

    fn is_held(&self) -> bool {
        self.live.load(Ordering::SeqCst) && self.lock.clock.now() < self.holder.expires
    }

    async fn release(self: Box<Self>) -> Result<()> {
        let mut held = self
            .lock
            .held
            .lock()
            .map_err(|_| Error::invalid("lock", "poisoned"))?;
        let ours = held.get(&self.holder.target).is_some_and(|(current, _)| {
            current.holder == self.holder.holder && current.acquired == self.holder.acquired
        });
        if ours {
            held.remove(&self.holder.target);
        }
        self.live.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl TargetLock for MemoryLock {
    async fn acquire(&self, request: &LockRequest) -> Result<Box<dyn LockHandle>> {
        if request.target.trim().is_empty() || request.holder.trim().is_empty() {
            return Err(Error::invalid(
                "lock request",
                "target and holder must not be empty",
            ));
        }
        let now = self.clock.now();
        let ttl = jiff::SignedDuration::try_from(request.ttl)
            .map_err(|_| Error::invalid("lock ttl", "too long"))?;
        let expires = now
            .checked_add(ttl)
            .map_err(|_| Error::invalid("lock ttl", "too long"))?;
        let mut held = self
            .held
            .lock()
            .map_err(|_| Error::invalid("lock", "poisoned"))?;
        if let Some((current, live)) = held.get(&request.target) {
            if now < current.expires {
                return Err(Error::Locked {
                    holder: Box::new(current.clone()),
                });
            }
            // Expired: the old holder lost it.
            live.store(false, Ordering::SeqCst);
        }
        let holder = LockHolder {
            target: request.target.clone(),
            holder: request.holder.clone(),
            reason: request.reason.clone(),
            acquired: now,
            renewed: now,
            expires,
        };
        let live = Arc::new(AtomicBool::new(true));
        held.insert(request.target.clone(), (holder.clone(), Arc::clone(&live)));
        Ok(Box::new(MemoryHandle {
            lock: self.clone(),
            holder,
            live,
        }))
    }

    async fn current(&self, target: &str) -> Result<Option<LockHolder>> {
        let now = self.clock.now();
        let held = self
            .held
            .lock()
            .map_err(|_| Error::invalid("lock", "poisoned"))?;
        Ok(held
            .get(target)
            .map(|(h, _)| h.clone())
            .filter(|h| now < h.expires))
    }
}
