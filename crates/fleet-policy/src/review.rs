//! Runbook reviews: due every 3 calendar months, the day clamped to the month's end
//! (Nov 30 + 3 months is Feb 28, or Feb 29 in a leap year). Past due is a Warn.
//!
//! ```
//! use fleet_policy::review::due_date;
//! use fleet_policy::Policy;
//! use jiff::civil::date;
//!
//! let p = Policy::default();
//! assert_eq!(due_date(&p, date(2025, 11, 24)), date(2026, 2, 24)); // the runbook's own dates
//! assert_eq!(due_date(&p, date(2025, 11, 30)), date(2026, 2, 28));
//! assert_eq!(due_date(&p, date(2027, 11, 30)), date(2028, 2, 29));
//! ```

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::Policy;
use crate::finding::{Finding, Outcome, Section};

/// The runbook's review dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDates {
    /// "Last Review Date".
    pub last_review: Date,
    /// "Next Review Date", as written in the document (checked against the policy).
    #[serde(default)]
    pub next_review: Option<Date>,
}

/// The date the next review is due after `last`.
pub fn due_date(policy: &Policy, last: Date) -> Date {
    let months = i64::from(policy.review.every_months);
    last.checked_add(jiff::Span::new().months(months))
        .unwrap_or(Date::MAX)
}

/// `review.due` at `now` (today taken in the review zone), and `review.next-date` when the
/// document's stated next date is later than the policy allows.
pub fn evaluate(policy: &Policy, dates: &ReviewDates, now: Timestamp) -> Vec<Finding> {
    let today = now
        .to_zoned_datetime(policy.review.zone.tz().clone())
        .date();
    let due = due_date(policy, dates.last_review);
    let s = Section::Review;
    let subject = "runbook";
    let mut out = Vec::new();
    let days_left = (due - today).get_days();
    let due_ts = due
        .to_zoned_datetime(policy.review.zone.tz().clone())
        .map(|z| z.timestamp())
        .ok();
    let mut f = if today > due {
        Finding::new(
            "review.due",
            subject,
            Outcome::Warn,
            s,
            format!(
                "runbook review overdue since {due} (last reviewed {})",
                dates.last_review
            ),
        )
        .actions(["review the runbook and update its review dates"])
    } else if days_left <= i32::try_from(policy.review.due_soon_days).unwrap_or(i32::MAX) {
        Finding::new(
            "review.due",
            subject,
            Outcome::Pass,
            s,
            format!("runbook review due {due} ({days_left} days)"),
        )
    } else {
        Finding::new(
            "review.due",
            subject,
            Outcome::Pass,
            s,
            format!("next runbook review due {due}"),
        )
    };
    f.deadline = due_ts;
    out.push(f);
    if let Some(stated) = dates.next_review.filter(|&stated| stated > due) {
        out.push(Finding::new(
            "review.next-date",
            subject,
            Outcome::Warn,
            s,
            format!("the runbook says next review {stated}, later than the {} months the policy allows ({due})", policy.review.every_months),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn month_end_clamping() {
        let p = Policy::default();
        let cases = [
            (date(2025, 11, 30), date(2026, 2, 28)),
            (date(2023, 11, 30), date(2024, 2, 29)),
            (date(2026, 5, 31), date(2026, 8, 31)),
            (date(2026, 3, 31), date(2026, 6, 30)),
            (date(2026, 12, 31), date(2027, 3, 31)),
        ];
        for (last, want) in cases {
            assert_eq!(due_date(&p, last), want, "{last}");
        }
    }

    #[test]
    fn overdue_is_a_warning() {
        let p = Policy::default();
        let dates = ReviewDates {
            last_review: date(2025, 11, 24),
            next_review: Some(date(2026, 2, 24)),
        };
        // 2026-02-24 23:59 New York is still the due date.
        let f = evaluate(&p, &dates, "2026-02-25T04:59:00Z".parse().expect("ts"));
        assert_eq!(f[0].outcome, Outcome::Pass);
        let f = evaluate(&p, &dates, "2026-02-25T05:00:00Z".parse().expect("ts"));
        assert_eq!(f[0].outcome, Outcome::Warn);
        assert_eq!(f.len(), 1, "stated next date matches the policy");
        let late = ReviewDates {
            next_review: Some(date(2026, 6, 1)),
            ..dates
        };
        assert_eq!(
            evaluate(&p, &late, "2026-01-01T00:00:00Z".parse().expect("ts")).len(),
            2
        );
    }
}
