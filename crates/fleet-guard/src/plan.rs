//! Plans: the steps a procedure will take, each saying what it reads or changes, on which
//! object, with which values, and whether it is destructive.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::confirm::ConfirmWord;

/// What a step does to the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Reads state; runs in dry runs too.
    Read,
    /// Changes state; skipped in dry runs, audited when executed.
    Change,
    /// Waits for something (a rollout, a bake period, a restore); runs only after a change.
    Wait,
    /// Tells people (chat, paging, status page); skipped in dry runs, never fails the procedure.
    Notify,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Stable id within the procedure (`set-image`, `rollout-undo`).
    pub id: String,
    /// Read, change, wait or notify.
    pub kind: StepKind,
    /// The object (`deployment/fleet-management/fleet-api`, a server, a backup).
    pub target: String,
    /// One line a person can check (`set image fleet-api=registry/fleet-api:1.2.3`).
    pub summary: String,
    /// The value before, where known (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value the step sets, where known (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// The word that confirms it, when destructive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<ConfirmWord>,
}

impl Step {
    fn new(kind: StepKind, id: &str, target: &str, summary: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            kind,
            target: target.to_owned(),
            summary: summary.into(),
            before: None,
            after: None,
            confirm: None,
        }
    }

    /// A step that only reads.
    pub fn read(id: &str, target: &str, summary: impl Into<String>) -> Self {
        Self::new(StepKind::Read, id, target, summary)
    }

    /// A step that changes `target`.
    pub fn change(id: &str, target: &str, summary: impl Into<String>) -> Self {
        Self::new(StepKind::Change, id, target, summary)
    }

    /// A step that waits for `target` to reach a state.
    pub fn wait(id: &str, target: &str, summary: impl Into<String>) -> Self {
        Self::new(StepKind::Wait, id, target, summary)
    }

    /// A notification to `target` (a channel, a service).
    pub fn notify(id: &str, target: &str, summary: impl Into<String>) -> Self {
        Self::new(StepKind::Notify, id, target, summary)
    }

    /// Records the value before the change.
    pub fn with_before(mut self, before: impl Serialize) -> Self {
        self.before = serde_json::to_value(before).ok();
        self
    }

    /// Records the value the change sets.
    pub fn with_after(mut self, after: impl Serialize) -> Self {
        self.after = serde_json::to_value(after).ok();
        self
    }

    /// Makes the step destructive: it runs only when `word` is confirmed.
    pub fn with_confirm(mut self, word: ConfirmWord) -> Self {
        self.confirm = Some(word);
        self
    }

    /// Whether the step needs a confirmation.
    pub fn is_destructive(&self) -> bool {
        self.confirm.is_some()
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            StepKind::Read => "read",
            StepKind::Change => "change",
            StepKind::Wait => "wait",
            StepKind::Notify => "notify",
        };
        write!(f, "[{kind}] {}: {}", self.target, self.summary)?;
        if let Some(word) = &self.confirm {
            write!(f, " (destructive: confirm with {word})")?;
        }
        Ok(())
    }
}

/// The steps of a procedure, in order, built before anything changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The procedure.
    pub procedure: String,
    /// The steps.
    pub steps: Vec<Step>,
    /// Conditions and branches a person should know about (`rolls back if the bake fails`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    /// An empty plan for `procedure`.
    pub fn new(procedure: impl Into<String>) -> Self {
        Self {
            procedure: procedure.into(),
            steps: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Appends a step.
    pub fn push(&mut self, step: Step) -> &mut Self {
        self.steps.push(step);
        self
    }

    /// Appends a note.
    pub fn note(&mut self, note: impl Into<String>) -> &mut Self {
        self.notes.push(note.into());
        self
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The steps that change something.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.kind == StepKind::Change)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan for {}:", self.procedure)?;
        for (n, step) in self.steps.iter().enumerate() {
            writeln!(f, "  {}. {step}", n + 1)?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}
