//! Azure's naming rules for every name this crate puts into a URL path, checked before any
//! request. They are public so that a tool can reject bad input where it reads it.
//!
//! Each rule is at most as wide as Azure's own (from the REST specs), restricted to ASCII, and
//! never accepts a name that URL normalisation would turn into a different path (`.`, `..`,
//! names made only of dots, `/`, `\`, `%`, `?`, `#`). Independently of these checks, every URL
//! is also checked after it is built (see `ResourcePath`), so a rule that is too wide still
//! cannot send a request to another resource.

use crate::error::{Error, Result};

fn ascii_len(field: &'static str, name: &str, min: usize, max: usize) -> Result<()> {
    let len = name.chars().count();
    if !(min..=max).contains(&len) {
        return Err(Error::invalid(
            field,
            format!("{name:?} has {len} characters; Azure allows {min} to {max}"),
        ));
    }
    Ok(())
}

fn only(field: &'static str, name: &str, allowed: impl Fn(char) -> bool, what: &str) -> Result<()> {
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(Error::invalid(
            field,
            format!("{name:?} contains {bad:?}; Azure allows {what}"),
        ));
    }
    Ok(())
}

fn not_only_dots(field: &'static str, name: &str) -> Result<()> {
    if name.chars().all(|c| c == '.') {
        return Err(Error::invalid(
            field,
            format!("{name:?} is made only of dots, which a URL resolves to another resource"),
        ));
    }
    Ok(())
}

/// A PostgreSQL flexible-server on-demand backup name: 1 to 128 characters from ASCII letters,
/// digits, `_`, `-` and `.` (the spec's `^[-\w\._]+$`, narrowed to ASCII), and not made only of
/// dots (`.` and `..` would address the server itself once the URL is normalised).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `backup_name`.
pub fn validate_backup_name(name: &str) -> Result<()> {
    ascii_len("backup_name", name, 1, 128)?;
    only(
        "backup_name",
        name,
        |c| c.is_ascii_alphanumeric() || "-_.".contains(c),
        "letters, digits, '-', '_' and '.'",
    )?;
    not_only_dots("backup_name", name)
}

/// A flexible-server name: 3 to 63 lower-case letters, digits and single hyphens between them
/// (not at the start or end, never two in a row).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `server_name`.
pub fn validate_server_name(name: &str) -> Result<()> {
    ascii_len("server_name", name, 3, 63)?;
    only(
        "server_name",
        name,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        "lower-case letters, digits and '-'",
    )?;
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err(Error::invalid(
            "server_name",
            format!("{name:?}: hyphens must sit between letters or digits"),
        ));
    }
    Ok(())
}

/// A subscription id: 1 to 64 ASCII letters, digits and `-` (real ids are GUIDs; the REST
/// examples use placeholders such as `subid`).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `subscription_id`.
pub fn validate_subscription_id(id: &str) -> Result<()> {
    ascii_len("subscription_id", id, 1, 64)?;
    only(
        "subscription_id",
        id,
        |c| c.is_ascii_alphanumeric() || c == '-',
        "letters, digits and '-' (a GUID)",
    )
}

/// A resource-group name: 1 to 90 ASCII letters, digits, `_`, `-`, `.`, `(` and `)`, not ending
/// with `.`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `resource_group`.
pub fn validate_resource_group(name: &str) -> Result<()> {
    ascii_len("resource_group", name, 1, 90)?;
    only(
        "resource_group",
        name,
        |c| c.is_ascii_alphanumeric() || "_-.()".contains(c),
        "letters, digits, '_', '-', '.', '(' and ')'",
    )?;
    if name.ends_with('.') {
        return Err(Error::invalid(
            "resource_group",
            format!("{name:?} ends with '.'"),
        ));
    }
    Ok(())
}

/// A flexible-server firewall rule name: 1 to 80 characters, starting with a letter or digit,
/// then letters, digits, `-` and `_`, not ending with `-` (the spec's
/// `^[a-zA-Z0-9][-_a-zA-Z0-9]{0,79}(?<!-)$`).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `firewall_rule_name`.
pub fn validate_firewall_rule_name(name: &str) -> Result<()> {
    ascii_len("firewall_rule_name", name, 1, 80)?;
    only(
        "firewall_rule_name",
        name,
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
        "letters, digits, '-' and '_'",
    )?;
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || name.ends_with('-') {
        return Err(Error::invalid(
            "firewall_rule_name",
            format!("{name:?} must start with a letter or digit and not end with '-'"),
        ));
    }
    Ok(())
}

/// A server parameter (configuration) name: 1 to 256 ASCII letters, digits, `_`, `-` and `.`
/// (`auto_explain.log_level`), not made only of dots.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `parameter_name`.
pub fn validate_parameter_name(name: &str) -> Result<()> {
    ascii_len("parameter_name", name, 1, 256)?;
    only(
        "parameter_name",
        name,
        |c| c.is_ascii_alphanumeric() || "-_.".contains(c),
        "letters, digits, '-', '_' and '.'",
    )?;
    not_only_dots("parameter_name", name)
}

fn dns_labels(
    field: &'static str,
    name: &str,
    label_ok: impl Fn(usize, &str) -> bool,
) -> Result<()> {
    if name.is_empty() || name.len() > 253 {
        return Err(Error::invalid(
            field,
            format!("{name:?}: a DNS name has 1 to 253 characters"),
        ));
    }
    for (i, label) in name.split('.').enumerate() {
        if label.is_empty() || label.len() > 63 || !label_ok(i, label) {
            return Err(Error::invalid(
                field,
                format!(
                    "{name:?}: label {label:?} is not a valid DNS label (1-63 letters, digits, inner '-')"
                ),
            ));
        }
    }
    Ok(())
}

fn host_label(label: &str) -> bool {
    label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// An Azure DNS zone name: a DNS name of labels of letters, digits and inner hyphens, without
/// the trailing dot.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `zone_name`.
pub fn validate_dns_zone_name(name: &str) -> Result<()> {
    dns_labels("zone_name", name, |_, label| host_label(label))
}

/// A record-set name relative to its zone: `@` for the apex, or DNS labels of letters, digits,
/// `-` and `_` (service names such as `_sip._tcp`), the first of which may be the wildcard `*`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `record_set_name`.
pub fn validate_record_set_name(name: &str) -> Result<()> {
    if name == "@" {
        return Ok(());
    }
    dns_labels("record_set_name", name, |i, label| {
        (i == 0 && label == "*")
            || (label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !label.starts_with('-')
                && !label.ends_with('-'))
    })
}

/// A Key Vault secret name: 1 to 127 ASCII letters, digits and `-`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `secret_name`.
pub fn validate_secret_name(name: &str) -> Result<()> {
    ascii_len("secret_name", name, 1, 127)?;
    only(
        "secret_name",
        name,
        |c| c.is_ascii_alphanumeric() || c == '-',
        "letters, digits and '-'",
    )
}

/// A Key Vault secret version: Azure's system-generated 32-character identifier (32 ASCII
/// letters or digits; compared case-insensitively). Anything else, such as `../other`, could
/// address another secret.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `secret_version`.
pub fn validate_secret_version(version: &str) -> Result<()> {
    if version.len() != 32 || !version.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "secret_version",
            format!("{version:?} is not a Key Vault version id (32 letters or digits)"),
        ));
    }
    Ok(())
}

/// A Log Analytics workspace id or Application Insights application id: a GUID's characters
/// (hex digits and `-`), 1 to 64 of them.
///
/// # Errors
/// [`Error::InvalidInput`] naming `field`.
pub(crate) fn validate_guid(field: &'static str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::invalid(field, format!("{id:?} is not a GUID")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names() {
        assert!(validate_backup_name("manual-backup-20250601").is_ok());
        assert!(validate_backup_name("backup_638830782181266873").is_ok());
        assert!(validate_backup_name("ondemandbackup-20250601T183022").is_ok());
        assert!(validate_backup_name("pre-deploy.v42").is_ok());
        assert!(validate_backup_name("").is_err());
        assert!(validate_backup_name(&"a".repeat(129)).is_err());
        let e = validate_backup_name("bad name")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("' '"), "{e}");
        assert!(validate_backup_name("x/y").is_err());
        assert!(validate_backup_name("b\u{e9}").is_err());
    }

    /// Issue 10: `..` passed, and a DELETE of it normalised onto the server itself.
    #[test]
    fn dot_only_backup_names_are_refused() {
        for name in [".", "..", "...", "...."] {
            let e = validate_backup_name(name).err();
            assert!(
                e.as_ref().is_some_and(Error::is_invalid_input),
                "{name:?} accepted"
            );
        }
        assert!(validate_backup_name("..x").is_ok());
        assert!(validate_parameter_name("..").is_err());
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
        assert!(validate_server_name("dou--ble").is_err());
    }

    #[test]
    fn scopes() {
        assert!(validate_subscription_id("ffffffff-ffff-ffff-ffff-ffffffffffff").is_ok());
        assert!(validate_subscription_id("subid").is_ok());
        assert!(validate_subscription_id("x/../y").is_err());
        assert!(validate_resource_group("fleet-management-rg").is_ok());
        assert!(validate_resource_group("rg(prod).v2").is_ok());
        assert!(validate_resource_group("rg.").is_err());
        assert!(validate_resource_group("..").is_err());
        assert!(validate_resource_group("a/b").is_err());
        assert!(validate_resource_group("").is_err());
    }

    #[test]
    fn firewall_rule_names() {
        assert!(validate_firewall_rule_name("examplefirewallrule").is_ok());
        assert!(validate_firewall_rule_name("allow_office-1").is_ok());
        assert!(validate_firewall_rule_name("9lives").is_ok());
        assert!(validate_firewall_rule_name("-lead").is_err());
        assert!(validate_firewall_rule_name("_lead").is_err());
        assert!(validate_firewall_rule_name("trail-").is_err());
        assert!(validate_firewall_rule_name("trail_").is_ok());
        assert!(validate_firewall_rule_name(&"a".repeat(81)).is_err());
        assert!(validate_firewall_rule_name("a.b").is_err());
    }

    #[test]
    fn dns_names() {
        assert!(validate_dns_zone_name("zone1").is_ok());
        assert!(validate_dns_zone_name("fleet.example.com").is_ok());
        assert!(validate_dns_zone_name("fleet.example.com.").is_err());
        assert!(validate_dns_zone_name("a..b").is_err());
        assert!(validate_dns_zone_name("-a.com").is_err());
        assert!(validate_record_set_name("@").is_ok());
        assert!(validate_record_set_name("record1").is_ok());
        assert!(validate_record_set_name("*").is_ok());
        assert!(validate_record_set_name("*.api").is_ok());
        assert!(validate_record_set_name("_sip._tcp").is_ok());
        assert!(validate_record_set_name("api.*").is_err());
        assert!(validate_record_set_name("..").is_err());
        assert!(validate_record_set_name("a/b").is_err());
    }

    #[test]
    fn secret_names_and_versions() {
        assert!(validate_secret_name("db-password").is_ok());
        assert!(validate_secret_name("db_password").is_err());
        assert!(validate_secret_name("").is_err());
        assert!(validate_secret_version("03bcccc7c8cf4546a0e3e21e52560441").is_ok());
        assert!(validate_secret_version("03BCCCC7C8CF4546A0E3E21E52560441").is_ok());
        assert!(validate_secret_version("../other").is_err());
        assert!(validate_secret_version("../../secrets/other-secret/0123456").is_err());
        assert!(validate_secret_version("03bcccc7c8cf4546a0e3e21e5256044").is_err());
        assert!(validate_guid("w", "63613592-b6f7-4c3d-a390-22ba13102111").is_ok());
        assert!(validate_guid("w", "../x").is_err());
    }
}

/// Property: no validator accepts a name that would change the path of the URL it goes into.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::http::resource_url;
    use azure_core::http::Url;
    use proptest::prelude::*;

    /// Names from letters, digits and every character that means something in a URL path.
    fn hostile() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9._/%?#\\\\ \u{e9}@*()-]{0,16}")
            .expect("a valid regex")
    }

    type Validator = fn(&str) -> Result<()>;

    const VALIDATORS: [(&str, Validator); 10] = [
        ("backup", validate_backup_name),
        ("server", validate_server_name),
        ("subscription", validate_subscription_id),
        ("group", validate_resource_group),
        ("rule", validate_firewall_rule_name),
        ("parameter", validate_parameter_name),
        ("zone", validate_dns_zone_name),
        ("record", validate_record_set_name),
        ("secret", validate_secret_name),
        ("version", validate_secret_version),
    ];

    proptest! {
        #[test]
        fn accepted_names_address_exactly_their_resource(name in hostile()) {
            let base = Url::parse("https://management.azure.com").expect("a URL");
            for (what, validate) in VALIDATORS {
                if validate(&name).is_ok() {
                    let url = resource_url(&base, &["parent", what, &name], &[("api-version", "1")]);
                    prop_assert!(url.is_ok(), "{what} accepted {name:?} but its URL was refused");
                    let url = url.expect("checked");
                    let expected = format!("/parent/{what}/{name}");
                    prop_assert_eq!(url.path(), expected.as_str());
                }
            }
        }

        #[test]
        fn dot_only_names_are_never_accepted(dots in 1usize..6) {
            let name = ".".repeat(dots);
            for (what, validate) in VALIDATORS {
                prop_assert!(validate(&name).is_err(), "{what} accepted {name:?}");
            }
        }
    }
}
