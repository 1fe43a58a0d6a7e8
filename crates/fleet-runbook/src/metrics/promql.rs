//! Typed PromQL templates: the caller writes the queries for its own metric names, with three
//! placeholders filled in by this crate from typed values only:
//!
//! - `$window`: the window's length as a Prometheus duration (`600s`, `1500ms`);
//! - `$matchers`: the configured label matchers, `name="value",...` (escaped; may be empty,
//!   PromQL accepts a trailing comma in a selector);
//! - `$quantile`: `0.5`, `0.95` or `0.99` (latency templates only).
//!
//! `$$` is a literal `$`. Any other `$name` is refused when the template is made, so a typo
//! cannot reach the server.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

const PLACEHOLDERS: [&str; 3] = ["window", "matchers", "quantile"];

/// A PromQL query with placeholders (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct PromTemplate {
    text: String,
}

impl PromTemplate {
    /// Checks a template: known placeholders only, and `required` ones present.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `field` for an unknown or missing placeholder or an
    /// empty template.
    pub fn new(field: &str, text: &str, required: &[&str]) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(Error::invalid(field, "the query is empty"));
        }
        let used = placeholders(text).map_err(|p| {
            Error::invalid(
                field,
                format!(
                    "unknown placeholder ${p} (use $window, $matchers, $quantile, or $$ for $)"
                ),
            )
        })?;
        if let Some(missing) = required.iter().find(|r| !used.contains(&r.to_string())) {
            return Err(Error::invalid(
                field,
                format!("the query must use ${missing}"),
            ));
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The query with the placeholders filled in.
    pub(crate) fn render(
        &self,
        window: Duration,
        matchers: &[LabelMatcher],
        quantile: Option<f64>,
    ) -> String {
        let mut out = String::with_capacity(self.text.len() + 64);
        let mut rest = self.text.as_str();
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(stripped) = after.strip_prefix('$') {
                out.push('$');
                rest = stripped;
                continue;
            }
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            match &after[..name_len] {
                "window" => out.push_str(&prom_duration(window)),
                "matchers" => out.push_str(&render_matchers(matchers)),
                "quantile" => {
                    let q = quantile.map_or_else(|| "NaN".to_owned(), |q| q.to_string());
                    out.push_str(&q);
                }
                // Unreachable: `new` refused other names.
                other => {
                    out.push('$');
                    out.push_str(other);
                }
            }
            rest = &after[name_len..];
        }
        out.push_str(rest);
        out
    }
}

/// The placeholders of `text`, or the first unknown one.
fn placeholders(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut used = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            rest = stripped;
            continue;
        }
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if !PLACEHOLDERS.contains(&name) {
            return Err(name.to_owned());
        }
        used.push(name.to_owned());
        rest = &after[name_len..];
    }
    Ok(used)
}

impl fmt::Debug for PromTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PromTemplate({:?})", self.text)
    }
}

impl Serialize for PromTemplate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for PromTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PromTemplate::new("query", &text, &["window"]).map_err(serde::de::Error::custom)
    }
}

/// How a label is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `=~` (fully anchored regex)
    #[serde(rename = "=~")]
    Re,
    /// `!~`
    #[serde(rename = "!~")]
    NotRe,
}

impl MatchOp {
    fn symbol(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }
}

/// One label matcher (`job="fleet-api"`), checked and escaped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMatcher {
    /// The label (`[a-zA-Z_][a-zA-Z0-9_]*`).
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The value (any text; escaped when rendered).
    pub value: String,
}

impl LabelMatcher {
    /// A matcher; the label name is checked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a name PromQL does not accept.
    pub fn new(name: &str, op: MatchOp, value: impl Into<String>) -> Result<Self> {
        check_label(name)?;
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.into(),
        })
    }

    /// `name="value"`.
    pub fn eq(name: &str, value: impl Into<String>) -> Result<Self> {
        Self::new(name, MatchOp::Eq, value)
    }
}

pub(crate) fn check_label(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "label matcher",
            format!("{name:?} is not a label name"),
        ))
    }
}

fn render_matchers(matchers: &[LabelMatcher]) -> String {
    matchers
        .iter()
        .map(|m| format!("{}{}{}", m.name, m.op.symbol(), quote(&m.value)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A PromQL double-quoted string literal.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Prometheus duration: whole seconds as `600s`, else milliseconds (at least `1ms`).
pub(crate) fn prom_duration(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The unit latency queries answer in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyUnit {
    /// Seconds (Prometheus' convention: `*_duration_seconds`).
    #[default]
    Seconds,
    /// Milliseconds.
    Milliseconds,
}

impl LatencyUnit {
    pub(crate) fn to_ms(self, v: f64) -> f64 {
        match self {
            LatencyUnit::Seconds => v * 1000.0,
            LatencyUnit::Milliseconds => v,
        }
    }
}

/// The queries a [`PrometheusSource`](crate::PrometheusSource) runs. The defaults follow the
/// conventional instrumentation: a counter `http_requests_total` with a `status` label and a
/// histogram `http_request_duration_seconds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PromQueries {
    /// Requests over `$window` (one series).
    pub requests: PromTemplate,
    /// Failed requests over `$window` (one series).
    pub errors: PromTemplate,
    /// The `$quantile` of latency over `$window` (one series).
    pub latency: PromTemplate,
    /// The unit `latency` answers in.
    pub latency_unit: LatencyUnit,
}

impl PromQueries {
    /// Queries from three templates, checked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the template at fault.
    pub fn new(
        requests: &str,
        errors: &str,
        latency: &str,
        latency_unit: LatencyUnit,
    ) -> Result<Self> {
        Ok(Self {
            requests: PromTemplate::new("queries.requests", requests, &["window"])?,
            errors: PromTemplate::new("queries.errors", errors, &["window"])?,
            latency: PromTemplate::new("queries.latency", latency, &["window", "quantile"])?,
            latency_unit,
        })
    }

    /// Checks the templates again (after deserializing, which checks only `$window`).
    pub(crate) fn check(&self) -> Result<()> {
        Self::new(
            self.requests.as_str(),
            self.errors.as_str(),
            self.latency.as_str(),
            self.latency_unit,
        )
        .map(|_| ())
    }
}

impl Default for PromQueries {
    fn default() -> Self {
        let t = |text: &str| PromTemplate {
            text: text.to_owned(),
        };
        Self {
            requests: t("sum(increase(http_requests_total{$matchers}[$window]))"),
            errors: t(r#"sum(increase(http_requests_total{status=~"5..",$matchers}[$window]))"#),
            latency: t(
                "histogram_quantile($quantile, sum by (le) (rate(http_request_duration_seconds_bucket{$matchers}[$window])))",
            ),
            latency_unit: LatencyUnit::Seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_templates() {
        PromQueries::default().check().expect("defaults check");
    }

    #[test]
    fn placeholders_are_filled_from_typed_values() {
        let q = PromQueries::default();
        let m = [
            LabelMatcher::eq("job", "fleet-api").expect("m"),
            LabelMatcher::new("path", MatchOp::Re, r#"/api/"x\y"#).expect("m"),
        ];
        assert_eq!(
            q.errors.render(Duration::from_secs(600), &m, None),
            r#"sum(increase(http_requests_total{status=~"5..",job="fleet-api",path=~"/api/\"x\\y"}[600s]))"#
        );
        assert_eq!(
            q.latency
                .render(Duration::from_millis(1500), &[], Some(0.95)),
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{}[1500ms])))"
        );
    }

    #[test]
    fn unknown_or_missing_placeholders_are_refused() {
        let e = PromTemplate::new("q", "rate(x[$windw])", &[]).expect_err("typo");
        assert!(e.to_string().contains("$windw"));
        assert!(PromTemplate::new("q", "sum(x)", &["window"]).is_err());
        let t = PromTemplate::new("q", "x{a=\"$$5\"}[$window]", &["window"]).expect("$$");
        assert_eq!(
            t.render(Duration::from_secs(60), &[], None),
            "x{a=\"$5\"}[60s]"
        );
        assert!(LabelMatcher::eq("9job", "x").is_err());
        assert!(LabelMatcher::eq("job}or{", "x").is_err());
    }

    #[test]
    fn templates_deserialize_checked() {
        let q: PromQueries =
            serde_json::from_str(r#"{"requests": "sum(increase(r[$window]))"}"#).expect("partial");
        assert_eq!(q.requests.as_str(), "sum(increase(r[$window]))");
        assert!(serde_json::from_str::<PromQueries>(r#"{"requests": "sum(r)"}"#).is_err());
    }
}
