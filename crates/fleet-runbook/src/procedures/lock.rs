//! One operation at a time: the target's lock, taken as a confirmed, audited step of the plan
//! (`take-lock`) and released when the run ends, the same way in every procedure that changes a
//! target (deploy, rollback, database rollback).

use std::sync::Arc;
use std::time::Duration;

use fleet_guard::{Executor, LockHandle, LockRequest, Plan, TargetLock};

/// The lock a run holds (nothing in a dry run, without a lock, or without a `take-lock` step).
#[must_use = "release the lock when the run ends"]
pub(crate) struct Held(Option<Box<dyn LockHandle>>);

/// The `take-lock` step failed or was refused (the executor has recorded why): the run stops.
#[derive(Debug)]
pub(crate) struct NotTaken;

/// Takes `lock` on `target` for `ttl` through the plan's `take-lock` step, holder and reason
/// from the run's context.
pub(crate) async fn take(
    run: &Executor,
    plan: &Plan,
    lock: Option<&Arc<dyn TargetLock>>,
    target: String,
    ttl: Duration,
) -> Result<Held, NotTaken> {
    let (Some(lock), Some(step)) = (lock, plan.step("take-lock")) else {
        return Ok(Held(None));
    };
    let request = LockRequest {
        target,
        holder: format!("{} ({})", run.context().actor, run.run_id()),
        reason: run.context().reason.clone(),
        ttl,
    };
    match run.change(step.clone(), || lock.acquire(&request)).await {
        Ok(applied) => Ok(Held(applied.done())),
        Err(_) => Err(NotTaken),
    }
}

impl Held {
    /// Gives the lock back; one that cannot be released expires on its own (logged).
    pub(crate) async fn release(self) {
        if let Some(handle) = self.0
            && let Err(e) = handle.release().await
        {
            tracing::warn!(error = %e, "lock not released; it expires on its own");
        }
    }
}
