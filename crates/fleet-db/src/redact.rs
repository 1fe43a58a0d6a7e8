//! Showing a connection string without its password.
//!
//! The string is parsed with the same parser the client connects with (tokio-postgres, which
//! follows libpq), and the description is rebuilt from the parsed fields with the password left
//! out. Nothing of the input is copied through by pattern matching, so every way of writing a
//! password is covered by construction: URL user information, a `?password=` query parameter,
//! `password=x`, `password = x`, `password='x y'` and quoted values with backslash escapes. A
//! string that does not parse is not shown at all.

use std::fmt::Write as _;

use tokio_postgres::config::{Host, SslMode, TargetSessionAttrs};

/// What stands in for a password.
pub(crate) const REDACTED: &str = "<redacted>";

/// A libpq-style connection string (URL or `key=value` pairs) with its password replaced by
/// `<redacted>`, rebuilt in `key=value` form from the parsed configuration.
///
/// A string that does not parse, or whose URL authority is ambiguous (an unencoded `@` in a
/// password makes parsers disagree about where the host begins), is replaced by a placeholder
/// that shows none of it. Whatever the input, the password never appears in the output, even
/// when it equals another field (the user name, say): such occurrences are replaced as well.
///
/// ```
/// let shown = fleet_db::redact_connection_string(
///     "postgresql://app:s3cret@db.example:5432/fleet?sslmode=require",
/// );
/// assert_eq!(
///     shown,
///     "host=db.example port=5432 user=app password=<redacted> dbname=fleet sslmode=require"
/// );
/// assert!(!fleet_db::redact_connection_string("host=db password = 's3 cret'").contains("s3"));
/// ```
pub fn redact_connection_string(conn: &str) -> String {
    if ambiguous_url(conn) {
        return "<connection string not shown: its URL has more than one '@' or one after the \
                host, so the password cannot be told apart>"
            .to_owned();
    }
    match conn.parse::<tokio_postgres::Config>() {
        Ok(config) => describe(&config),
        Err(_) => format!("<unparsable connection string of {} bytes>", conn.len()),
    }
}

/// A description of a parsed configuration without its password.
pub(crate) fn describe(config: &tokio_postgres::Config) -> String {
    let mut out = String::new();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        pair(&mut out, "host", &hosts.join(","));
    }
    let addrs: Vec<String> = config
        .get_hostaddrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    if !addrs.is_empty() {
        pair(&mut out, "hostaddr", &addrs.join(","));
    }
    let ports: Vec<String> = config.get_ports().iter().map(ToString::to_string).collect();
    if !ports.is_empty() {
        pair(&mut out, "port", &ports.join(","));
    }
    if let Some(user) = config.get_user() {
        pair(&mut out, "user", user);
    }
    if config.get_password().is_some() {
        sep(&mut out);
        out.push_str("password=");
        out.push_str(REDACTED);
    }
    if let Some(db) = config.get_dbname() {
        pair(&mut out, "dbname", db);
    }
    if let Some(app) = config.get_application_name() {
        pair(&mut out, "application_name", app);
    }
    if let Some(options) = config.get_options() {
        pair(&mut out, "options", options);
    }
    let ssl = match config.get_ssl_mode() {
        SslMode::Disable => "disable",
        SslMode::Require => "require",
        _ => "prefer",
    };
    pair(&mut out, "sslmode", ssl);
    if config.get_target_session_attrs() != TargetSessionAttrs::Any {
        let attrs = match config.get_target_session_attrs() {
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::ReadOnly => "read-only",
            _ => "any",
        };
        pair(&mut out, "target_session_attrs", attrs);
    }
    scrub(out, config.get_password())
}

/// Replaces every occurrence of the password (when it is also the user name, a database
/// name, part of the options...).
fn scrub(text: String, password: Option<&[u8]>) -> String {
    let Some(pw) = password.filter(|p| !p.is_empty()) else {
        return text;
    };
    let pw = String::from_utf8_lossy(pw);
    if text.contains(pw.as_ref()) {
        text.replace(pw.as_ref(), REDACTED)
    } else {
        text
    }
}

fn sep(out: &mut String) {
    if !out.is_empty() {
        out.push(' ');
    }
}

/// Appends `key=value`, quoting the value the way the parser reads it back.
fn pair(out: &mut String, key: &str, value: &str) {
    sep(out);
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && c != '\'' && c != '\\');
    if plain {
        let _ = write!(out, "{key}={value}");
    } else {
        let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
        let _ = write!(out, "{key}='{escaped}'");
    }
}

/// A URL whose user information cannot be delimited unambiguously: the driver takes the
/// first `@` anywhere in the string, so an `@` in a password or in the query moves the split.
fn ambiguous_url(conn: &str) -> bool {
    let Some(rest) = conn
        .strip_prefix("postgresql://")
        .or_else(|| conn.strip_prefix("postgres://"))
    else {
        return false;
    };
    let ats = rest.matches('@').count();
    if ats > 1 {
        return true;
    }
    match (rest.find('@'), rest.find(['/', '?'])) {
        (Some(at), Some(end)) => at > end,
        _ => false,
    }
}

/// Why a connection string did not parse, in words that cannot contain a secret: the driver's
/// own message can quote an unknown option's name or a character of the input, either of
/// which may be part of a password.
pub(crate) fn parse_failure(err: &tokio_postgres::Error) -> String {
    // The driver's Display says only "invalid connection string"; the reason is its source.
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    const SAFE_OPTIONS: &[&str] = &[
        "sslmode",
        "sslnegotiation",
        "hostaddr",
        "port",
        "connect_timeout",
        "tcp_user_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_retries",
        "target_session_attrs",
        "channel_binding",
        "load_balance_hosts",
        "host",
    ];
    for option in SAFE_OPTIONS {
        if text.ends_with(&format!("invalid value for option `{option}`")) {
            return format!("invalid value for option {option}");
        }
    }
    if text.contains("unknown option") {
        "unknown option (its name is not shown: it may be part of a misquoted password)".into()
    } else if text.contains("unterminated quoted") {
        "unterminated quoted value".into()
    } else if text.contains("unterminated parameter") {
        "a URL query parameter without '='".into()
    } else if text.contains("unexpected EOF") {
        "a key without a value, or a value missing at the end".into()
    } else if text.contains("unexpected character") {
        "a key without '=' (a value with spaces must be single-quoted)".into()
    } else {
        "not a postgresql:// URL or key=value string".into()
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "s3cr3t-Pw";

    fn hides(conn: &str) -> String {
        let shown = redact_connection_string(conn);
        assert!(!shown.contains(PW), "{conn:?} -> {shown:?}");
        assert!(!shown.contains("s3cr3t"), "{conn:?} -> {shown:?}");
        shown
    }

    #[test]
    fn url_userinfo() {
        let shown = hides(&format!("postgresql://app:{PW}@db.example:6432/fleet"));
        assert_eq!(
            shown,
            "host=db.example port=6432 user=app password=<redacted> dbname=fleet sslmode=prefer"
        );
    }

    #[test]
    fn url_query_parameter() {
        let shown = hides(&format!(
            "postgresql://db.example/fleet?user=app&password={PW}&sslmode=require"
        ));
        assert!(shown.contains("password=<redacted>") && shown.contains("user=app"));
        hides(&format!("postgres://db.example/fleet?password={PW}"));
    }

    #[test]
    fn url_percent_encoded() {
        let shown = hides("postgresql://app:s3cr3t%40%20Pw@db/fleet");
        assert!(shown.contains("password=<redacted>"));
    }

    #[test]
    fn key_value_without_and_with_spaces() {
        hides(&format!("host=db user=app password={PW} dbname=fleet"));
        let shown = hides(&format!("host=db user=app password = {PW} dbname=fleet"));
        assert!(shown.contains("password=<redacted>"), "{shown}");
        hides(&format!("host=db password ={PW}"));
        hides(&format!("host=db\tpassword=\t{PW}"));
    }

    #[test]
    fn key_value_quoted_with_escapes() {
        hides("host=db password='s3cr3t with spaces' user=app");
        hides(r"host=db password='s3cr3t \'quoted\' \\ back' user=app");
        hides(r"host=db password=s3cr3t\ escaped\ space user=app");
    }

    #[test]
    fn unparsable_and_ambiguous_strings_show_nothing() {
        for conn in [
            // A space in an unquoted password: "Pw" becomes a key without '='.
            "host=db password=s3cr3t Pw",
            // An unterminated quote.
            "host=db password='s3cr3t",
            // Unknown option made of the password's tail.
            "host=db password=a s3cr3t=x",
            // '@' in the password, unencoded.
            "postgresql://app:s3cr3t@Pw@db/fleet",
            "postgresql://db/fleet?password=s3cr3t@x",
            "postgresql://app:s3cr3t@db:notaport/fleet",
        ] {
            let shown = hides(conn);
            assert!(shown.starts_with('<'), "{conn:?} -> {shown:?}");
        }
    }

    #[test]
    fn password_equal_to_another_field_is_scrubbed_too() {
        let shown = redact_connection_string("host=db user=s3cr3t password=s3cr3t");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn parse_failures_never_quote_the_input() {
        for conn in [
            "host=db password=a s3cr3t=x",
            "host=db password=a s3cr3t",
            "host=db password='s3cr3t",
            "postgresql://db/x?s3cr3t",
        ] {
            let err = conn
                .parse::<tokio_postgres::Config>()
                .expect_err("unparsable");
            let why = parse_failure(&err);
            assert!(!why.contains("s3cr3t"), "{conn:?} -> {why}");
        }
        let err = "host=db port=x"
            .parse::<tokio_postgres::Config>()
            .expect_err("bad port");
        assert_eq!(parse_failure(&err), "invalid value for option port");
    }

    #[test]
    fn rendering_parses_back_to_the_same_fields() {
        let conn = r"host=db user='a b' dbname='it\'s' options='-c x=1' password=pw";
        let shown = redact_connection_string(conn);
        let back: tokio_postgres::Config = shown.parse().expect("re-parse");
        assert_eq!(back.get_user(), Some("a b"));
        assert_eq!(back.get_dbname(), Some("it's"));
        assert_eq!(back.get_options(), Some("-c x=1"));
        assert_eq!(back.get_password(), Some(REDACTED.as_bytes()));
    }
}
