//! "Deployment Procedures": the weekly window, hotfixes, freezes, pre-flight, and the overlap
//! with the daily backup.
//!
//! "Thursday 10 PM EST" is read as 22:00 New York wall-clock time in `America/New_York`, so it
//! follows daylight saving: Friday 03:00 UTC in winter, Friday 02:00 UTC in summer, which is
//! when the daily backup starts; that overlap is reported as a warning (`deploy.backup-overlap`).
//! Zones come from the time-zone database bundled into the binary.
//!
//! ```
//! use fleet_policy::deploy::{next_window, window_containing};
//! use fleet_policy::Policy;
//! use jiff::Timestamp;
//!
//! let policy = Policy::default();
//! let summer: Timestamp = "2026-07-17T02:30:00Z".parse()?; // Thu 22:30 EDT
//! assert!(window_containing(&policy.deploy, summer).is_some());
//! let winter: Timestamp = "2026-01-16T02:30:00Z".parse()?; // Thu 21:30 EST: too early
//! assert!(window_containing(&policy.deploy, winter).is_none());
//! assert_eq!(next_window(&policy.deploy, winter).start.to_string(), "2026-01-16T03:00:00Z");
//! # Ok::<(), jiff::Error>(())
//! ```

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::config::{BackupPolicy, DeployPolicy, Zone};
use crate::finding::{Finding, Outcome, Section};
use crate::{Policy, plus};

/// Standard (weekly window) or hotfix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployKind {
    /// The weekly standard deployment.
    Standard,
    /// An emergency or hotfix deployment.
    Hotfix,
}

/// What happened to the pre-flight checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preflight {
    /// Ran and passed.
    Passed,
    /// Ran and failed.
    Failed,
    /// Deliberately skipped (`SKIP_PREFLIGHT=true`).
    Skipped,
    /// Not run.
    NotRun,
}

/// An approval recorded for a deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The approver's role (`technical-lead`).
    pub role: String,
    /// Who approved.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// A request to deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The service (`fleet-api`).
    pub service: String,
    /// The version tag (`v1.2.3`, `hotfix-v1.2.4`).
    pub version: String,
    /// Standard or hotfix.
    pub kind: DeployKind,
    /// When the deploy runs; the evaluation time when absent.
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// Pre-flight result.
    pub preflight: Preflight,
    /// Approvals given.
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The branch the release branch was cut from (hotfixes must come from `main`).
    #[serde(default)]
    pub base_branch: Option<String>,
}

/// One occurrence of the weekly window, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start (inclusive).
    pub start: Timestamp,
    /// End (exclusive).
    pub end: Timestamp,
}

impl Window {
    /// Whether `t` is inside.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

fn local_date(zone: &Zone, t: Timestamp) -> Date {
    t.to_zoned_datetime(zone.tz().clone()).date()
}

/// The occurrence of the window that starts on local date `d` (a gap at the start time is
/// resolved forward, as jiff's "compatible" strategy does).
fn occurrence(p: &DeployPolicy, d: Date) -> Option<Window> {
    let start = d
        .to_datetime(p.start)
        .to_zoned_datetime(p.zone.tz().clone())
        .ok()?
        .timestamp();
    Some(Window {
        start,
        end: plus(start, p.duration),
    })
}

fn days(d: Date, n: i64) -> Option<Date> {
    d.checked_add(jiff::Span::new().days(n)).ok()
}

/// The window occurrence containing `t`, if any.
pub fn window_containing(p: &DeployPolicy, t: Timestamp) -> Option<Window> {
    let today = local_date(&p.zone, t);
    let reach = p.duration.as_secs().div_euclid(86_400) + 1;
    (0..=reach.clamp(1, 366))
        .filter_map(|k| days(today, -k))
        .filter(|d| d.weekday() == p.weekday.weekday())
        .filter_map(|d| occurrence(p, d))
        .find(|w| w.contains(t))
}

/// The window containing `t`, or else the next one to start after `t`.
pub fn next_window(p: &DeployPolicy, t: Timestamp) -> Window {
    if let Some(w) = window_containing(p, t) {
        return w;
    }
    let today = local_date(&p.zone, t);
    (0..=8)
        .filter_map(|k| days(today, k))
        .filter(|d| d.weekday() == p.weekday.weekday())
        .filter_map(|d| occurrence(p, d))
        .find(|w| w.start >= t)
        // Unreachable for real zones: some day of the next eight has the right weekday.
        .unwrap_or(Window {
            start: t,
            end: plus(t, p.duration),
        })
}

/// The part of a window during which a scheduled backup runs, if they overlap.
pub fn backup_overlap(backup: &BackupPolicy, w: &Window) -> Option<Window> {
    let first = w.start.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    (-1..=w.end.duration_since(w.start).as_secs() / 86_400 + 1)
        .filter_map(|k| days(first, k))
        .filter_map(|d| {
            d.to_datetime(backup.schedule_utc)
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .ok()
        })
        .map(|z| {
            let b = z.timestamp();
            Window {
                start: b,
                end: plus(b, backup.expected_duration),
            }
        })
        .find(|b| b.start < w.end && w.start < b.end)
        .map(|b| Window {
            start: b.start.max(w.start),
            end: b.end.min(w.end),
        })
}

/// Whether `t` falls in business hours (a working day, not a holiday, inside the hours).
pub fn in_business_hours(p: &DeployPolicy, t: Timestamp) -> bool {
    let bh = &p.business_hours;
    let z = t.to_zoned_datetime(bh.zone.tz().clone());
    let day_ok = bh.days.iter().any(|d| d.weekday() == z.weekday());
    let holiday = bh.holidays.contains(&z.date());
    let time = z.time();
    day_ok && !holiday && bh.hours.start() <= time && time < bh.hours.end()
}

/// Formats an instant in a zone the way people read it: `Thu 2026-07-16 22:00 EDT`.
pub fn local(zone: &Zone, t: Timestamp) -> String {
    t.to_zoned_datetime(zone.tz().clone())
        .strftime("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Evaluates a deploy request at `now` (used when the request has no time of its own).
pub fn evaluate(policy: &Policy, req: &DeployRequest, now: Timestamp) -> Vec<Finding> {
    let p = &policy.deploy;
    let at = req.at.unwrap_or(now);
    let subject = format!("{} {}", req.service, req.version);
    let s = Section::DeploymentProcedures;
    let mut out = Vec::new();

    out.push(match req.preflight {
        Preflight::Passed => Finding::new(
            "deploy.preflight",
            &subject,
            Outcome::Pass,
            s,
            "pre-flight checks passed",
        ),
        other => {
            let what = match other {
                Preflight::Failed => "pre-flight checks failed",
                Preflight::Skipped => {
                    "pre-flight checks were skipped; they are never skipped, hotfix or not"
                }
                _ => "pre-flight checks have not run",
            };
            Finding::new("deploy.preflight", &subject, Outcome::Fail, s, what)
                .actions(["run ./scripts/production-preflight-check.sh and fix what it reports"])
        }
    });

    let freeze = p.freezes.iter().find(|f| f.contains(at));
    match req.kind {
        DeployKind::Standard => {
            let next = next_window(p, at);
            out.push(if next.contains(at) {
                Finding::new(
                    "deploy.window",
                    &subject,
                    Outcome::Pass,
                    s,
                    format!(
                        "inside the weekly window ({} to {})",
                        local(&p.zone, next.start),
                        local(&p.zone, next.end)
                    ),
                )
                .deadline(next.end)
            } else {
                Finding::new(
                    "deploy.window",
                    &subject,
                    Outcome::Fail,
                    s,
                    format!(
                        "{} is outside the weekly window; the next one opens {} ({} UTC)",
                        local(&p.zone, at),
                        local(&p.zone, next.start),
                        next.start.strftime("%a %H:%M")
                    ),
                )
                .deadline(next.start)
                .actions([
                    "wait for the window, or use the hotfix process with technical-lead approval",
                ])
            });
            out.push(match freeze {
                Some(f) => Finding::new(
                    "deploy.freeze",
                    &subject,
                    Outcome::Fail,
                    s,
                    format!("deploys are frozen until {}: {}", f.end(), f.reason()),
                )
                .deadline(f.end()),
                None => Finding::new(
                    "deploy.freeze",
                    &subject,
                    Outcome::Pass,
                    s,
                    "no freeze in force",
                ),
            });
            if let Some(o) = backup_overlap(&policy.backup, &next) {
                out.push(Finding::new(
                    "deploy.backup-overlap",
                    &subject,
                    Outcome::Warn,
                    s,
                    format!(
                        "the window ({}) overlaps the daily backup from {} to {} UTC",
                        local(&p.zone, next.start),
                        o.start.strftime("%H:%M"),
                        o.end.strftime("%H:%M")
                    ),
                ));
            }
        }
        DeployKind::Hotfix => {
            let role = &p.hotfix_approver_role;
            let approval = req
                .approvals
                .iter()
                .find(|a| a.role.eq_ignore_ascii_case(role) && a.at <= at);
            out.push(match approval {
                Some(a) => Finding::new(
                    "deploy.hotfix-approval",
                    &subject,
                    Outcome::Pass,
                    s,
                    format!("approved by {} ({role}) at {}", a.by, a.at),
                ),
                None => Finding::new(
                    "deploy.hotfix-approval",
                    &subject,
                    Outcome::Fail,
                    s,
                    format!("a hotfix needs approval by the {role} before it deploys"),
                )
                .actions([format!("get approval from the {role}")]),
            });
            let base = &p.hotfix_base_branch;
            out.push(match req.base_branch.as_deref() {
                Some(b) if b == base => Finding::new(
                    "deploy.hotfix-branch",
                    &subject,
                    Outcome::Pass,
                    s,
                    format!("hotfix branch cut from `{base}`"),
                ),
                Some(b) => Finding::new(
                    "deploy.hotfix-branch",
                    &subject,
                    Outcome::Fail,
                    s,
                    format!("hotfix branch cut from `{b}`, not `{base}`"),
                ),
                None => Finding::new(
                    "deploy.hotfix-branch",
                    &subject,
                    Outcome::Inconclusive,
                    s,
                    format!("base branch not given (a hotfix is cut from `{base}`)"),
                ),
            });
            out.push(if in_business_hours(p, at) {
                Finding::new("deploy.business-hours", &subject, Outcome::Pass, s, "inside business hours")
            } else {
                Finding::new(
                    "deploy.business-hours",
                    &subject,
                    Outcome::Warn,
                    s,
                    format!(
                        "{} is outside business hours: deploy then only if it cannot wait, with the rollback plan ready",
                        local(&p.business_hours.zone, at)
                    ),
                )
            });
            out.push(match freeze {
                Some(f) => Finding::new(
                    "deploy.freeze",
                    &subject,
                    Outcome::Warn,
                    s,
                    format!(
                        "a freeze is in force until {} ({}): hotfix only if critical",
                        f.end(),
                        f.reason()
                    ),
                ),
                None => Finding::new(
                    "deploy.freeze",
                    &subject,
                    Outcome::Pass,
                    s,
                    "no freeze in force",
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn p() -> Policy {
        Policy::default()
    }

    #[test]
    fn window_follows_new_york_daylight_saving() {
        let p = p();
        // (any instant inside the window, expected window start in UTC)
        let cases = [
            ("2026-01-16T03:00:00Z", "2026-01-16T03:00:00Z"), // winter: EST, 03:00 UTC
            ("2026-07-17T02:00:00Z", "2026-07-17T02:00:00Z"), // summer: EDT, 02:00 UTC
            ("2026-03-06T04:59:59Z", "2026-03-06T03:00:00Z"), // Thu before spring-forward (Mar 8)
            ("2026-03-13T02:00:00Z", "2026-03-13T02:00:00Z"), // Thu after spring-forward
            ("2026-10-30T02:00:00Z", "2026-10-30T02:00:00Z"), // Thu before fall-back (Nov 1)
            ("2026-11-06T03:00:00Z", "2026-11-06T03:00:00Z"), // Thu after fall-back
        ];
        for (t, start) in cases {
            let w = window_containing(&p.deploy, ts(t)).unwrap_or_else(|| panic!("{t} in window"));
            assert_eq!(w.start, ts(start), "{t}");
            assert_eq!(w.end.duration_since(w.start), SignedDuration::from_hours(2));
        }
        for t in [
            "2026-01-16T02:59:59Z", // winter 21:59 EST
            "2026-01-16T05:00:00Z", // winter end is exclusive
            "2026-07-17T03:00:00Z", // summer: 23:00 EDT is in, so check 04:00
        ] {
            let inside = window_containing(&p.deploy, ts(t)).is_some();
            assert_eq!(inside, t == "2026-07-17T03:00:00Z", "{t}");
        }
        assert!(window_containing(&p.deploy, ts("2026-07-17T04:00:00Z")).is_none());
    }

    #[test]
    fn fixed_offset_window_does_not_follow_dst() {
        let mut p = p();
        p.deploy.zone = Zone::new("-05:00").expect("offset");
        let w = next_window(&p.deploy, ts("2026-07-15T00:00:00Z"));
        assert_eq!(
            w.start,
            ts("2026-07-17T03:00:00Z"),
            "23:00 EDT local in summer"
        );
    }

    #[test]
    fn backup_overlap_only_in_summer() {
        let p = p();
        let summer = next_window(&p.deploy, ts("2026-07-14T00:00:00Z"));
        let o = backup_overlap(&p.backup, &summer).expect("overlap in summer");
        assert_eq!(
            (o.start, o.end),
            (ts("2026-07-17T02:00:00Z"), ts("2026-07-17T03:00:00Z"))
        );
        let winter = next_window(&p.deploy, ts("2026-01-12T00:00:00Z"));
        assert_eq!(
            backup_overlap(&p.backup, &winter),
            None,
            "03:00-05:00 UTC vs 02:00-03:00"
        );
    }

    #[test]
    fn business_hours_boundaries() {
        let p = p();
        // 2026-07-15 is a Wednesday; EDT is UTC-4.
        assert!(!in_business_hours(&p.deploy, ts("2026-07-15T12:59:59Z")));
        assert!(in_business_hours(&p.deploy, ts("2026-07-15T13:00:00Z")));
        assert!(in_business_hours(&p.deploy, ts("2026-07-15T20:59:59Z")));
        assert!(!in_business_hours(&p.deploy, ts("2026-07-15T21:00:00Z")));
        assert!(
            !in_business_hours(&p.deploy, ts("2026-07-18T15:00:00Z")),
            "Saturday"
        );
    }

    fn req(kind: DeployKind, at: &str) -> DeployRequest {
        DeployRequest {
            service: "fleet-api".into(),
            version: "v1.2.3".into(),
            kind,
            at: Some(ts(at)),
            preflight: Preflight::Passed,
            approvals: vec![],
            base_branch: Some("main".into()),
        }
    }

    fn outcome(findings: &[Finding], rule: &str) -> Outcome {
        findings
            .iter()
            .find(|f| f.rule == rule)
            .map(|f| f.outcome)
            .unwrap_or_else(|| panic!("{rule}"))
    }

    #[test]
    fn preflight_is_never_skipped() {
        for kind in [DeployKind::Standard, DeployKind::Hotfix] {
            for (pf, want) in [
                (Preflight::Passed, Outcome::Pass),
                (Preflight::Skipped, Outcome::Fail),
                (Preflight::Failed, Outcome::Fail),
                (Preflight::NotRun, Outcome::Fail),
            ] {
                let mut r = req(kind, "2026-01-16T03:30:00Z");
                r.preflight = pf;
                let f = evaluate(&p(), &r, r.at.unwrap_or(Timestamp::UNIX_EPOCH));
                assert_eq!(outcome(&f, "deploy.preflight"), want, "{kind:?} {pf:?}");
            }
        }
    }

    #[test]
    fn hotfix_rules() {
        let policy = p();
        let mut r = req(DeployKind::Hotfix, "2026-07-15T14:00:00Z");
        let now = ts("2026-07-15T14:00:00Z");
        assert_eq!(
            outcome(&evaluate(&policy, &r, now), "deploy.hotfix-approval"),
            Outcome::Fail
        );
        r.approvals.push(Approval {
            role: "technical-lead".into(),
            by: "lead".into(),
            at: ts("2026-07-15T14:30:00Z"),
        });
        assert_eq!(
            outcome(&evaluate(&policy, &r, now), "deploy.hotfix-approval"),
            Outcome::Fail,
            "approval after the deploy"
        );
        r.approvals[0].at = ts("2026-07-15T13:30:00Z");
        let f = evaluate(&policy, &r, now);
        assert_eq!(outcome(&f, "deploy.hotfix-approval"), Outcome::Pass);
        assert_eq!(outcome(&f, "deploy.business-hours"), Outcome::Pass);
        r.at = Some(ts("2026-07-16T02:00:00Z"));
        assert_eq!(
            outcome(&evaluate(&policy, &r, now), "deploy.business-hours"),
            Outcome::Warn
        );
        r.base_branch = Some("develop".into());
        assert_eq!(
            outcome(&evaluate(&policy, &r, now), "deploy.hotfix-branch"),
            Outcome::Fail
        );
        r.base_branch = None;
        assert_eq!(
            outcome(&evaluate(&policy, &r, now), "deploy.hotfix-branch"),
            Outcome::Inconclusive
        );
    }

    #[test]
    fn freezes_block_standard_and_warn_hotfix() {
        let mut policy = p();
        policy.deploy.freezes.push(
            crate::config::Freeze::new(
                ts("2026-12-20T00:00:00Z"),
                ts("2027-01-04T00:00:00Z"),
                "holidays".into(),
            )
            .expect("freeze"),
        );
        let at = "2026-12-25T03:30:00Z"; // Thu 22:30 EST, in the window
        let now = ts(at);
        let f = evaluate(&policy, &req(DeployKind::Standard, at), now);
        assert_eq!(outcome(&f, "deploy.window"), Outcome::Pass);
        assert_eq!(outcome(&f, "deploy.freeze"), Outcome::Fail);
        let f = evaluate(&policy, &req(DeployKind::Hotfix, at), now);
        assert_eq!(outcome(&f, "deploy.freeze"), Outcome::Warn);
    }

    #[test]
    fn standard_outside_window_names_the_next_one() {
        let f = evaluate(
            &p(),
            &req(DeployKind::Standard, "2026-07-15T14:00:00Z"),
            ts("2026-07-15T14:00:00Z"),
        );
        let w = f
            .iter()
            .find(|f| f.rule == "deploy.window")
            .expect("window finding");
        assert_eq!(w.outcome, Outcome::Fail);
        assert_eq!(w.deadline, Some(ts("2026-07-17T02:00:00Z")));
        assert!(
            w.message.contains("Thu 2026-07-16 22:00 EDT"),
            "{}",
            w.message
        );
        assert_eq!(outcome(&f, "deploy.backup-overlap"), Outcome::Warn);
    }
}
