//! Secret values (webhook URLs, routing keys, API keys, smoke-test credentials): kept out of
//! `Debug`, errors, logs and reports.

use std::fmt;

use reqwest::Url;
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

/// A secret string. `Debug` prints `Secret(***)`; there is no `Display` and no `Serialize`, so
/// a secret cannot reach a log line, an error or a report by accident. Read it with
/// [`Secret::expose`] at the one place it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value (read by the binary from its environment or a vault).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

/// A URL whose path and query are secret (a Slack incoming webhook, a generic webhook with a
/// token in its path). `Debug` and [`SecretUrl::redacted`] show only scheme, host and port.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Parses and checks a URL: `http` or `https`, with a host, without user info.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `field`, without the URL's value.
    pub fn parse(field: &str, url: &str) -> Result<Self> {
        let parsed = Url::parse(url.trim())
            .map_err(|e| Error::invalid(field, format!("not a URL ({e})")))?;
        check_url(field, &parsed)?;
        Ok(Self(parsed))
    }

    /// The URL, for the request that uses it.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// `scheme://host[:port]/…`, safe to show.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // The error names the field but never repeats the value.
        SecretUrl::parse("url", &s).map_err(serde::de::Error::custom)
    }
}

/// Checks that a URL is usable for an HTTP call: `http`/`https`, a host, no user info.
pub(crate) fn check_url(field: &str, url: &Url) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(
            field,
            format!("scheme {:?} is not http or https", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid(field, "the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            field,
            "credentials in the URL are not accepted: pass them as a header",
        ));
    }
    Ok(())
}

/// A URL from a literal in this crate's source.
pub(crate) fn literal_url(literal: &'static str) -> Url {
    Url::parse(literal).expect("the crate's literal URLs are valid")
}

/// `scheme://host[:port]/…`: what may be shown of a URL whose path could be secret.
pub(crate) fn redact_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let path = if url.path().len() > 1 || url.query().is_some() {
        "/…"
    } else {
        ""
    };
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{path}", url.scheme()),
        None => format!("{}://{host}{path}", url.scheme()),
    }
}

/// `scheme://host[:port]/path` without query or fragment: what may be shown of a URL whose
/// path is not secret (a Prometheus server, a smoke-test target).
pub(crate) fn url_without_query(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Replaces every occurrence of the secrets' values in `text` (a server's answer that might
/// echo what it was sent) with `***`.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let s = Secret::new("R0UT1NGKEY");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let u = SecretUrl::parse(
            "slack.deployments",
            "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
        )
        .expect("url");
        let shown = format!("{u:?}");
        assert!(!shown.contains("XXXXSECRET"), "{shown}");
        assert_eq!(u.redacted(), "https://hooks.slack.com/…");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let e = SecretUrl::parse("webhook", "ftp://h/tok3n").expect_err("ftp");
        assert!(e.is_invalid_input());
        assert!(!e.to_string().contains("tok3n"));
        let e = SecretUrl::parse("webhook", "https://user:pa55@h/x").expect_err("userinfo");
        assert!(!e.to_string().contains("pa55"));
        assert!(SecretUrl::parse("webhook", "not a url").is_err());
    }

    #[test]
    fn scrub_removes_echoed_values() {
        assert_eq!(
            scrub("bad key abcd1234 given", &["abcd1234", ""]),
            "bad key *** given"
        );
    }

    #[test]
    fn urls_without_query() {
        let u = Url::parse("http://app:8080/login?token=x#f").expect("url");
        assert_eq!(url_without_query(&u), "http://app:8080/login");
    }
}
