//! One operation at a time: the target's lock, taken as the plan's confirmed, audited
//! `take-lock` step ([`fleet_guard::Executor::take_lock`]) and released when the run ends, the
//! same way in every procedure that changes a target (deploy, rollback, database rollback).

use std::sync::Arc;
use std::time::Duration;

use fleet_guard::{Executor, HeldLock, LockRequest, Plan, TargetLock};

/// The `take-lock` step failed or was refused (the executor has recorded why): the run stops.
#[derive(Debug)]
pub(crate) struct NotTaken;

/// Takes `lock` on `target` for `ttl` through the plan's `take-lock` step, holder and reason
/// from the run's context; nothing without a lock or without that step.
pub(crate) async fn take(
    run: &Executor,
    plan: &Plan,
    lock: Option<&Arc<dyn TargetLock>>,
    target: String,
    ttl: Duration,
) -> Result<HeldLock, NotTaken> {
    let (Some(lock), Some(step)) = (lock, plan.step("take-lock")) else {
        return Ok(HeldLock::none());
    };
    let request = LockRequest {
        target,
        holder: String::new(),
        reason: String::new(),
        ttl,
    };
    run.take_lock(step.clone(), lock.as_ref(), request)
        .await
        .map_err(|_| NotTaken)
}
