//! "Incident Response": severity, the P0/P1 checklist clock, and escalation.
//!
//! - [`classify`] turns signals into a severity; when signals fit two levels the more severe
//!   wins.
//! - [`clock`] evaluates the checklist at a given `now`: each item is [`ItemState::Met`] (on
//!   time), [`ItemState::MetLate`], [`ItemState::Due`] (deadline ahead) or
//!   [`ItemState::Overdue`]. The clock starts at `declared_at`. For P0 and P1 the 5-minute
//!   acknowledgement is the stricter of the two response deadlines and is the one checked;
//!   P2 and P3 are checked against their response time.
//! - [`escalation`] says which level of the chain (a role, never a name) should be engaged at
//!   `now`.
//!
//! ```
//! use fleet_policy::incident::{clock, Incident, ItemState, Severity};
//! use fleet_policy::Policy;
//! use jiff::Timestamp;
//!
//! let declared: Timestamp = "2026-03-01T10:00:00Z".parse()?;
//! let incident = Incident {
//!     id: "INC-42".into(),
//!     severity: Some(Severity::P1),
//!     declared_at: declared,
//!     acknowledged_at: Some("2026-03-01T10:03:00Z".parse()?),
//!     ..Incident::new("INC-42", declared)
//! };
//! let items = clock(&Policy::default(), &incident, "2026-03-01T10:20:00Z".parse()?);
//! assert_eq!(items[0].state, ItemState::Met);      // acknowledged at 3 min
//! assert_eq!(items[1].state, ItemState::Overdue);  // not assessed at 20 min
//! # Ok::<(), jiff::Error>(())
//! ```

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::Policy;
use crate::config::fmt_duration;
use crate::finding::{Finding, Outcome, Quantity, Section, Unit};

/// Incident severity, P0 the most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// Complete service outage.
    P0,
    /// Major functionality broken.
    P1,
    /// Degraded performance.
    P2,
    /// Minor issues.
    P3,
}

impl Severity {
    /// Whether the P0/P1 checklist applies.
    pub fn is_major(self) -> bool {
        matches!(self, Severity::P0 | Severity::P1)
    }

    /// The table's description.
    pub fn description(self) -> &'static str {
        match self {
            Severity::P0 => "complete service outage",
            Severity::P1 => "major functionality broken",
            Severity::P2 => "degraded performance",
            Severity::P3 => "minor issues",
        }
    }

    /// The response deadline of the severity table.
    pub fn response_time(self, policy: &Policy) -> SignedDuration {
        let r = &policy.incident.response;
        match self {
            Severity::P0 => r.p0,
            Severity::P1 => r.p1,
            Severity::P2 => r.p2,
            Severity::P3 => r.p3,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// What is known about the impact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Signals {
    /// The service is down for everyone ("site down").
    pub complete_outage: bool,
    /// A major function is broken ("login broken").
    pub major_functionality_broken: bool,
    /// Performance is degraded ("slow queries").
    pub degraded_performance: bool,
    /// A minor issue ("UI glitch").
    pub minor_issue: bool,
}

/// Classifies signals into a severity; the most severe matching level wins. `None` when no
/// signal is set.
pub fn classify(signals: &Signals) -> Option<Severity> {
    [
        (signals.complete_outage, Severity::P0),
        (signals.major_functionality_broken, Severity::P1),
        (signals.degraded_performance, Severity::P2),
        (signals.minor_issue, Severity::P3),
    ]
    .into_iter()
    .filter_map(|(on, sev)| on.then_some(sev))
    .min()
}

/// An incident and what has happened so far. Times are instants; a missing time means "not
/// yet".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Incident id.
    pub id: String,
    /// Declared severity, if one was declared.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Impact signals.
    #[serde(default)]
    pub signals: Signals,
    /// When the incident was declared: the clock's start.
    pub declared_at: Timestamp,
    /// When the alert was acknowledged.
    #[serde(default)]
    pub acknowledged_at: Option<Timestamp>,
    /// When the assessment was done.
    #[serde(default)]
    pub assessed_at: Option<Timestamp>,
    /// When the impact was mitigated (rolled back, scaled, failed over).
    #[serde(default)]
    pub mitigated_at: Option<Timestamp>,
    /// Status updates posted.
    #[serde(default)]
    pub status_updates: Vec<Timestamp>,
    /// When the fix was deployed (post-fix monitoring starts).
    #[serde(default)]
    pub fixed_at: Option<Timestamp>,
    /// When the incident was resolved.
    #[serde(default)]
    pub resolved_at: Option<Timestamp>,
    /// When the post-mortem was published.
    #[serde(default)]
    pub post_mortem_at: Option<Timestamp>,
}

impl Incident {
    /// A just-declared incident with nothing done yet.
    pub fn new(id: impl Into<String>, declared_at: Timestamp) -> Incident {
        Incident {
            id: id.into(),
            severity: None,
            signals: Signals::default(),
            declared_at,
            acknowledged_at: None,
            assessed_at: None,
            mitigated_at: None,
            status_updates: Vec::new(),
            fixed_at: None,
            resolved_at: None,
            post_mortem_at: None,
        }
    }

    /// The severity in force: the more severe of the declared one and the one the signals
    /// imply.
    pub fn effective_severity(&self) -> Option<Severity> {
        match (self.severity, classify(&self.signals)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A checklist item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Item {
    /// Acknowledge (P0/P1).
    Acknowledge,
    /// Assess (P0/P1).
    Assess,
    /// Mitigate (P0/P1).
    Mitigate,
    /// Post status updates (P0/P1).
    StatusUpdate,
    /// Monitor after the fix (P0/P1).
    Monitor,
    /// Publish the post-mortem (P0/P1).
    PostMortem,
    /// Respond within the severity's response time (P2/P3).
    Respond,
}

impl Item {
    /// Stable rule id.
    pub fn rule_id(self) -> &'static str {
        match self {
            Item::Acknowledge => "incident.acknowledge",
            Item::Assess => "incident.assess",
            Item::Mitigate => "incident.mitigate",
            Item::StatusUpdate => "incident.status-update",
            Item::Monitor => "incident.monitor",
            Item::PostMortem => "incident.post-mortem",
            Item::Respond => "incident.respond",
        }
    }
}

/// Where an item stands at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemState {
    /// Done by its deadline.
    Met,
    /// Done, but after its deadline.
    MetLate,
    /// Not done, deadline still ahead.
    Due,
    /// Not done, deadline passed.
    Overdue,
    /// Not applicable yet (post-mortem before resolution, monitoring before the fix).
    NotStarted,
}

impl ItemState {
    /// Met and Due pass, MetLate warns, Overdue fails.
    pub fn outcome(self) -> Outcome {
        match self {
            ItemState::Met | ItemState::Due | ItemState::NotStarted => Outcome::Pass,
            ItemState::MetLate => Outcome::Warn,
            ItemState::Overdue => Outcome::Fail,
        }
    }
}

/// One checklist item evaluated at `now`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockItem {
    /// Which item.
    pub item: Item,
    /// Its state.
    pub state: ItemState,
    /// Its deadline (the next one, for status updates), if it has one yet.
    pub deadline: Option<Timestamp>,
    /// When it was done, if it was.
    pub done_at: Option<Timestamp>,
    /// Explanation.
    pub message: String,
}

fn deadline_item(
    item: Item,
    what: &str,
    deadline: Timestamp,
    done: Option<Timestamp>,
    now: Timestamp,
) -> ClockItem {
    let (state, message) = match done {
        Some(at) if at <= deadline => (ItemState::Met, format!("{what} at {at} (due {deadline})")),
        Some(at) => {
            let late = fmt_duration(at.duration_since(deadline));
            (
                ItemState::MetLate,
                format!("{what} at {at}, {late} after the {deadline} deadline"),
            )
        }
        None if now <= deadline => {
            let left = fmt_duration(deadline.duration_since(now));
            (
                ItemState::Due,
                format!("not yet {what}: due by {deadline} ({left} left)"),
            )
        }
        None => {
            let over = fmt_duration(now.duration_since(deadline));
            (
                ItemState::Overdue,
                format!("not {what}: overdue by {over} (due {deadline})"),
            )
        }
    };
    ClockItem {
        item,
        state,
        deadline: Some(deadline),
        done_at: done,
        message,
    }
}

/// Evaluates the incident checklist at `now`. Empty when the severity is unknown (see
/// [`evaluate`], which reports that as Inconclusive).
pub fn clock(policy: &Policy, incident: &Incident, now: Timestamp) -> Vec<ClockItem> {
    let Some(sev) = incident.effective_severity() else {
        return Vec::new();
    };
    let p = &policy.incident;
    let t0 = incident.declared_at;
    let at = |d: SignedDuration| t0.saturating_add(d).unwrap_or(t0);
    if !sev.is_major() {
        return vec![deadline_item(
            Item::Respond,
            &format!("{sev} responded"),
            at(sev.response_time(policy)),
            incident.acknowledged_at,
            now,
        )];
    }
    let mut items = vec![
        deadline_item(
            Item::Acknowledge,
            "acknowledged",
            at(p.acknowledge_within),
            incident.acknowledged_at,
            now,
        ),
        deadline_item(
            Item::Assess,
            "assessed",
            at(p.assess_within),
            incident.assessed_at,
            now,
        ),
        deadline_item(
            Item::Mitigate,
            "mitigated",
            at(p.mitigate_within),
            incident.mitigated_at,
            now,
        ),
        status_updates(p.status_update_every, incident, now),
    ];
    items.push(match incident.fixed_at {
        None => ClockItem {
            item: Item::Monitor,
            state: ItemState::NotStarted,
            deadline: None,
            done_at: None,
            message: "no fix deployed yet: post-fix monitoring not started".into(),
        },
        Some(fixed) => {
            let until = fixed.saturating_add(p.monitor_after_fix).unwrap_or(fixed);
            let hour = fmt_duration(p.monitor_after_fix);
            let (state, message) = match incident.resolved_at {
                Some(r) if r < until => (
                    ItemState::MetLate,
                    format!("resolved at {r}, before the {hour} of monitoring ended at {until}"),
                ),
                Some(r) => (
                    ItemState::Met,
                    format!("monitored {hour} after the fix; resolved at {r}"),
                ),
                None if now < until => {
                    (ItemState::Due, format!("monitoring the fix until {until}"))
                }
                None => (
                    ItemState::Met,
                    format!("monitored {hour} after the fix; ready to resolve"),
                ),
            };
            ClockItem {
                item: Item::Monitor,
                state,
                deadline: Some(until),
                done_at: None,
                message,
            }
        }
    });
    items.push(match incident.resolved_at {
        None => ClockItem {
            item: Item::PostMortem,
            state: ItemState::NotStarted,
            deadline: None,
            done_at: incident.post_mortem_at,
            message: "incident not resolved: post-mortem clock not started".into(),
        },
        Some(r) => deadline_item(
            Item::PostMortem,
            "post-mortem published",
            r.saturating_add(p.post_mortem_within).unwrap_or(r),
            incident.post_mortem_at,
            now,
        ),
    });
    items
}

fn status_updates(every: SignedDuration, incident: &Incident, now: Timestamp) -> ClockItem {
    let mut updates: Vec<Timestamp> = incident
        .status_updates
        .iter()
        .copied()
        .filter(|&t| t >= incident.declared_at)
        .collect();
    updates.sort();
    let end = incident.resolved_at.unwrap_or(now);
    // Longest gap between declaration, each update, and the end (resolution or now).
    let mut prev = incident.declared_at;
    let mut worst_gap = SignedDuration::ZERO;
    for &t in updates.iter().filter(|&&t| t <= end) {
        worst_gap = worst_gap.max(t.duration_since(prev));
        prev = t;
    }
    let next_due = prev.saturating_add(every).unwrap_or(prev);
    let every_s = fmt_duration(every);
    let count = updates.len();
    let open = incident.resolved_at.is_none();
    let (state, message) = if open && now > next_due {
        let over = fmt_duration(now.duration_since(next_due));
        (
            ItemState::Overdue,
            format!("status update overdue by {over} ({count} posted; one due every {every_s})"),
        )
    } else if worst_gap > every {
        (
            ItemState::MetLate,
            format!(
                "{count} status updates posted, but once {} passed without one (limit {every_s})",
                fmt_duration(worst_gap)
            ),
        )
    } else if open {
        (
            ItemState::Due,
            format!("{count} status updates posted; next due by {next_due}"),
        )
    } else {
        (
            ItemState::Met,
            format!("{count} status updates posted, none more than {every_s} apart"),
        )
    };
    ClockItem {
        item: Item::StatusUpdate,
        state,
        deadline: open.then_some(next_due),
        done_at: updates.last().copied(),
        message,
    }
}

/// The escalation level (1-based) and role that should be engaged at `now`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// 1 = on-call engineer ... 4 = CTO.
    pub level: usize,
    /// The role at that level.
    pub role: String,
    /// Why this level.
    pub reason: String,
}

/// The escalation level due at `now`. `None` when the severity is unknown.
///
/// P0/P1: level 2 when not acknowledged at 5 min, level 3 when not mitigated at 30 min,
/// level 4 when still unresolved at 60 min. P2/P3: level 2 when the response deadline passed
/// without a response.
pub fn escalation(policy: &Policy, incident: &Incident, now: Timestamp) -> Option<Escalation> {
    let sev = incident.effective_severity()?;
    let e = &policy.incident.escalation;
    let t0 = incident.declared_at;
    let missed = |done: Option<Timestamp>, d: SignedDuration| {
        let at = t0.saturating_add(d).unwrap_or(t0);
        now >= at && done.is_none_or(|t| t > at)
    };
    let mut level = 1;
    let mut reason = format!("{sev} incident: on call");
    if sev.is_major() {
        if missed(incident.acknowledged_at, e.unacknowledged_after) {
            level = 2;
            reason = format!(
                "not acknowledged within {}",
                fmt_duration(e.unacknowledged_after)
            );
        }
        if missed(incident.mitigated_at, e.unmitigated_after) {
            level = 3;
            reason = format!("not mitigated within {}", fmt_duration(e.unmitigated_after));
        }
        if missed(incident.resolved_at, e.unresolved_after) {
            level = 4;
            reason = format!("not resolved within {}", fmt_duration(e.unresolved_after));
        }
    } else if missed(incident.acknowledged_at, sev.response_time(policy)) {
        level = 2;
        reason = format!(
            "no response within {}",
            fmt_duration(sev.response_time(policy))
        );
    }
    let level = level.min(e.roles.len().max(1));
    let role = e
        .roles
        .get(level - 1)
        .cloned()
        .unwrap_or_else(|| "on call".into());
    Some(Escalation {
        level,
        role,
        reason,
    })
}

/// Findings for an incident: severity (with a warning when the declared severity is less
/// severe than the signals), every checklist item, and the escalation due.
pub fn evaluate(policy: &Policy, incident: &Incident, now: Timestamp) -> Vec<Finding> {
    let subject = incident.id.as_str();
    let section = Section::IncidentResponse;
    let mut out = Vec::new();
    let implied = classify(&incident.signals);
    let Some(sev) = incident.effective_severity() else {
        out.push(Finding::new(
            "incident.severity",
            subject,
            Outcome::Inconclusive,
            section,
            "no severity declared and no impact signal given",
        ));
        return out;
    };
    let sev_finding = match (incident.severity, implied) {
        (Some(d), Some(i)) if i < d => Finding::new(
            "incident.severity",
            subject,
            Outcome::Warn,
            section,
            format!(
                "declared {d} but the signals say {i} ({}): treating it as {i}",
                i.description()
            ),
        ),
        _ => Finding::new(
            "incident.severity",
            subject,
            Outcome::Pass,
            section,
            format!("{sev}: {}", sev.description()),
        ),
    };
    out.push(sev_finding);
    for item in clock(policy, incident, now) {
        let mut f = Finding::new(
            item.item.rule_id(),
            subject,
            item.state.outcome(),
            section,
            item.message,
        );
        f.deadline = item.deadline;
        if let (ItemState::Overdue, Some(d)) = (item.state, item.deadline) {
            let mins = now.duration_since(d).as_secs_f64() / 60.0;
            f.observed = Some(Quantity::new(mins.round(), Unit::Minutes));
        }
        out.push(f);
    }
    if let Some(esc) = escalation(policy, incident, now) {
        let outcome = if esc.level > 1 {
            Outcome::Warn
        } else {
            Outcome::Pass
        };
        out.push(
            Finding::new(
                "incident.escalation",
                subject,
                outcome,
                Section::EmergencyContacts,
                format!(
                    "escalation level {}: {} ({})",
                    esc.level, esc.role, esc.reason
                ),
            )
            .observed(Quantity::new(esc.level as f64, Unit::Count)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    const T0: &str = "2026-03-01T10:00:00Z";

    fn major(sev: Severity) -> Incident {
        Incident {
            severity: Some(sev),
            ..Incident::new("INC-1", ts(T0))
        }
    }

    fn state(items: &[ClockItem], item: Item) -> ItemState {
        items
            .iter()
            .find(|i| i.item == item)
            .map(|i| i.state)
            .expect("item present")
    }

    #[test]
    fn worst_signal_wins() {
        let s = Signals {
            degraded_performance: true,
            major_functionality_broken: true,
            ..Signals::default()
        };
        assert_eq!(classify(&s), Some(Severity::P1));
        let s = Signals {
            minor_issue: true,
            complete_outage: true,
            ..Signals::default()
        };
        assert_eq!(classify(&s), Some(Severity::P0));
        assert_eq!(classify(&Signals::default()), None);
        let mut i = major(Severity::P2);
        i.signals.complete_outage = true;
        assert_eq!(i.effective_severity(), Some(Severity::P0));
    }

    #[test]
    fn acknowledgement_boundaries() {
        let p = Policy::default();
        let mut i = major(Severity::P1);
        assert_eq!(
            state(
                &clock(&p, &i, ts("2026-03-01T10:05:00Z")),
                Item::Acknowledge
            ),
            ItemState::Due
        );
        assert_eq!(
            state(
                &clock(&p, &i, ts("2026-03-01T10:05:01Z")),
                Item::Acknowledge
            ),
            ItemState::Overdue
        );
        i.acknowledged_at = Some(ts("2026-03-01T10:05:00Z"));
        assert_eq!(
            state(
                &clock(&p, &i, ts("2026-03-01T11:00:00Z")),
                Item::Acknowledge
            ),
            ItemState::Met
        );
        i.acknowledged_at = Some(ts("2026-03-01T10:06:00Z"));
        assert_eq!(
            state(
                &clock(&p, &i, ts("2026-03-01T11:00:00Z")),
                Item::Acknowledge
            ),
            ItemState::MetLate
        );
    }

    #[test]
    fn p1_is_held_to_the_five_minute_acknowledgement_not_the_hour() {
        let p = Policy::default();
        let i = major(Severity::P1);
        let items = clock(&p, &i, ts("2026-03-01T10:30:00Z"));
        assert!(items.iter().all(|c| c.item != Item::Respond));
        assert_eq!(state(&items, Item::Acknowledge), ItemState::Overdue);
    }

    #[test]
    fn minor_incidents_use_the_response_time() {
        let p = Policy::default();
        let i = major(Severity::P2);
        let items = clock(&p, &i, ts("2026-03-01T13:59:00Z"));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].state, ItemState::Due);
        assert_eq!(
            state(&clock(&p, &i, ts("2026-03-01T14:00:01Z")), Item::Respond),
            ItemState::Overdue
        );
    }

    #[test]
    fn status_updates_every_thirty_minutes_while_open() {
        let p = Policy::default();
        let mut i = major(Severity::P0);
        i.status_updates = vec![ts("2026-03-01T10:20:00Z"), ts("2026-03-01T10:45:00Z")];
        assert_eq!(
            state(
                &clock(&p, &i, ts("2026-03-01T11:15:00Z")),
                Item::StatusUpdate
            ),
            ItemState::Due
        );
        assert_eq!(
            state(
                &clock(&p, &i, ts("2026-03-01T11:16:00Z")),
                Item::StatusUpdate
            ),
            ItemState::Overdue
        );
        i.status_updates.push(ts("2026-03-01T11:30:00Z"));
        i.resolved_at = Some(ts("2026-03-01T11:40:00Z"));
        assert_eq!(
            state(
                &clock(&p, &i, ts("2026-03-02T00:00:00Z")),
                Item::StatusUpdate
            ),
            ItemState::MetLate,
            "a 45-minute gap happened"
        );
    }

    #[test]
    fn monitoring_and_post_mortem() {
        let p = Policy::default();
        let mut i = major(Severity::P1);
        i.fixed_at = Some(ts("2026-03-01T10:40:00Z"));
        assert_eq!(
            state(&clock(&p, &i, ts("2026-03-01T11:00:00Z")), Item::Monitor),
            ItemState::Due
        );
        i.resolved_at = Some(ts("2026-03-01T11:10:00Z"));
        assert_eq!(
            state(&clock(&p, &i, ts("2026-03-01T12:00:00Z")), Item::Monitor),
            ItemState::MetLate
        );
        i.resolved_at = Some(ts("2026-03-01T11:40:00Z"));
        let items = clock(&p, &i, ts("2026-03-03T11:40:00Z"));
        assert_eq!(state(&items, Item::Monitor), ItemState::Met);
        assert_eq!(
            state(&items, Item::PostMortem),
            ItemState::Due,
            "exactly 48 h"
        );
        let items = clock(&p, &i, ts("2026-03-03T11:40:01Z"));
        assert_eq!(state(&items, Item::PostMortem), ItemState::Overdue);
    }

    #[test]
    fn escalation_levels() {
        let p = Policy::default();
        let mut i = major(Severity::P0);
        let lvl = |i: &Incident, now: &str| escalation(&p, i, ts(now)).map(|e| e.level);
        assert_eq!(lvl(&i, "2026-03-01T10:04:59Z"), Some(1));
        assert_eq!(lvl(&i, "2026-03-01T10:05:00Z"), Some(2));
        i.acknowledged_at = Some(ts("2026-03-01T10:02:00Z"));
        assert_eq!(lvl(&i, "2026-03-01T10:29:00Z"), Some(1));
        assert_eq!(lvl(&i, "2026-03-01T10:30:00Z"), Some(3));
        assert_eq!(lvl(&i, "2026-03-01T11:00:00Z"), Some(4));
        assert_eq!(
            escalation(&p, &i, ts("2026-03-01T11:00:00Z")).map(|e| e.role),
            Some("CTO".into())
        );
        i.mitigated_at = Some(ts("2026-03-01T10:20:00Z"));
        i.resolved_at = Some(ts("2026-03-01T10:50:00Z"));
        assert_eq!(lvl(&i, "2026-03-01T12:00:00Z"), Some(1));
        let p3 = major(Severity::P3);
        assert_eq!(lvl(&p3, "2026-03-02T10:00:00Z"), Some(2));
        assert_eq!(lvl(&Incident::new("x", ts(T0)), T0), None);
    }
}
