//! "Backup & Recovery": RPO, retention, the daily schedule, restore targets, RTO, and
//! on-demand backup names.
//!
//! Readings (`docs/decisions.md`, "Backups and recovery"): a scheduled backup runs daily at 02:00 UTC; retention is 7 days;
//! RPO 24 h means the newest successful backup is at most 24 h old; RTO 4 h means a recovery
//! (or drill) finishes within 4 h; a point-in-time restore target lies inside the retention
//! window and not in the future; on-demand backups are named `manual-backup-YYYYMMDD` (UTC
//! date) and a second one on the same day gets a suffix (`-2`, `-3`...).
//!
//! ```
//! use fleet_policy::backup::on_demand_name;
//! use fleet_policy::Policy;
//! use jiff::civil::date;
//!
//! let p = Policy::default();
//! assert_eq!(on_demand_name(&p, date(2025, 11, 24), &[]), "manual-backup-20251124");
//! assert_eq!(
//!     on_demand_name(&p, date(2025, 11, 24), &["manual-backup-20251124"]),
//!     "manual-backup-20251124-2"
//! );
//! ```

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::config::fmt_duration;
use crate::finding::{Finding, Operator, Outcome, Quantity, Section, Unit};
use crate::{Policy, plus};

/// Who started a backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// The daily scheduled backup.
    Automatic,
    /// An on-demand backup (`az postgres flexible-server backup create`).
    OnDemand,
}

/// How a backup ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    /// Completed and usable.
    Succeeded,
    /// Failed: not a recovery point.
    Failed,
    /// Still running.
    InProgress,
}

/// One backup in an inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRecord {
    /// Backup name.
    pub name: String,
    /// Automatic or on-demand.
    pub kind: BackupKind,
    /// How it ended.
    pub status: BackupStatus,
    /// When it completed (absent while in progress).
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
}

impl BackupRecord {
    /// The completion time of a successful backup.
    pub fn recovery_point(&self) -> Option<Timestamp> {
        match self.status {
            BackupStatus::Succeeded => self.completed_at,
            _ => None,
        }
    }
}

/// A recovery (or drill) against the RTO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    /// When recovery started.
    pub started_at: Timestamp,
    /// When it finished, if it has.
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
}

/// A server's backups, and optionally a restore being planned or run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupInventory {
    /// The database server (`fleet-postgres-server`).
    pub server: String,
    /// Its backups, in any order.
    #[serde(default)]
    pub backups: Vec<BackupRecord>,
    /// The earliest restore point the service reports, if known.
    #[serde(default)]
    pub earliest_restore_point: Option<Timestamp>,
    /// A point-in-time restore target to validate.
    #[serde(default)]
    pub restore_target: Option<Timestamp>,
    /// A recovery in progress or finished.
    #[serde(default)]
    pub recovery: Option<Recovery>,
}

fn retention(policy: &Policy) -> SignedDuration {
    SignedDuration::from_hours(24 * i64::from(policy.backup.retention_days))
}

fn utc_date(t: Timestamp) -> Date {
    t.to_zoned_datetime(TimeZone::UTC).date()
}

fn scheduled_on(policy: &Policy, d: Date) -> Option<Timestamp> {
    d.to_datetime(policy.backup.schedule_utc)
        .to_zoned_datetime(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// The next scheduled backup strictly after `now`.
pub fn next_scheduled(policy: &Policy, now: Timestamp) -> Timestamp {
    let today = utc_date(now);
    (0..=1)
        .filter_map(|k| today.checked_add(jiff::Span::new().days(k)).ok())
        .filter_map(|d| scheduled_on(policy, d))
        .find(|&t| t > now)
        .unwrap_or(now)
}

/// Scheduled runs whose expected duration has fully passed by `now`, newest first.
fn finished_runs(policy: &Policy, now: Timestamp, n: u32) -> Vec<Timestamp> {
    let today = utc_date(now);
    (0..=i64::from(n) + 1)
        .filter_map(|k| today.checked_sub(jiff::Span::new().days(k)).ok())
        .filter_map(|d| scheduled_on(policy, d))
        .filter(|&t| plus(t, policy.backup.expected_duration) <= now)
        .take(n as usize)
        .collect()
}

/// `backup.rpo`: the newest successful backup is at most `rpo` old.
pub fn check_rpo(policy: &Policy, inv: &BackupInventory, now: Timestamp) -> Finding {
    let rpo = policy.backup.rpo;
    let s = Section::BackupRecovery;
    let limit = Quantity::new(rpo.as_secs_f64() / 3600.0, Unit::Hours);
    let newest = inv
        .backups
        .iter()
        .filter_map(BackupRecord::recovery_point)
        .filter(|&t| t <= now)
        .max();
    match newest {
        None => Finding::new(
            "backup.rpo",
            &inv.server,
            Outcome::Fail,
            s,
            "no successful backup: nothing to recover from",
        )
        .compared(Operator::Gt, limit)
        .actions([
            "create an on-demand backup now",
            "find out why scheduled backups fail",
        ]),
        Some(t) => {
            let age = now.duration_since(t);
            let q = Quantity::new((age.as_secs_f64() / 360.0).round() / 10.0, Unit::Hours);
            let f = if age > rpo {
                Finding::new(
                    "backup.rpo",
                    &inv.server,
                    Outcome::Fail,
                    s,
                    format!(
                        "newest successful backup completed {t}, {} ago: RPO of {} breached",
                        fmt_duration(age.round(jiff::Unit::Minute).unwrap_or(age)),
                        fmt_duration(rpo)
                    ),
                )
                .actions([
                    "create an on-demand backup now",
                    "find out why scheduled backups fail",
                ])
            } else {
                Finding::new(
                    "backup.rpo",
                    &inv.server,
                    Outcome::Pass,
                    s,
                    format!(
                        "newest successful backup completed {t} (within the {} RPO)",
                        fmt_duration(rpo)
                    ),
                )
            };
            f.observed(q)
                .compared(Operator::Gt, limit)
                .deadline(plus(t, rpo))
        }
    }
}

/// `backup.schedule`: the last scheduled run produced a successful automatic backup, and each of
/// the runs in the retention window did.
pub fn check_schedule(policy: &Policy, inv: &BackupInventory, now: Timestamp) -> Finding {
    let s = Section::BackupRecovery;
    let runs = finished_runs(policy, now, policy.backup.retention_days);
    let covered = |run: Timestamp| {
        let until = plus(run, SignedDuration::from_hours(24));
        inv.backups.iter().any(|b| {
            b.kind == BackupKind::Automatic
                && b.recovery_point().is_some_and(|t| t >= run && t < until)
        })
    };
    let missing: Vec<String> = runs
        .iter()
        .filter(|&&r| !covered(r))
        .map(|&r| utc_date(r).to_string())
        .collect();
    let n = Quantity::new(missing.len() as f64, Unit::Count);
    let zero = Quantity::new(0.0, Unit::Count);
    let next = next_scheduled(policy, now);
    if missing.is_empty() {
        Finding::new(
            "backup.schedule",
            &inv.server,
            Outcome::Pass,
            s,
            format!(
                "all of the last {} scheduled daily backups succeeded; next at {next}",
                runs.len()
            ),
        )
        .observed(n)
        .compared(Operator::Gt, zero)
        .deadline(next)
    } else {
        Finding::new(
            "backup.schedule",
            &inv.server,
            Outcome::Warn,
            s,
            format!(
                "no successful scheduled backup for {} (of the last {} days)",
                missing.join(", "),
                runs.len()
            ),
        )
        .observed(n)
        .compared(Operator::Gt, zero)
        .deadline(next)
    }
}

/// Backups that retention would prune at `now`: completed (or failed) before the retention
/// window; the newest successful backup is always kept.
pub fn prune_candidates<'a>(
    policy: &Policy,
    backups: &'a [BackupRecord],
    now: Timestamp,
) -> Vec<&'a BackupRecord> {
    let cutoff = now
        .saturating_sub(retention(policy))
        .unwrap_or(Timestamp::MIN);
    let newest = backups
        .iter()
        .filter_map(BackupRecord::recovery_point)
        .max();
    backups
        .iter()
        .filter(|b| b.status != BackupStatus::InProgress)
        .filter(|b| b.completed_at.is_some_and(|t| t < cutoff))
        .filter(|b| b.recovery_point().is_none() || b.recovery_point() != newest)
        .collect()
}

/// `backup.retention`: lists the backups older than the retention window (Warn when any).
pub fn check_retention(policy: &Policy, inv: &BackupInventory, now: Timestamp) -> Finding {
    let old = prune_candidates(policy, &inv.backups, now);
    let days = policy.backup.retention_days;
    let s = Section::BackupRecovery;
    let q = Quantity::new(old.len() as f64, Unit::Count);
    if old.is_empty() {
        Finding::new(
            "backup.retention",
            &inv.server,
            Outcome::Pass,
            s,
            format!("no backup older than the {days}-day retention"),
        )
        .observed(q)
    } else {
        let names: Vec<&str> = old.iter().map(|b| b.name.as_str()).collect();
        Finding::new(
            "backup.retention",
            &inv.server,
            Outcome::Warn,
            s,
            format!(
                "{} backup(s) older than the {days}-day retention would be pruned: {}",
                old.len(),
                names.join(", ")
            ),
        )
        .observed(q)
    }
}

/// The instants a point-in-time restore may target at `now`: from the later of the retention
/// window's start and the service's earliest restore point, to `now`, both inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreWindow {
    /// The earliest allowed target.
    pub earliest: Timestamp,
    /// The latest allowed target (the evaluation time: never the future).
    pub latest: Timestamp,
}

impl RestoreWindow {
    /// Whether `target` may be restored to.
    pub fn contains(&self, target: Timestamp) -> bool {
        self.earliest <= target && target <= self.latest
    }
}

/// The runbook's backup rules as plain values, for callers to hand to a cloud client (which
/// keeps no copy of them).
impl Policy {
    /// The name of a new on-demand backup taken at `now`: the prefix and the UTC date
    /// (`manual-backup-YYYYMMDD`), with `-2`, `-3`, ... when `existing` already has that name.
    ///
    /// ```
    /// let p = fleet_policy::Policy::default();
    /// let now: jiff::Timestamp = "2025-11-24T23:30:00-05:00".parse()?; // 04:30 UTC next day
    /// assert_eq!(p.on_demand_backup_name(now, []), "manual-backup-20251125");
    /// assert_eq!(
    ///     p.on_demand_backup_name(now, ["manual-backup-20251125"]),
    ///     "manual-backup-20251125-2"
    /// );
    /// # Ok::<(), jiff::Error>(())
    /// ```
    pub fn on_demand_backup_name<'a>(
        &self,
        now: Timestamp,
        existing: impl IntoIterator<Item = &'a str>,
    ) -> String {
        let taken: std::collections::HashSet<&str> = existing.into_iter().collect();
        unique_name(self, utc_date(now), |n| taken.contains(n))
    }

    /// The window a point-in-time restore may target at `now` (see [`RestoreWindow`]);
    /// `earliest` is the service's earliest restore point, when it reports one.
    ///
    /// ```
    /// let p = fleet_policy::Policy::default();
    /// let now: jiff::Timestamp = "2025-11-24T12:00:00Z".parse()?;
    /// let w = p.restore_window(now, None);
    /// assert_eq!(w.earliest.to_string(), "2025-11-17T12:00:00Z"); // 7-day retention
    /// assert!(w.contains("2025-11-24T10:00:00Z".parse()?));
    /// assert!(!w.contains("2025-11-24T12:00:01Z".parse()?)); // the future
    /// # Ok::<(), jiff::Error>(())
    /// ```
    pub fn restore_window(&self, now: Timestamp, earliest: Option<Timestamp>) -> RestoreWindow {
        let window_start = now
            .saturating_sub(retention(self))
            .unwrap_or(Timestamp::MIN);
        RestoreWindow {
            earliest: earliest.map_or(window_start, |e| e.max(window_start)),
            latest: now,
        }
    }
}

/// `backup.restore-target`: a point-in-time restore target must be inside the retention window
/// (and after the earliest restore point, when known) and not in the future
/// ([`Policy::restore_window`]).
pub fn check_restore_target(
    policy: &Policy,
    target: Timestamp,
    earliest: Option<Timestamp>,
    now: Timestamp,
    subject: &str,
) -> Finding {
    let s = Section::BackupRecovery;
    let lower = policy.restore_window(now, earliest).earliest;
    let rule = "backup.restore-target";
    if target > now {
        Finding::new(rule, subject, Outcome::Fail, s, format!("restore point {target} is in the future (now {now})"))
    } else if target < lower {
        Finding::new(
            rule,
            subject,
            Outcome::Fail,
            s,
            format!("restore point {target} is before the earliest available point {lower} ({}-day retention)", policy.backup.retention_days),
        )
    } else {
        Finding::new(rule, subject, Outcome::Pass, s, format!("restore point {target} is inside the window {lower} .. {now}"))
    }
    .deadline(lower)
}

/// `recovery.rto`: a recovery must finish within the RTO; Warn once `rto_warn_ratio` of it is
/// used while still running.
pub fn check_rto(policy: &Policy, recovery: &Recovery, now: Timestamp, subject: &str) -> Finding {
    let rto = policy.backup.rto;
    let s = Section::BackupRecovery;
    let end = recovery.finished_at.unwrap_or(now);
    let elapsed = end.duration_since(recovery.started_at);
    let used = elapsed.as_secs_f64() / rto.as_secs_f64();
    let q = Quantity::new((elapsed.as_secs_f64() / 60.0).round(), Unit::Minutes);
    let limit = Quantity::new(rto.as_secs_f64() / 60.0, Unit::Minutes);
    let deadline = plus(recovery.started_at, rto);
    let (outcome, message) = match recovery.finished_at {
        Some(_) if elapsed <= rto => (
            Outcome::Pass,
            format!("recovery took {q}, within the {} RTO", fmt_duration(rto)),
        ),
        Some(_) => (
            Outcome::Fail,
            format!("recovery took {q}, over the {} RTO", fmt_duration(rto)),
        ),
        None if elapsed > rto => (
            Outcome::Fail,
            format!(
                "recovery running for {q}: the {} RTO is exceeded",
                fmt_duration(rto)
            ),
        ),
        None if used >= policy.backup.rto_warn_ratio => (
            Outcome::Warn,
            format!(
                "recovery running for {q}: {:.0} % of the {} RTO used",
                used * 100.0,
                fmt_duration(rto)
            ),
        ),
        None => (
            Outcome::Pass,
            format!("recovery running for {q}; RTO deadline {deadline}"),
        ),
    };
    Finding::new("recovery.rto", subject, outcome, s, message)
        .observed(q)
        .compared(Operator::Gt, limit)
        .deadline(deadline)
}

/// The name of a new on-demand backup on UTC date `date`, avoiding `existing` names (see
/// [`Policy::on_demand_backup_name`], which takes the instant).
pub fn on_demand_name(policy: &Policy, date: Date, existing: &[&str]) -> String {
    unique_name(policy, date, |n| existing.contains(&n))
}

/// `prefix + YYYYMMDD`, or the first of `-2`, `-3`, ... that is not taken.
fn unique_name(policy: &Policy, date: Date, taken: impl Fn(&str) -> bool) -> String {
    let base = format!(
        "{}{}",
        policy.backup.on_demand_prefix,
        date.strftime("%Y%m%d")
    );
    if !taken(&base) {
        return base;
    }
    (2u32..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken(name))
        .unwrap_or(base)
}

/// All backup findings for an inventory.
pub fn evaluate(policy: &Policy, inv: &BackupInventory, now: Timestamp) -> Vec<Finding> {
    let mut out = vec![
        check_rpo(policy, inv, now),
        check_schedule(policy, inv, now),
        check_retention(policy, inv, now),
    ];
    if let Some(t) = inv.restore_target {
        out.push(check_restore_target(
            policy,
            t,
            inv.earliest_restore_point,
            now,
            &inv.server,
        ));
    }
    if let Some(r) = &inv.recovery {
        out.push(check_rto(policy, r, now, &inv.server));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    fn auto(day: u32, status: BackupStatus) -> BackupRecord {
        BackupRecord {
            name: format!("auto-{day}"),
            kind: BackupKind::Automatic,
            status,
            completed_at: Some(ts(&format!("2026-05-{day:02}T02:20:00Z"))),
        }
    }

    fn week() -> BackupInventory {
        BackupInventory {
            server: "fleet-postgres-server".into(),
            backups: (1..=10).map(|d| auto(d, BackupStatus::Succeeded)).collect(),
            ..BackupInventory::default()
        }
    }

    #[test]
    fn rpo_boundary_is_inclusive_of_24_hours() {
        let p = Policy::default();
        let inv = week();
        assert_eq!(
            check_rpo(&p, &inv, ts("2026-05-11T02:20:00Z")).outcome,
            Outcome::Pass
        );
        assert_eq!(
            check_rpo(&p, &inv, ts("2026-05-11T02:20:01Z")).outcome,
            Outcome::Fail
        );
        assert_eq!(
            check_rpo(&p, &BackupInventory::default(), ts("2026-05-11T00:00:00Z")).outcome,
            Outcome::Fail
        );
        let mut failed = week();
        failed.backups[9].status = BackupStatus::Failed;
        assert_eq!(
            check_rpo(&p, &failed, ts("2026-05-10T12:00:00Z")).outcome,
            Outcome::Fail,
            "one failed backup breaches RPO"
        );
    }

    #[test]
    fn schedule_spots_missing_days() {
        let p = Policy::default();
        assert_eq!(
            check_schedule(&p, &week(), ts("2026-05-10T12:00:00Z")).outcome,
            Outcome::Pass
        );
        let mut inv = week();
        inv.backups.retain(|b| b.name != "auto-7");
        let f = check_schedule(&p, &inv, ts("2026-05-10T12:00:00Z"));
        assert_eq!(f.outcome, Outcome::Warn);
        assert!(f.message.contains("2026-05-07"), "{}", f.message);
        // Before today's run has had time to finish, today is not expected yet.
        assert_eq!(
            check_schedule(&p, &week(), ts("2026-05-11T02:59:00Z")).outcome,
            Outcome::Pass
        );
        assert_eq!(
            check_schedule(&p, &week(), ts("2026-05-11T03:00:00Z")).outcome,
            Outcome::Warn
        );
    }

    #[test]
    fn retention_prunes_old_backups_but_keeps_the_newest() {
        let p = Policy::default();
        let inv = week();
        let old = prune_candidates(&p, &inv.backups, ts("2026-05-10T12:00:00Z"));
        let names: Vec<&str> = old.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["auto-1", "auto-2", "auto-3"]);
        let stale = prune_candidates(&p, &inv.backups, ts("2026-06-30T00:00:00Z"));
        assert_eq!(stale.len(), 9, "the newest successful backup is kept");
    }

    #[test]
    fn restore_target_inside_retention_and_not_future() {
        let p = Policy::default();
        let now = ts("2026-05-10T12:00:00Z");
        let check = |t: &str| check_restore_target(&p, ts(t), None, now, "s").outcome;
        assert_eq!(
            check("2026-05-03T12:00:00Z"),
            Outcome::Pass,
            "exactly 7 days back"
        );
        assert_eq!(check("2026-05-03T11:59:59Z"), Outcome::Fail);
        assert_eq!(check("2026-05-10T12:00:00Z"), Outcome::Pass);
        assert_eq!(check("2026-05-10T12:00:01Z"), Outcome::Fail);
        let f = check_restore_target(
            &p,
            ts("2026-05-04T00:00:00Z"),
            Some(ts("2026-05-05T00:00:00Z")),
            now,
            "s",
        );
        assert_eq!(
            f.outcome,
            Outcome::Fail,
            "before the service's earliest point"
        );
    }

    #[test]
    fn rto_budget() {
        let p = Policy::default();
        let started = ts("2026-05-10T00:00:00Z");
        let r = Recovery {
            started_at: started,
            finished_at: None,
        };
        assert_eq!(
            check_rto(&p, &r, ts("2026-05-10T02:59:00Z"), "s").outcome,
            Outcome::Pass
        );
        assert_eq!(
            check_rto(&p, &r, ts("2026-05-10T03:00:00Z"), "s").outcome,
            Outcome::Warn
        );
        assert_eq!(
            check_rto(&p, &r, ts("2026-05-10T04:00:01Z"), "s").outcome,
            Outcome::Fail
        );
        let done = Recovery {
            started_at: started,
            finished_at: Some(ts("2026-05-10T04:00:00Z")),
        };
        assert_eq!(
            check_rto(&p, &done, ts("2026-05-11T00:00:00Z"), "s").outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn next_scheduled_run() {
        let p = Policy::default();
        assert_eq!(
            next_scheduled(&p, ts("2026-05-10T01:59:59Z")),
            ts("2026-05-10T02:00:00Z")
        );
        assert_eq!(
            next_scheduled(&p, ts("2026-05-10T02:00:00Z")),
            ts("2026-05-11T02:00:00Z")
        );
    }

    #[test]
    fn plain_values_follow_the_policy_file() {
        let p = Policy::from_toml_str(
            "[backup]\non_demand_prefix = \"pre-release-\"\nretention_days = 35\n",
        )
        .expect("policy");
        let now = ts("2026-05-10T12:00:00Z");
        assert_eq!(p.on_demand_backup_name(now, []), "pre-release-20260510");
        let w = p.restore_window(now, Some(ts("2026-04-20T00:00:00Z")));
        assert_eq!((w.earliest, w.latest), (ts("2026-04-20T00:00:00Z"), now));
        assert_eq!(
            p.restore_window(now, None).earliest,
            ts("2026-04-05T12:00:00Z"),
            "35 days back"
        );
        // The check and the window agree at both ends.
        for t in [w.earliest, w.latest] {
            assert_eq!(
                check_restore_target(&p, t, Some(w.earliest), now, "s").outcome,
                Outcome::Pass
            );
        }
    }

    #[test]
    fn on_demand_names_get_suffixes() {
        let p = Policy::default();
        let d = jiff::civil::date(2026, 1, 5);
        let names = ["manual-backup-20260105", "manual-backup-20260105-2"];
        assert_eq!(on_demand_name(&p, d, &names), "manual-backup-20260105-3");
    }
}
