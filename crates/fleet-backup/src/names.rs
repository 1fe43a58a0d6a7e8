//! Backup names: what a name may contain, and the next on-demand name from the policy
//! (`manual-backup-YYYYMMDD`, then `-2`, `-3`... on the same UTC day).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::{Error, Result};

/// Checks a backup name: 1 to 128 of `a-z 0-9 . _ -`, starting with a letter or digit (safe as
/// an object path segment on every store and as a Kubernetes annotation value).
///
/// # Errors
/// [`Error::InvalidInput`] saying what is wrong.
pub fn check_backup_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "backup name",
            format!("{name:?}: use 1 to 128 of a-z 0-9 . _ -, starting with a letter or digit"),
        ))
    }
}

/// The name of a new on-demand backup at `now`: the policy's prefix and the UTC date, with a
/// suffix when `existing` already has that name.
pub fn on_demand_name(policy: &fleet_policy::Policy, now: Timestamp, existing: &[&str]) -> String {
    let date = now.to_zoned_datetime(TimeZone::UTC).date();
    fleet_policy::backup::on_demand_name(policy, date, existing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_backup_name("manual-backup-20251124-2").is_ok());
        for bad in ["", "-x", "Upper", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_backup_name(bad).is_err(), "{bad:?}");
        }
        let p = fleet_policy::Policy::default();
        let now: Timestamp = "2025-11-24T23:30:00Z".parse().expect("ts");
        assert_eq!(on_demand_name(&p, now, &[]), "manual-backup-20251124");
        assert_eq!(
            on_demand_name(&p, now, &["manual-backup-20251124"]),
            "manual-backup-20251124-2"
        );
    }
}
