//! Azure's naming rules for the resources this crate creates, and the runbook's backup naming
//! (`manual-backup-YYYYMMDD`, UTC date, same-day collisions get `-2`, `-3`, ...).

use crate::error::{AzureError, Result};
use jiff::Timestamp;

/// Checks an on-demand backup name against the flexible-server rule: 1 to 128 characters
/// from letters, digits, `_`, `-` and `.` (the spec's `^[-\w\._]+$`).
pub fn validate_backup_name(name: &str) -> Result<()> {
    let len = name.chars().count();
    if !(1..=128).contains(&len) {
        return Err(AzureError::invalid(
            "backup_name",
            format!("{name:?} has {len} characters; Azure allows 1 to 128"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(*c)))
    {
        return Err(AzureError::invalid(
            "backup_name",
            format!("{name:?} contains {bad:?}; Azure allows letters, digits, '-', '_' and '.'"),
        ));
    }
    Ok(())
}

/// Checks a flexible-server name: 3 to 63 characters, lower-case letters, digits and hyphens,
/// not starting or ending with a hyphen.
pub fn validate_server_name(name: &str) -> Result<()> {
    let len = name.chars().count();
    if !(3..=63).contains(&len) {
        return Err(AzureError::invalid(
            "server_name",
            format!("{name:?} has {len} characters; Azure allows 3 to 63"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(AzureError::invalid(
            "server_name",
            format!("{name:?} contains {bad:?}; Azure allows lower-case letters, digits and '-'"),
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(AzureError::invalid(
            "server_name",
            format!("{name:?} starts or ends with '-'"),
        ));
    }
    Ok(())
}

/// Checks a subscription id: a GUID's characters (hex digits and `-`), 1 to 64 of them.
pub fn validate_subscription_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(AzureError::invalid(
            "subscription_id",
            format!("{id:?} is not a GUID"),
        ));
    }
    Ok(())
}

/// Checks a resource-group name: 1 to 90 letters, digits, `_`, `-`, `.`, `(`, `)`, not
/// ending with `.`.
pub fn validate_resource_group(name: &str) -> Result<()> {
    let len = name.chars().count();
    let ok_chars = name
        .chars()
        .all(|c| c.is_alphanumeric() || "_-.()".contains(c));
    if !(1..=90).contains(&len) || !ok_chars || name.ends_with('.') {
        return Err(AzureError::invalid(
            "resource_group",
            format!(
                "{name:?}: Azure allows 1-90 letters, digits, '_', '-', '.', '(', ')', not ending in '.'"
            ),
        ));
    }
    Ok(())
}

/// `manual-backup-YYYYMMDD` for the UTC date of `now`.
pub fn default_backup_name(now: Timestamp) -> String {
    let date = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    format!(
        "manual-backup-{:04}{:02}{:02}",
        date.year(),
        date.month(),
        date.day()
    )
}

/// `base` if no existing name takes it, otherwise `base-2`, `base-3`, ... (the first free one).
pub fn unique_backup_name<'a>(base: &str, existing: impl IntoIterator<Item = &'a str>) -> String {
    let taken: std::collections::HashSet<&str> = existing.into_iter().collect();
    if !taken.contains(base) {
        return base.to_owned();
    }
    (2u32..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken.contains(candidate.as_str()))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names() {
        assert!(validate_backup_name("manual-backup-20250601").is_ok());
        assert!(validate_backup_name("backup_638830782181266873").is_ok());
        assert!(validate_backup_name("ondemandbackup-20250601T183022").is_ok());
        assert!(validate_backup_name("").is_err());
        assert!(validate_backup_name(&"a".repeat(129)).is_err());
        let e = validate_backup_name("bad name")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("' '"), "{e}");
        assert!(validate_backup_name("x/y").is_err());
    }

    #[test]
    fn server_names() {
        assert!(validate_server_name("exampleserver-restored").is_ok());
        assert!(validate_server_name("ab").is_err());
        assert!(validate_server_name(&"a".repeat(64)).is_err());
        assert!(validate_server_name(&"a".repeat(63)).is_ok());
        assert!(validate_server_name("Upper").is_err());
        assert!(validate_server_name("under_score").is_err());
        assert!(validate_server_name("-lead").is_err());
        assert!(validate_server_name("trail-").is_err());
    }

    #[test]
    fn scopes() {
        assert!(validate_subscription_id("ffffffff-ffff-ffff-ffff-ffffffffffff").is_ok());
        assert!(validate_subscription_id("x/../y").is_err());
        assert!(validate_resource_group("fleet-management-rg").is_ok());
        assert!(validate_resource_group("rg(prod).v2").is_ok());
        assert!(validate_resource_group("rg.").is_err());
        assert!(validate_resource_group("a/b").is_err());
        assert!(validate_resource_group("").is_err());
    }

    #[test]
    fn default_names_use_the_utc_date() -> Result<(), jiff::Error> {
        // 23:30 in New York on May 31 is June 1 in UTC.
        let t: Timestamp = "2025-06-01T03:30:00Z".parse()?;
        assert_eq!(default_backup_name(t), "manual-backup-20250601");
        Ok(())
    }

    #[test]
    fn collisions_get_suffixes() {
        assert_eq!(unique_backup_name("m", ["a"]), "m");
        assert_eq!(unique_backup_name("m", ["m"]), "m-2");
        assert_eq!(unique_backup_name("m", ["m", "m-2", "m-3"]), "m-4");
    }
}
