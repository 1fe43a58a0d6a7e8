//! Waivers: accepted exceptions that stay visible.
//!
//! A waiver names a rule (exactly, or a family as `family.*`), optionally a subject, a reason,
//! an owner and a mandatory expiry instant. While it applies, the findings it matches keep
//! their outcome but carry the waiver, gate as passing, and are still shown by every renderer
//! (SARIF suppressions, JUnit skipped, a "waived" mark in text). Waivers are themselves checked:
//!
//! | rule | outcome | when |
//! |---|---|---|
//! | `waiver.expired` | Warn | the expiry has passed: the waiver no longer applies |
//! | `waiver.horizon` | Warn | the expiry is further away than `waivers.max_horizon_days`: not applied |
//! | `waiver.expiring` | Warn | it expires within `waivers.warn_before_expiry_days` |
//! | `waiver.unused` | Warn | it matched no failing finding (remove it) |
//!
//! Waivers live in the policy file (`[[waiver]]`), which is reviewed like code, never in the
//! gate's input, which is produced by the thing being gated.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::finding::{AppliedWaiver, Finding, Outcome, Section};
use crate::{Policy, plus};

/// One waiver. Construct with [`Waiver::new`] or from a policy file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawWaiver")]
pub struct Waiver {
    rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    reason: String,
    owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    approver: Option<String>,
    expires_at: Timestamp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    rule: String,
    #[serde(default)]
    subject: Option<String>,
    reason: String,
    owner: String,
    #[serde(default)]
    approver: Option<String>,
    expires_at: Timestamp,
}

impl TryFrom<RawWaiver> for Waiver {
    type Error = String;
    fn try_from(r: RawWaiver) -> Result<Waiver, String> {
        let mut w = Waiver::new(r.rule, r.reason, r.owner, r.expires_at)?;
        w.subject = r.subject;
        w.approver = r.approver;
        Ok(w)
    }
}

impl Waiver {
    /// A waiver of `rule` (or `family.*`) for every subject.
    ///
    /// # Errors
    /// A message when the rule, reason or owner is empty.
    pub fn new(
        rule: impl Into<String>,
        reason: impl Into<String>,
        owner: impl Into<String>,
        expires_at: Timestamp,
    ) -> Result<Waiver, String> {
        let (rule, reason, owner) = (rule.into(), reason.into(), owner.into());
        for (what, v) in [("rule", &rule), ("reason", &reason), ("owner", &owner)] {
            if v.trim().is_empty() {
                return Err(format!("a waiver needs a non-empty {what}"));
            }
        }
        Ok(Waiver {
            rule,
            subject: None,
            reason,
            owner,
            approver: None,
            expires_at,
        })
    }

    /// Restricts the waiver to one subject.
    #[must_use]
    pub fn for_subject(mut self, subject: impl Into<String>) -> Waiver {
        self.subject = Some(subject.into());
        self
    }

    /// The waived rule (or `family.*`).
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// The subject, if restricted to one.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Who owns it.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// When it stops applying.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// Whether it matches a finding's rule and subject.
    pub fn matches(&self, f: &Finding) -> bool {
        let rule_ok = match self.rule.strip_suffix(".*") {
            Some(family) => f.family() == family,
            None => f.rule == self.rule,
        };
        rule_ok && self.subject.as_deref().is_none_or(|s| s == f.subject)
    }

    fn label(&self) -> String {
        match &self.subject {
            Some(s) => format!("{} for {s}", self.rule),
            None => self.rule.clone(),
        }
    }
}

/// Applies the policy's waivers to `findings` at `now` and appends the findings about the
/// waivers themselves.
pub fn apply(policy: &Policy, findings: &mut Vec<Finding>, now: Timestamp) {
    let horizon = plus(
        now,
        SignedDuration::from_hours(24 * i64::from(policy.waivers.max_horizon_days)),
    );
    let soon = plus(
        now,
        SignedDuration::from_hours(24 * i64::from(policy.waivers.warn_before_expiry_days)),
    );
    let mut extra = Vec::new();
    for w in &policy.waiver {
        let s = Section::Policy;
        let label = w.label();
        if w.expires_at <= now {
            extra.push(
                Finding::new(
                    "waiver.expired",
                    &label,
                    Outcome::Warn,
                    s,
                    format!(
                        "waiver ({}) owned by {} expired at {}: no longer applied",
                        w.reason, w.owner, w.expires_at
                    ),
                )
                .deadline(w.expires_at),
            );
            continue;
        }
        if w.expires_at > horizon {
            extra.push(Finding::new(
                "waiver.horizon",
                &label,
                Outcome::Warn,
                s,
                format!(
                    "waiver expires {}, more than {} days ahead: not applied; shorten it",
                    w.expires_at, policy.waivers.max_horizon_days
                ),
            ));
            continue;
        }
        let mut used = false;
        for f in findings
            .iter_mut()
            .filter(|f| f.outcome != Outcome::Pass && f.waiver.is_none() && w.matches(f))
        {
            f.waiver = Some(AppliedWaiver {
                reason: w.reason.clone(),
                owner: w.owner.clone(),
                expires_at: w.expires_at,
            });
            used = true;
        }
        if !used {
            extra.push(Finding::new(
                "waiver.unused",
                &label,
                Outcome::Warn,
                s,
                "waiver matched no failing finding: remove it if it is no longer needed",
            ));
        }
        if w.expires_at <= soon {
            extra.push(
                Finding::new(
                    "waiver.expiring",
                    &label,
                    Outcome::Warn,
                    s,
                    format!("waiver owned by {} expires {}", w.owner, w.expires_at),
                )
                .deadline(w.expires_at),
            );
        }
    }
    findings.extend(extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    fn failing() -> Vec<Finding> {
        vec![
            Finding::new(
                "deploy.window",
                "fleet-api v1",
                Outcome::Fail,
                Section::DeploymentProcedures,
                "m",
            ),
            Finding::new(
                "deploy.preflight",
                "fleet-api v1",
                Outcome::Pass,
                Section::DeploymentProcedures,
                "m",
            ),
        ]
    }

    fn with(w: Waiver) -> Policy {
        Policy {
            waiver: vec![w],
            ..Policy::default()
        }
    }

    #[test]
    fn active_waiver_applies_and_stays_visible() {
        let now = ts("2026-05-01T00:00:00Z");
        let p = with(
            Waiver::new(
                "deploy.window",
                "release train slip",
                "sre",
                ts("2026-05-20T00:00:00Z"),
            )
            .expect("w"),
        );
        let mut f = failing();
        apply(&p, &mut f, now);
        assert_eq!(f.len(), 2, "no waiver findings");
        assert_eq!(f[0].outcome, Outcome::Fail, "the outcome itself is kept");
        assert_eq!(f[0].effective_outcome(), Outcome::Pass);
        assert!(f[1].waiver.is_none(), "passing findings are not waived");
    }

    #[test]
    fn expired_waiver_no_longer_applies_and_is_reported() {
        let p = with(Waiver::new("deploy.*", "r", "sre", ts("2026-05-01T00:00:00Z")).expect("w"));
        let mut f = failing();
        apply(&p, &mut f, ts("2026-05-01T00:00:00Z"));
        assert!(f[0].waiver.is_none());
        assert_eq!(f.last().map(|f| f.rule.as_str()), Some("waiver.expired"));
    }

    #[test]
    fn horizon_expiring_unused_and_subject() {
        let now = ts("2026-05-01T00:00:00Z");
        let far =
            with(Waiver::new("deploy.window", "r", "o", ts("2027-01-01T00:00:00Z")).expect("w"));
        let mut f = failing();
        apply(&far, &mut f, now);
        assert!(f[0].waiver.is_none());
        assert!(f.iter().any(|f| f.rule == "waiver.horizon"));

        let soon = with(
            Waiver::new("deploy.window", "r", "o", ts("2026-05-03T00:00:00Z"))
                .expect("w")
                .for_subject("other"),
        );
        let mut f = failing();
        apply(&soon, &mut f, now);
        assert!(f[0].waiver.is_none(), "subject differs");
        let rules: Vec<&str> = f.iter().map(|f| f.rule.as_str()).collect();
        assert!(
            rules.contains(&"waiver.unused") && rules.contains(&"waiver.expiring"),
            "{rules:?}"
        );
    }

    #[test]
    fn waivers_need_reason_and_owner() {
        assert!(Waiver::new("a.b", " ", "o", Timestamp::UNIX_EPOCH).is_err());
        assert!(Waiver::new("a.b", "r", "", Timestamp::UNIX_EPOCH).is_err());
    }
}
