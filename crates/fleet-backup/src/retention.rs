//! Retention decisions, pure: which backups a prune deletes and why, from the policy's
//! retention window, RPO and the backups' states. No I/O and no clock (`now` is a parameter).
//!
//! - A pinned backup is kept.
//! - A complete backup older than the retention window is deleted, except the newest good
//!   backup of its series (what it covers: a database, a namespace), which is always kept;
//!   this is `fleet_policy::backup::prune_candidates`, applied per series.
//! - A corrupt backup is not a recovery point: it is deleted once older than the window
//!   (until then it is kept as evidence).
//! - An incomplete backup (no manifest) is deleted once it has been incomplete for longer than
//!   the RPO: a backup that has not committed by then is abandoned, and keeping it helps no one.
//!   A younger one may still be running and is kept.

use std::collections::BTreeMap;

use fleet_policy::Policy;
use fleet_policy::backup::{
    BackupKind, BackupRecord, BackupStatus as PolicyStatus, prune_candidates,
};
use jiff::Timestamp;
use serde::Serialize;

use crate::catalog::{BackupEntry, BackupStatus};

/// What a prune does with one backup, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneDecision {
    /// The backup.
    pub name: String,
    /// Delete it.
    pub delete: bool,
    /// Why it is deleted or kept.
    pub reason: String,
}

/// Decides, for every backup, whether a prune at `now` deletes it.
pub fn prune_decisions(
    policy: &Policy,
    entries: &[BackupEntry],
    now: Timestamp,
) -> Vec<PruneDecision> {
    let days = policy.backup.retention_days;
    let rpo = policy.backup.rpo;
    let mut series: BTreeMap<String, Vec<&BackupEntry>> = BTreeMap::new();
    let mut out = Vec::new();
    for e in entries {
        if let Some(pin) = &e.pinned {
            out.push(PruneDecision {
                name: e.name.clone(),
                delete: false,
                reason: format!("pinned by {}: {}", pin.actor, pin.reason),
            });
            continue;
        }
        match e.status {
            BackupStatus::Incomplete => {
                let since = e.started_at.or(e.completed_at);
                let abandoned = since.is_some_and(|t| now.duration_since(t) > rpo);
                out.push(PruneDecision {
                    name: e.name.clone(),
                    delete: abandoned,
                    reason: if abandoned {
                        "incomplete for longer than the RPO: abandoned".into()
                    } else {
                        "incomplete, possibly still being written".into()
                    },
                });
            }
            _ => series
                .entry(
                    e.scope
                        .clone()
                        .unwrap_or_else(|| format!("unknown:{}", e.name)),
                )
                .or_default()
                .push(e),
        }
    }
    for (scope, members) in series {
        let records: Vec<BackupRecord> = members
            .iter()
            .map(|e| BackupRecord {
                name: e.name.clone(),
                kind: BackupKind::OnDemand,
                status: if e.status == BackupStatus::Corrupt {
                    PolicyStatus::Failed
                } else {
                    PolicyStatus::Succeeded
                },
                completed_at: e.completed_at.or(e.started_at),
            })
            .collect();
        let doomed: Vec<String> = prune_candidates(policy, &records, now)
            .into_iter()
            .map(|r| r.name.clone())
            .collect();
        let newest_good = records
            .iter()
            .filter_map(|r| r.recovery_point().map(|t| (t, r.name.clone())))
            .max()
            .map(|(_, n)| n);
        for e in members {
            let delete = doomed.contains(&e.name);
            let reason = if delete && e.status == BackupStatus::Corrupt {
                format!("corrupt and older than the {days}-day retention")
            } else if delete {
                format!("older than the {days}-day retention")
            } else if newest_good.as_deref() == Some(e.name.as_str()) {
                format!("the newest good backup of {scope}")
            } else if e.status == BackupStatus::Corrupt {
                format!("corrupt, kept as evidence until it leaves the {days}-day window")
            } else {
                format!("inside the {days}-day retention")
            };
            out.push(PruneDecision {
                name: e.name.clone(),
                delete,
                reason,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Pin;

    fn entry(name: &str, status: BackupStatus, days_ago: i64, now: Timestamp) -> BackupEntry {
        let t = now
            .checked_sub(jiff::SignedDuration::from_hours(24 * days_ago))
            .expect("in range");
        BackupEntry {
            name: name.into(),
            status,
            started_at: Some(t),
            completed_at: (status != BackupStatus::Incomplete).then_some(t),
            stored_bytes: 1,
            scope: (status != BackupStatus::Incomplete).then(|| "k8s:fleet-management".into()),
            pinned: None,
            problem: None,
            manifest: None,
        }
    }

    fn decision<'a>(d: &'a [PruneDecision], name: &str) -> &'a PruneDecision {
        d.iter().find(|x| x.name == name).expect("decided")
    }

    #[test]
    fn keeps_the_window_the_newest_good_and_pins() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().expect("ts");
        let p = Policy::default();
        let mut old_pinned = entry("old-pinned", BackupStatus::Complete, 30, now);
        old_pinned.pinned = Some(Pin {
            pinned_at: now,
            actor: "ops".into(),
            reason: "legal hold".into(),
        });
        let entries = vec![
            entry("fresh", BackupStatus::Complete, 1, now),
            entry("old", BackupStatus::Complete, 10, now),
            entry("corrupt-new", BackupStatus::Corrupt, 2, now),
            entry("corrupt-old", BackupStatus::Corrupt, 9, now),
            entry("stale-incomplete", BackupStatus::Incomplete, 2, now),
            entry("running", BackupStatus::Incomplete, 0, now),
            old_pinned,
        ];
        let d = prune_decisions(&p, &entries, now);
        assert!(!decision(&d, "fresh").delete);
        assert!(decision(&d, "old").delete);
        assert!(!decision(&d, "corrupt-new").delete);
        assert!(decision(&d, "corrupt-old").delete);
        assert!(decision(&d, "stale-incomplete").delete);
        assert!(!decision(&d, "running").delete);
        assert!(!decision(&d, "old-pinned").delete);
        assert!(decision(&d, "old-pinned").reason.contains("legal hold"));
    }

    #[test]
    fn never_deletes_the_newest_good_backup_even_when_old() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().expect("ts");
        let p = Policy::default();
        let entries = vec![
            entry("a", BackupStatus::Complete, 40, now),
            entry("b", BackupStatus::Complete, 20, now),
            entry("c", BackupStatus::Corrupt, 10, now),
        ];
        let d = prune_decisions(&p, &entries, now);
        assert!(decision(&d, "a").delete);
        assert!(!decision(&d, "b").delete, "{d:?}");
        assert!(decision(&d, "b").reason.contains("newest good"));
        assert!(decision(&d, "c").delete);
    }

    #[test]
    fn series_are_judged_separately() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().expect("ts");
        let p = Policy::default();
        let mut db = entry("db-old", BackupStatus::Complete, 30, now);
        db.scope = Some("postgres:srv/fleetdb".into());
        let entries = vec![db, entry("k8s-new", BackupStatus::Complete, 1, now)];
        let d = prune_decisions(&p, &entries, now);
        assert!(
            !decision(&d, "db-old").delete,
            "the only database backup stays"
        );
    }
}
