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

/// Progress as plain lines on a writer the caller chooses (a binary passes standard error):
/// `step: summary` when a step starts, each note and advance while it waits, `step: outcome`
/// when it ends. A line that cannot be written is dropped: progress never fails a run.
pub struct LineProgress<W: std::io::Write + Send>(Mutex<W>);

impl<W: std::io::Write + Send> LineProgress<W> {
    /// Lines to `writer`.
    pub fn new(writer: W) -> Self {
        Self(Mutex::new(writer))
    }

    /// The line for `event`.
    fn line(event: &ProgressEvent) -> String {
        match event {
            ProgressEvent::Started { step, summary } => format!("{step}: {summary}"),
            ProgressEvent::Advanced {
                step,
                done,
                total,
                unit,
                message,
            } => match total {
                Some(total) => format!("{step}: {done}/{total} {unit}: {message}"),
                None => format!("{step}: {done} {unit}: {message}"),
            },
            ProgressEvent::Note { step, message } => format!("{step}: {message}"),
            ProgressEvent::Finished { step, outcome } => format!("{step}: {outcome}"),
        }
    }
}

impl<W: std::io::Write + Send> fmt::Debug for LineProgress<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineProgress").finish_non_exhaustive()
    }
}

impl<W: std::io::Write + Send> Progress for LineProgress<W> {
    fn event(&self, event: ProgressEvent) {
        if let Ok(mut w) = self.0.lock() {
            let _ = writeln!(w, "{}", Self::line(&event));
        }
    }
}

#[cfg(test)]
mod line_tests {
    use super::{LineProgress, Progress, ProgressEvent};

    #[test]
    fn each_event_is_one_line() {
        let progress = LineProgress::new(Vec::new());
        progress.event(ProgressEvent::Started {
            step: "wait-rollout".into(),
            summary: "3 replicas updated".into(),
        });
        progress.event(ProgressEvent::Advanced {
            step: "bake".into(),
            done: 120,
            total: Some(600),
            unit: "seconds".into(),
            message: "healthy".into(),
        });
        progress.event(ProgressEvent::Note {
            step: "wait-rollout".into(),
            message: "fleet-api-1: listening".into(),
        });
        progress.event(ProgressEvent::Finished {
            step: "bake".into(),
            outcome: "succeeded".into(),
        });
        let text = String::from_utf8(progress.0.into_inner().expect("lock")).expect("utf-8");
        assert_eq!(
            text,
            "wait-rollout: 3 replicas updated\nbake: 120/600 seconds: healthy\n\
             wait-rollout: fleet-api-1: listening\nbake: succeeded\n"
        );
    }
}
