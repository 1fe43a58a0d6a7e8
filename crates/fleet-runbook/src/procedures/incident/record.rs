//! The incident record and where it is kept: everything a second engineer (or the same one
//! after a crash) needs to carry on, saved through a versioned [`RecordStore`] so that two
//! writers never overwrite each other silently.

use std::fmt;
use std::sync::Arc;

use fleet_guard::{RecordStore, StepKind, StepOutcome, StepReport, load_as, save_as};
use fleet_policy::incident::{Incident, Severity, Signals};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mitigate::Recommendation;
use crate::error::{Error, Result};
use crate::notify::IncidentStatus;

/// One status update as posted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// When it was posted.
    pub at: Timestamp,
    /// The public status it announced.
    pub status: IncidentStatus,
    /// What it said.
    pub message: String,
}

/// A change made while handling the incident (from the executor's steps; the audit log has
/// the intent and outcome records under the same `run_id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionTaken {
    /// When it started.
    pub at: Timestamp,
    /// Who made it.
    pub actor: String,
    /// The step id (`rollout-undo`, `scale`...).
    pub step: String,
    /// What it changed.
    pub target: String,
    /// What it did.
    pub summary: String,
    /// `succeeded`, `failed` or `refused`.
    pub outcome: String,
    /// The run whose audit records describe it.
    pub run_id: String,
}

/// An evidence bundle collected by an assessment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceEntry {
    /// When it was collected.
    pub at: Timestamp,
    /// One line per finding of the bundle.
    pub summary: Vec<String>,
    /// The bundle as JSON (secrets redacted).
    pub bundle: Value,
}

/// An escalation that was sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationSent {
    /// When.
    pub at: Timestamp,
    /// The level (2 = engineering lead...).
    pub level: usize,
    /// The role paged.
    pub role: String,
    /// Why.
    pub reason: String,
}

/// An incident as handled so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IncidentRecord {
    /// The incident id (`INC-42`); also the record's key.
    pub id: String,
    /// A one-line title.
    pub title: String,
    /// The service affected.
    pub service: String,
    /// The declared severity, if any.
    pub severity: Option<Severity>,
    /// Impact signals (declared, and those the assessment found).
    pub signals: Signals,
    /// The PagerDuty dedup key (also the Statuspage incident key), when paged.
    pub key: Option<String>,
    /// When it was declared: the clock starts here.
    pub declared_at: Timestamp,
    /// When it was acknowledged.
    pub acknowledged_at: Option<Timestamp>,
    /// When the assessment was done.
    pub assessed_at: Option<Timestamp>,
    /// When the impact was mitigated.
    pub mitigated_at: Option<Timestamp>,
    /// When the fix was deployed (one hour of monitoring starts).
    pub fixed_at: Option<Timestamp>,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
    /// When the post-mortem was published.
    pub post_mortem_at: Option<Timestamp>,
    /// Status updates posted.
    pub status_updates: Vec<StatusUpdate>,
    /// Changes made.
    pub actions: Vec<ActionTaken>,
    /// Evidence bundles.
    pub evidence: Vec<EvidenceEntry>,
    /// The latest recommendations, with the findings they cite.
    pub recommendations: Vec<Recommendation>,
    /// Escalations sent.
    pub escalations: Vec<EscalationSent>,
}

impl IncidentRecord {
    /// A just-declared incident.
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        service: impl Into<String>,
        declared_at: Timestamp,
    ) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            service: service.into(),
            severity: None,
            signals: Signals::default(),
            key: None,
            declared_at,
            acknowledged_at: None,
            assessed_at: None,
            mitigated_at: None,
            fixed_at: None,
            resolved_at: None,
            post_mortem_at: None,
            status_updates: Vec::new(),
            actions: Vec::new(),
            evidence: Vec::new(),
            recommendations: Vec::new(),
            escalations: Vec::new(),
        }
    }

    /// Sets the declared severity.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// Sets the impact signals.
    #[must_use]
    pub fn with_signals(mut self, signals: Signals) -> Self {
        self.signals = signals;
        self
    }

    /// The record as fleet-policy's incident, for its clock and escalation rules.
    pub fn to_policy(&self) -> Incident {
        let mut i = Incident::new(self.id.clone(), self.declared_at);
        i.severity = self.severity;
        i.signals = self.signals;
        i.acknowledged_at = self.acknowledged_at;
        i.assessed_at = self.assessed_at;
        i.mitigated_at = self.mitigated_at;
        i.status_updates = self.status_updates.iter().map(|u| u.at).collect();
        i.fixed_at = self.fixed_at;
        i.resolved_at = self.resolved_at;
        i.post_mortem_at = self.post_mortem_at;
        i
    }

    /// The severity in force (declared or implied by the signals, the more severe).
    pub fn effective_severity(&self) -> Option<Severity> {
        self.to_policy().effective_severity()
    }

    /// Appends the change steps of a run (succeeded, failed or refused) as actions.
    pub(crate) fn record_actions(&mut self, steps: &[StepReport], actor: &str, run_id: &str) {
        for s in steps.iter().filter(|s| {
            s.step.kind == StepKind::Change
                && matches!(
                    s.outcome,
                    StepOutcome::Succeeded | StepOutcome::Failed | StepOutcome::Refused
                )
        }) {
            self.actions.push(ActionTaken {
                at: s.started,
                actor: actor.to_owned(),
                step: s.step.id.clone(),
                target: s.step.target.clone(),
                summary: s.step.summary.clone(),
                outcome: s.outcome.to_string(),
                run_id: run_id.to_owned(),
            });
        }
    }
}

/// A record with the store version it was loaded at.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracked {
    /// The record.
    pub record: IncidentRecord,
    /// Its version in the store (0: not saved yet).
    pub version: u64,
}

/// Incident records in a [`RecordStore`] (a `FileRecordStore` directory in production), keyed
/// `incident-<id>`.
#[derive(Clone)]
pub struct IncidentBook {
    store: Arc<dyn RecordStore>,
}

impl fmt::Debug for IncidentBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncidentBook")
            .field("store", &self.store)
            .finish()
    }
}

pub(crate) fn store_error(e: fleet_guard::Error) -> Error {
    Error::Source {
        service: "incident record store",
        transient: false,
        source: Box::new(e),
    }
}

fn key(id: &str) -> String {
    format!("incident-{id}")
}

impl IncidentBook {
    /// Records kept in `store`.
    pub fn new(store: Arc<dyn RecordStore>) -> Self {
        Self { store }
    }

    /// Loads an incident; `None` when there is no record of it.
    ///
    /// # Errors
    /// The store's failure (unreadable, corrupt), as [`Error::Source`].
    pub async fn load(&self, id: &str) -> Result<Option<Tracked>> {
        Ok(load_as::<IncidentRecord>(self.store.as_ref(), &key(id))
            .await
            .map_err(store_error)?
            .map(|(version, record)| Tracked { record, version }))
    }

    /// Loads an incident that must exist.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no record; the store's failure.
    pub async fn get(&self, id: &str) -> Result<Tracked> {
        self.load(id).await?.ok_or_else(|| Error::NotFound {
            what: "incident record",
            name: id.to_owned(),
        })
    }

    /// Saves `tracked`, refusing when someone saved it since it was loaded (a
    /// `fleet_guard::Error::Conflict` inside [`Error::Source`]: load again and redo).
    ///
    /// # Errors
    /// The conflict or the store's failure.
    pub async fn save(&self, tracked: &mut Tracked) -> Result<()> {
        let expected = (tracked.version > 0).then_some(tracked.version);
        tracked.version = save_as(
            self.store.as_ref(),
            &key(&tracked.record.id),
            &tracked.record,
            expected,
        )
        .await
        .map_err(store_error)?;
        Ok(())
    }

    /// The ids of every incident on record.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn ids(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .keys()
            .await
            .map_err(store_error)?
            .into_iter()
            .filter_map(|k| k.strip_prefix("incident-").map(str::to_owned))
            .collect())
    }
}
