//! Requests this crate builds by hand: URLs from validated segments, checked again after the
//! URL is formed, and bodies whose secret values are redacted everywhere but on the wire.

use crate::error::{Error, Result};
use crate::outcome::{PlannedRequest, REDACTED};
use azure_core::http::{Method, Request, Url};
use std::fmt;

/// `endpoint` with `segments` appended to its path and `query` pairs added.
///
/// The segments were validated by the caller; this checks the URL that comes out anyway:
/// its path must be exactly the endpoint's path followed by `segments`, one path segment
/// each, unencoded. A segment that URL parsing would drop or resolve (`.`, `..`) or encode
/// (`/`, `%`, `?`, `#`, spaces, non-ASCII) makes the check fail, so a request can only ever go
/// to the resource it names.
pub(crate) fn resource_url(
    endpoint: &Url,
    segments: &[&str],
    query: &[(&str, &str)],
) -> Result<Url> {
    if let Some(empty) = segments.iter().position(|s| s.is_empty()) {
        return Err(Error::invalid(
            "url",
            format!(
                "segment {empty} of /{} is empty; refusing to send it",
                segments.join("/")
            ),
        ));
    }
    let mut url = endpoint.clone();
    url.set_query(None);
    url.set_fragment(None);
    let prefix: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| Error::invalid("endpoint", format!("{endpoint} cannot take a path")))?;
        path.clear().extend(prefix.iter()).extend(segments);
    }
    let expected: Vec<&str> = prefix
        .iter()
        .map(String::as_str)
        .chain(segments.iter().copied())
        .collect();
    let actual: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    if actual != expected {
        return Err(Error::invalid(
            "url",
            format!(
                "the URL built for /{} has the path {}; refusing to send it",
                expected.join("/"),
                url.path()
            ),
        ));
    }
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
    }
    Ok(url)
}

/// `candidate` uses HTTPS on the same host and port as `endpoint`: the only URLs a bearer
/// token may follow (status monitors, `Location`, `nextLink`).
pub(crate) fn same_origin(operation: &str, endpoint: &Url, candidate: &str) -> Result<Url> {
    let url = Url::parse(candidate)
        .map_err(|e| Error::response(operation, format!("{candidate:?} is not a URL: {e}")))?;
    if url.scheme() != "https"
        || url.host_str() != endpoint.host_str()
        || url.port_or_known_default() != endpoint.port_or_known_default()
    {
        return Err(Error::response(
            operation,
            format!(
                "refusing to follow {} (not HTTPS on {}): it would receive the bearer token",
                url.origin().ascii_serialization(),
                endpoint.origin().ascii_serialization()
            ),
        ));
    }
    Ok(url)
}

/// One request, as built; its `Debug` and [`ArmRequest::planned`] never show secret values.
#[derive(Clone)]
pub(crate) struct ArmRequest {
    pub(crate) operation: String,
    pub(crate) method: Method,
    pub(crate) url: Url,
    headers: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
    secret_pointers: Vec<&'static str>,
}

impl ArmRequest {
    pub(crate) fn new(operation: impl Into<String>, method: Method, url: Url) -> Self {
        Self {
            operation: operation.into(),
            method,
            url,
            headers: vec![("accept", "application/json".to_owned())],
            body: None,
            secret_pointers: Vec::new(),
        }
    }

    /// Adds a JSON body (and its content type).
    pub(crate) fn with_json(mut self, body: serde_json::Value) -> Self {
        self.headers
            .push(("content-type", "application/json".to_owned()));
        self.body = Some(body);
        self
    }

    /// Marks the value at JSON pointer `pointer` as secret.
    pub(crate) fn with_secret_at(mut self, pointer: &'static str) -> Self {
        self.secret_pointers.push(pointer);
        self
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The request with secrets redacted: what a dry run returns and what logs may show.
    pub(crate) fn planned(&self) -> PlannedRequest {
        PlannedRequest {
            method: self.method.to_string().to_ascii_uppercase(),
            url: self.url.to_string(),
            headers: self
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
            body: self.body.as_ref().map(|b| redact(b, &self.secret_pointers)),
        }
    }

    /// The azure_core request, with the real body.
    pub(crate) fn to_request(&self) -> Result<Request> {
        let mut request = Request::new(self.url.clone(), self.method);
        for (name, value) in &self.headers {
            request.insert_header(*name, value.clone());
        }
        if let Some(body) = &self.body {
            request
                .set_json(body)
                .map_err(|e| Error::from_azure(&self.operation, e))?;
        }
        Ok(request)
    }

    /// `METHOD /path` for messages and logs (no query: it can carry a `$skiptoken`).
    pub(crate) fn target(&self) -> String {
        format!(
            "{} {}",
            self.method.to_string().to_ascii_uppercase(),
            self.url.path()
        )
    }
}

impl fmt::Debug for ArmRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmRequest")
            .field("operation", &self.operation)
            .field("request", &self.planned())
            .finish()
    }
}

fn redact(body: &serde_json::Value, pointers: &[&str]) -> serde_json::Value {
    let mut copy = body.clone();
    for pointer in pointers {
        if let Some(v) = copy.pointer_mut(pointer) {
            *v = serde_json::Value::String(REDACTED.to_owned());
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://management.azure.com").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn urls_are_exactly_the_segments() -> Result<()> {
        let url = resource_url(
            &base(),
            &[
                "subscriptions",
                "s",
                "resourceGroups",
                "rg(1)",
                "x",
                "@",
                "*",
            ],
            &[("api-version", "2025-08-01")],
        )?;
        assert_eq!(
            url.as_str(),
            "https://management.azure.com/subscriptions/s/resourceGroups/rg(1)/x/@/*?api-version=2025-08-01"
        );
        let prefixed = Url::parse("https://h/v1/workspaces/w")
            .map_err(|e| Error::invalid("u", e.to_string()))?;
        assert_eq!(
            resource_url(&prefixed, &["query"], &[])?.path(),
            "/v1/workspaces/w/query"
        );
        Ok(())
    }

    /// Issue 10: the path of a built URL must end in the resource it names.
    #[test]
    fn segments_that_change_the_path_are_refused() {
        for bad in [
            "..", ".", "a/b", "a%2e", "a?b", "a#b", "a b", "\u{e9}", "", "a\\b",
        ] {
            let e = resource_url(&base(), &["servers", "s", "backups", bad], &[]).err();
            assert!(e.is_some_and(|e| e.is_invalid_input()), "{bad:?} accepted");
        }
    }

    #[test]
    fn only_https_on_the_endpoint_is_followed() {
        let b = base();
        assert!(same_origin("op", &b, "https://management.azure.com/x?y=1").is_ok());
        assert!(same_origin("op", &b, "https://management.azure.com:443/x").is_ok());
        for bad in [
            "http://management.azure.com/x",
            "https://attacker.example/x",
            "https://management.azure.com:8443/x",
            "https://management.azure.com.attacker.example/x",
            "not a url",
        ] {
            assert!(same_origin("op", &b, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_never_show() {
        let r = ArmRequest::new("change password", Method::Patch, base())
            .with_json(
                serde_json::json!({"properties": {"administratorLoginPassword": "hunter2!Aa"}}),
            )
            .with_secret_at("/properties/administratorLoginPassword");
        let planned = r.planned();
        assert_eq!(
            planned.body,
            Some(serde_json::json!({"properties": {"administratorLoginPassword": REDACTED}}))
        );
        assert!(!format!("{r:?}").contains("hunter2"));
        assert!(!planned.to_string().contains("hunter2"));
        assert_eq!(planned.method, "PATCH");
    }
}
