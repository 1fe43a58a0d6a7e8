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

/// A lock a run holds, taken with [`crate::Executor::take_lock`] (nothing in a dry run).
/// Give it back with [`HeldLock::release`] when the run ends; dropped, it is released in the
/// background where the implementation does so, or expires.
#[derive(Debug)]
#[must_use = "release the lock when the run ends"]
pub struct HeldLock(pub(crate) Option<Box<dyn LockHandle>>);

impl HeldLock {
    /// No lock (the run has none, or it is a dry run).
    pub fn none() -> Self {
        Self(None)
    }

    /// The lock as held, when one is.
    pub fn holder(&self) -> Option<LockHolder> {
        self.0.as_ref().map(|h| h.holder())
    }

    /// Gives the lock back; one that cannot be released expires on its own (logged).
    pub async fn release(self) {
        if let Some(handle) = self.0
            && let Err(e) = handle.release().await
        {
            tracing::warn!(error = %e, "lock not released; it expires on its own");
        }
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{LockRequest, MemoryLock};
    use crate::audit::{AuditPhase, MemoryAuditSink};
    use crate::clock::SystemClock;
    use crate::error::{Error, StepError};
    use crate::executor::{Executor, Guards, Mode, RunContext};
    use crate::plan::Step;

    fn executor(actor: &str, mode: Mode, audit: &MemoryAuditSink) -> Executor {
        let context = RunContext::new("restore", actor, "INC-1", mode).expect("context");
        Executor::new(context, Guards::new(Arc::new(audit.clone())))
    }

    fn request() -> LockRequest {
        LockRequest {
            target: "namespace/fleet-management".into(),
            holder: String::new(),
            reason: String::new(),
            ttl: Duration::from_secs(60),
        }
    }

    fn step() -> Step {
        Step::change("take-lock", "namespace/fleet-management", "hold the target")
    }

    #[tokio::test]
    async fn a_run_takes_the_lock_as_an_audited_step_and_the_next_sees_who_and_why() {
        let lock = MemoryLock::new(Arc::new(SystemClock));
        let audit = MemoryAuditSink::new();
        let alice = executor("alice", Mode::Execute, &audit);
        let held = alice
            .take_lock(step(), &lock, request())
            .await
            .expect("free");
        let holder = held.holder().expect("held");
        assert!(holder.holder.starts_with("alice ("), "{holder:?}");
        assert_eq!(holder.reason, "INC-1");
        let phases: Vec<AuditPhase> = audit.records().iter().map(|r| r.phase).collect();
        assert_eq!(phases, [AuditPhase::Intent, AuditPhase::Outcome]);

        // A dry run holds nothing and asks nothing.
        let dry = executor("bob", Mode::DryRun, &audit)
            .take_lock(step(), &lock, request())
            .await
            .expect("dry run");
        assert!(dry.holder().is_none());

        let bob = executor("bob", Mode::Execute, &audit);
        let refused = bob
            .take_lock(step(), &lock, request())
            .await
            .expect_err("held by alice");
        match refused {
            StepError::Failed {
                source: Error::Locked { holder, .. },
                ..
            } => assert!(holder.holder.starts_with("alice (")),
            other => panic!("{other:?}"),
        }
        held.release().await;
        bob.take_lock(step(), &lock, request())
            .await
            .expect("free again")
            .release()
            .await;
    }
}
