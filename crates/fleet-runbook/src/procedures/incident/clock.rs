//! What the incident clock asks for now: fleet-policy's P0/P1 checklist and escalation rules
//! applied to the record at `now`, plus what has not been done about them yet (an escalation
//! not yet sent, a status update due).

use fleet_policy::Policy;
use fleet_policy::incident::{ClockItem, Escalation, Item, ItemState, clock, escalation};
use jiff::Timestamp;
use serde::Serialize;

use super::record::IncidentRecord;

/// The clock at one instant.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DueNow {
    /// When.
    pub at: Timestamp,
    /// Every checklist item with its state.
    pub items: Vec<ClockItem>,
    /// The escalation level due now.
    pub escalation: Option<Escalation>,
    /// The escalation must be sent: its level is above every level already sent.
    pub escalate: bool,
    /// A status update is due or overdue now (every 30 minutes by default while open).
    pub status_update_due: bool,
    /// The earliest deadline still ahead, to wake up for.
    pub next_deadline: Option<Timestamp>,
}

impl DueNow {
    /// Items overdue now.
    pub fn overdue(&self) -> Vec<&ClockItem> {
        self.items
            .iter()
            .filter(|i| i.state == ItemState::Overdue)
            .collect()
    }

    /// One line per item that needs doing (due or overdue), and the escalation when due.
    pub fn to_do(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .items
            .iter()
            .filter(|i| matches!(i.state, ItemState::Due | ItemState::Overdue))
            .map(|i| format!("{}: {}", i.item.rule_id(), i.message))
            .collect();
        if let (true, Some(e)) = (self.escalate, &self.escalation) {
            out.push(format!(
                "escalate to level {} ({}): {}",
                e.level, e.role, e.reason
            ));
        }
        out
    }
}

/// Evaluates the clock for `record` at `now`.
pub fn incident_due(policy: &Policy, record: &IncidentRecord, now: Timestamp) -> DueNow {
    let incident = record.to_policy();
    let items = clock(policy, &incident, now);
    let esc = escalation(policy, &incident, now);
    let sent = record
        .escalations
        .iter()
        .map(|e| e.level)
        .max()
        .unwrap_or(1);
    let escalate = record.resolved_at.is_none() && esc.as_ref().is_some_and(|e| e.level > sent);
    let status_update_due = items.iter().any(|i| {
        i.item == Item::StatusUpdate
            && (i.state == ItemState::Overdue
                || i.state == ItemState::Due && i.deadline.is_some_and(|d| d <= now))
    });
    let next_deadline = items
        .iter()
        .filter(|i| i.state == ItemState::Due)
        .filter_map(|i| i.deadline)
        .filter(|d| *d > now)
        .min();
    DueNow {
        at: now,
        items,
        escalation: esc,
        escalate,
        status_update_due,
        next_deadline,
    }
}
