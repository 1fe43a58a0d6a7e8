//! The guard rails every change of the fleet runbook goes through.
//!
//! The runbook's safety rules (plan first, dry run on request, type `ROLLBACK` before a
//! rollback, record who changed what and why) are the same for a deploy, a database restore
//! or a credential rotation, so they live here once and the crates that change things
//! (`fleet-db`'s remediation, `fleet-backup`, `fleet-runbook`) share them:
//!
//! - [`Plan`] and [`Step`]: what a procedure will read, change, wait for and tell people,
//!   with the exact objects and values, built before anything changes.
//! - [`Executor`]: runs steps under a [`RunContext`] (who, why, dry run or not) and
//!   [`Guards`]. Reads always run; a change is skipped in a dry run, confirmed through
//!   [`Confirm`] when destructive, and audited (an intent before acting, the outcome after; a
//!   failed intent write stops the change); notifications never fail the procedure. Every step
//!   ends up in a [`StepReport`].
//! - [`AuditSink`] with [`FileAuditSink`], an append-only JSON-lines file flushed to disk per
//!   record, the default.
//! - [`Confirm`] with [`TokenConfirm`] (automation), [`TerminalConfirm`] (a person) and
//!   [`RefuseConfirm`] (neither given); [`cli_confirm`] picks one the way a command-line tool
//!   should.
//! - [`TargetLock`]: one operation at a time per target (a Kubernetes Lease in `fleet-k8s`,
//!   [`MemoryLock`] here), refusing with the holder and its reason.
//! - [`Progress`] events for long waits, [`Clock`] for `now`, and [`RecordStore`] for the
//!   records of long procedures that must survive a crash or a hand-over.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use fleet_guard::{
//!     Applied, ConfirmWord, Executor, Guards, MemoryAuditSink, Mode, RunContext, Step,
//!     TokenConfirm,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let audit = MemoryAuditSink::new();
//! let guards = Guards::new(Arc::new(audit.clone()))
//!     .with_confirm(Arc::new(TokenConfirm::new("ROLLBACK")));
//! let context = RunContext::new("rollback", "oncall@example.com", "INC-42", Mode::Execute)?;
//! let run = Executor::new(context, guards);
//!
//! let step = Step::change("rollout-undo", "deployment/fleet-management/fleet-api", "roll back to revision 4")
//!     .with_before(5)
//!     .with_after(4)
//!     .with_confirm(ConfirmWord::rollback());
//! let undone = run
//!     .change(step, || async { Ok::<_, std::io::Error>(4) })
//!     .await?;
//! assert_eq!(undone, Applied::Done(4));
//! assert_eq!(audit.records().len(), 2); // intent, then outcome
//! # Ok(())
//! # }
//! ```

mod audit;
mod clock;
mod confirm;
mod error;
mod executor;
mod lock;
mod plan;
mod progress;
mod record;

pub use audit::{AuditOutcome, AuditPhase, AuditRecord, AuditSink, FileAuditSink, MemoryAuditSink};
pub use clock::{Clock, ManualClock, SystemClock};
pub use confirm::{
    Confirm, ConfirmRequest, ConfirmWord, Confirmation, RefuseConfirm, TerminalConfirm,
    TokenConfirm, cli_confirm,
};
pub use error::{Error, ErrorKind, Result, StepError};
pub use executor::{Applied, Executor, Guards, Mode, RunContext, StepOutcome, StepReport};
pub use lock::{HeldLock, LockHandle, LockHolder, LockRequest, MemoryLock, TargetLock};
pub use plan::{Plan, Step, StepKind};
pub use progress::{
    ChannelProgress, LineProgress, NoProgress, Progress, ProgressEvent, RecordingProgress,
};
pub use record::{FileRecordStore, MemoryRecordStore, RecordStore, Stored, load_as, save_as};

#[cfg(any(test, feature = "test-util"))]
pub use audit::MockAuditSink;
#[cfg(any(test, feature = "test-util"))]
pub use confirm::MockConfirm;
#[cfg(any(test, feature = "test-util"))]
pub use record::MockRecordStore;

#[cfg(test)]
mod tests;
