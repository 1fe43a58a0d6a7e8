//! Progress of long steps (rollouts, bake periods, restores) as events; a binary turns them
//! into a progress bar or plain lines, the library never prints.

use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

/// Something worth showing while a procedure runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A step began.
    Started {
        /// The step's id.
        step: String,
        /// Its summary.
        summary: String,
    },
    /// A long step advanced (`3/5 replicas updated`, `120/600 s of bake time`).
    Advanced {
        /// The step's id.
        step: String,
        /// Work done so far.
        done: u64,
        /// Total work, when known.
        total: Option<u64>,
        /// The unit of `done` and `total` (`replicas`, `seconds`, `bytes`).
        unit: String,
        /// What is happening now.
        message: String,
    },
    /// A line worth showing while waiting (a log line, an event).
    Note {
        /// The step's id.
        step: String,
        /// The line.
        message: String,
    },
    /// A step ended.
    Finished {
        /// The step's id.
        step: String,
        /// `succeeded`, `failed`, `planned`, `refused`, `skipped`.
        outcome: String,
    },
}

/// Receives progress events. Implementations must be quick and must not fail.
pub trait Progress: Send + Sync {
    /// One event.
    fn event(&self, event: ProgressEvent);
}

/// Drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: ProgressEvent) {}
}

/// Sends events to a channel (a binary's display task reads the other end). A closed channel
/// drops events.
#[derive(Debug, Clone)]
pub struct ChannelProgress(tokio::sync::mpsc::UnboundedSender<ProgressEvent>);

impl ChannelProgress {
    /// A progress sink and the receiver of its events.
    pub fn new() -> (Self, tokio::sync::mpsc::UnboundedReceiver<ProgressEvent>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self(tx), rx)
    }
}

impl Progress for ChannelProgress {
    fn event(&self, event: ProgressEvent) {
        let _ = self.0.send(event);
    }
}

/// Keeps every event in memory (tests, reports).
#[derive(Default)]
pub struct RecordingProgress(Mutex<Vec<ProgressEvent>>);

impl fmt::Debug for RecordingProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingProgress").finish_non_exhaustive()
    }
}

impl RecordingProgress {
    /// The events so far.
    pub fn events(&self) -> Vec<ProgressEvent> {
        self.0.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Progress for RecordingProgress {
    fn event(&self, event: ProgressEvent) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event);
        }
    }
}
