//! Label and field selectors, parsed and checked before they are sent, and written back in
//! the server's syntax with field values escaped.
//!
//! Label selectors follow the API server's grammar: requirements separated by commas, each
//! `key`, `!key`, `key=value` (or `==`), `key!=value`, `key in (a,b)`, `key notin (a,b)`,
//! `key>N` or `key<N`; keys are an optional DNS subdomain prefix and `/` plus a name of at
//! most 63 characters, values at most 63 characters of `[A-Za-z0-9._-]`. Field selectors are
//! `field=value`, `field==value` or `field!=value` terms separated by commas; in values a
//! backslash escapes `\`, `,` and `=`, as the server's `fields.EscapeValue` does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// One requirement of a [`LabelSelector`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LabelRequirement {
    /// `key=value`.
    Equals {
        /// Label key.
        key: String,
        /// Value.
        value: String,
    },
    /// `key!=value` (also true when the label is absent).
    NotEquals {
        /// Label key.
        key: String,
        /// Value.
        value: String,
    },
    /// `key in (a,b)`.
    In {
        /// Label key.
        key: String,
        /// Accepted values (at least one).
        values: BTreeSet<String>,
    },
    /// `key notin (a,b)` (also true when the label is absent).
    NotIn {
        /// Label key.
        key: String,
        /// Rejected values (at least one).
        values: BTreeSet<String>,
    },
    /// `key`: the label is present.
    Exists {
        /// Label key.
        key: String,
    },
    /// `!key`: the label is absent.
    DoesNotExist {
        /// Label key.
        key: String,
    },
    /// `key>N`: the label is an integer greater than N.
    GreaterThan {
        /// Label key.
        key: String,
        /// Bound.
        value: i64,
    },
    /// `key<N`: the label is an integer less than N.
    LessThan {
        /// Label key.
        key: String,
        /// Bound.
        value: i64,
    },
}

impl LabelRequirement {
    /// Whether a set of labels meets the requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelRequirement::Equals { key, value } => labels.get(key) == Some(value),
            LabelRequirement::NotEquals { key, value } => labels.get(key) != Some(value),
            LabelRequirement::In { key, values } => {
                labels.get(key).is_some_and(|v| values.contains(v))
            }
            LabelRequirement::NotIn { key, values } => {
                labels.get(key).is_none_or(|v| !values.contains(v))
            }
            LabelRequirement::Exists { key } => labels.contains_key(key),
            LabelRequirement::DoesNotExist { key } => !labels.contains_key(key),
            LabelRequirement::GreaterThan { key, value } => labels
                .get(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *value),
            LabelRequirement::LessThan { key, value } => labels
                .get(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *value),
        }
    }
}

impl fmt::Display for LabelRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |values: &BTreeSet<String>| values.iter().cloned().collect::<Vec<_>>().join(",");
        match self {
            LabelRequirement::Equals { key, value } => write!(f, "{key}={value}"),
            LabelRequirement::NotEquals { key, value } => write!(f, "{key}!={value}"),
            LabelRequirement::In { key, values } => write!(f, "{key} in ({})", set(values)),
            LabelRequirement::NotIn { key, values } => write!(f, "{key} notin ({})", set(values)),
            LabelRequirement::Exists { key } => write!(f, "{key}"),
            LabelRequirement::DoesNotExist { key } => write!(f, "!{key}"),
            LabelRequirement::GreaterThan { key, value } => write!(f, "{key}>{value}"),
            LabelRequirement::LessThan { key, value } => write!(f, "{key}<{value}"),
        }
    }
}

/// A checked label selector (`app=fleet-api`, `tier in (web,api),!canary`).
///
/// ```
/// use fleet_k8s::LabelSelector;
///
/// let s = LabelSelector::parse("app = fleet-api, tier in (web, api)")?;
/// assert_eq!(s.to_string(), "app=fleet-api,tier in (api,web)");
/// assert!(LabelSelector::parse("app=fleet api").is_err());
/// # Ok::<(), fleet_k8s::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

const LABEL: &str = "label selector";

impl LabelSelector {
    /// The selector that selects everything (the empty string).
    pub fn everything() -> Self {
        Self::default()
    }

    /// `key=value`, checked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the key or the value is not a valid label key or value.
    pub fn equals(key: &str, value: &str) -> Result<Self> {
        Self::parse(&format!("{key}={value}")).and_then(|s| {
            // A value with a comma or an operator would have parsed as something else.
            match s.requirements.as_slice() {
                [LabelRequirement::Equals { key: k, value: v }] if k == key && v == value => Ok(s),
                _ => Err(Error::invalid(
                    LABEL,
                    format!("{key}={value}"),
                    "is not one key=value requirement",
                )),
            }
        })
    }

    /// Parses the server's syntax.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the requirement that does not parse.
    pub fn parse(s: &str) -> Result<Self> {
        let mut requirements = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { requirements });
        }
        for part in split_top_level(s)? {
            requirements.push(parse_requirement(s, part.trim())?);
        }
        Ok(Self { requirements })
    }

    /// The requirements, in the order given.
    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }

    /// Adds a requirement.
    #[must_use]
    pub fn with_requirement(mut self, r: LabelRequirement) -> Self {
        self.requirements.push(r);
        self
    }

    /// Whether it selects everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a set of labels meets every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>> {
    let mut parts = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => {
                if depth > 0 {
                    return Err(Error::invalid(LABEL, s, "nested parentheses"));
                }
                depth += 1;
            }
            ')' => {
                if depth == 0 {
                    return Err(Error::invalid(LABEL, s, "unbalanced ')'"));
                }
                depth -= 1;
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(Error::invalid(LABEL, s, "unbalanced '('"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/')
}

fn parse_requirement(whole: &str, part: &str) -> Result<LabelRequirement> {
    let bad = |why: String| Error::invalid(LABEL, whole, why);
    if part.is_empty() {
        return Err(bad("has an empty requirement".into()));
    }
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(whole, key)?;
        return Ok(LabelRequirement::DoesNotExist { key: key.into() });
    }
    let key_end = part.find(|c: char| !is_key_char(c)).unwrap_or(part.len());
    let (key, rest) = part.split_at(key_end);
    check_key(whole, key)?;
    let key = key.to_string();
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Ok(LabelRequirement::Exists { key });
    }
    let value_of = |v: &str| -> Result<String> {
        let v = v.trim();
        check_value(whole, v)?;
        Ok(v.to_string())
    };
    let int_of = |v: &str| -> Result<i64> {
        v.trim().parse::<i64>().map_err(|_| {
            bad(format!(
                "{key}: '>' and '<' need an integer, not {:?}",
                v.trim()
            ))
        })
    };
    if let Some(v) = rest.strip_prefix("==") {
        return Ok(LabelRequirement::Equals {
            value: value_of(v)?,
            key,
        });
    }
    if let Some(v) = rest.strip_prefix("!=") {
        return Ok(LabelRequirement::NotEquals {
            value: value_of(v)?,
            key,
        });
    }
    if let Some(v) = rest.strip_prefix('=') {
        return Ok(LabelRequirement::Equals {
            value: value_of(v)?,
            key,
        });
    }
    if let Some(v) = rest.strip_prefix('>') {
        return Ok(LabelRequirement::GreaterThan {
            value: int_of(v)?,
            key,
        });
    }
    if let Some(v) = rest.strip_prefix('<') {
        return Ok(LabelRequirement::LessThan {
            value: int_of(v)?,
            key,
        });
    }
    let (negated, list) = if let Some(l) = rest.strip_prefix("notin") {
        (true, l)
    } else if let Some(l) = rest.strip_prefix("in") {
        (false, l)
    } else {
        return Err(bad(format!("{key}: expected an operator, found {rest:?}")));
    };
    let list = list.trim();
    let inner = list
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(|| bad(format!("{key}: a set of values must be in parentheses")))?;
    if inner.trim().is_empty() {
        return Err(bad(format!("{key}: a set of values must not be empty")));
    }
    let mut values = BTreeSet::new();
    for v in inner.split(',') {
        let v = value_of(v)?;
        if v.is_empty() {
            return Err(bad(format!("{key}: values in a set must not be empty")));
        }
        values.insert(v);
    }
    Ok(if negated {
        LabelRequirement::NotIn { key, values }
    } else {
        LabelRequirement::In { key, values }
    })
}

/// A label name or value body: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn name_ok(s: &str) -> bool {
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn check_key(whole: &str, key: &str) -> Result<()> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && crate::validate::object_name("label key prefix", p).is_err()
    {
        return Err(Error::invalid(
            LABEL,
            whole,
            format!(
                "key {key:?}: the prefix must be a DNS subdomain (lower-case, at most 253 characters)"
            ),
        ));
    }
    if !name_ok(name) {
        return Err(Error::invalid(
            LABEL,
            whole,
            format!(
                "key {key:?}: the name must be 1-63 of [A-Za-z0-9._-], alphanumeric at both ends"
            ),
        ));
    }
    Ok(())
}

fn check_value(whole: &str, value: &str) -> Result<()> {
    if value.is_empty() || name_ok(value) {
        Ok(())
    } else {
        Err(Error::invalid(
            LABEL,
            whole,
            format!("value {value:?}: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends"),
        ))
    }
}

/// How a [`FieldTerm`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldOp {
    /// `=` (also written `==`).
    Equals,
    /// `!=`.
    NotEquals,
}

/// One term of a [`FieldSelector`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FieldTerm {
    /// Field path (`involvedObject.name`, `type`, `metadata.name`).
    pub field: String,
    /// Comparison.
    pub op: FieldOp,
    /// Value, unescaped.
    pub value: String,
}

/// A field selector (`type=Warning,involvedObject.kind=Pod`); values are escaped when written.
///
/// ```
/// use fleet_k8s::FieldSelector;
///
/// let s = FieldSelector::default().with_equals("involvedObject.name", "a,b=c");
/// assert_eq!(s.to_string(), r"involvedObject.name=a\,b\=c");
/// assert_eq!(FieldSelector::parse(&s.to_string())?, s);
/// # Ok::<(), fleet_k8s::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

const FIELD: &str = "field selector";

impl FieldSelector {
    /// Adds `field=value`. `field` is a path the caller's code names (letters, digits, `.`,
    /// `-`, `_`); the value may hold anything and is escaped when written.
    #[must_use]
    pub fn with_equals(mut self, field: &'static str, value: impl Into<String>) -> Self {
        self.terms.push(FieldTerm {
            field: field.into(),
            op: FieldOp::Equals,
            value: value.into(),
        });
        self
    }

    /// Adds `field!=value` (see [`FieldSelector::with_equals`]).
    #[must_use]
    pub fn with_not_equals(mut self, field: &'static str, value: impl Into<String>) -> Self {
        self.terms.push(FieldTerm {
            field: field.into(),
            op: FieldOp::NotEquals,
            value: value.into(),
        });
        self
    }

    /// Parses the server's syntax, unescaping values.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a term without an operator, a malformed field path, an
    /// unknown escape or an unescaped `=` in a value.
    pub fn parse(s: &str) -> Result<Self> {
        let mut terms = Vec::new();
        if s.is_empty() {
            return Ok(Self { terms });
        }
        for term in split_unescaped_commas(s) {
            terms.push(parse_term(s, term)?);
        }
        Ok(Self { terms })
    }

    /// The terms, in the order given.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// Whether it selects everything.
    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match t.op {
                FieldOp::Equals => "=",
                FieldOp::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", t.field, escape_field_value(&t.value))?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Escapes a field selector value: `\` `,` and `=` get a backslash.
pub(crate) fn escape_field_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn split_unescaped_commas(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_term(whole: &str, term: &str) -> Result<FieldTerm> {
    let bad = |why: String| Error::invalid(FIELD, whole, why);
    let field_end = term
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(term.len());
    let (field, rest) = term.split_at(field_end);
    if field.is_empty() {
        return Err(bad(format!("term {term:?} has no field path")));
    }
    let (op, raw) = if let Some(v) = rest.strip_prefix("!=") {
        (FieldOp::NotEquals, v)
    } else if let Some(v) = rest.strip_prefix("==") {
        (FieldOp::Equals, v)
    } else if let Some(v) = rest.strip_prefix('=') {
        (FieldOp::Equals, v)
    } else {
        return Err(bad(format!(
            "term {term:?} needs '=', '==' or '!=' after the field"
        )));
    };
    let mut value = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => value.push(e),
                Some(e) => return Err(bad(format!("term {term:?}: unknown escape \\{e}"))),
                None => return Err(bad(format!("term {term:?} ends with a lone backslash"))),
            },
            '=' => {
                return Err(bad(format!(
                    "term {term:?}: '=' in a value must be escaped"
                )));
            }
            c => value.push(c),
        }
    }
    Ok(FieldTerm {
        field: field.into(),
        op,
        value,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn label_selectors_parse_and_print() {
        for (input, printed) in [
            ("", ""),
            ("app=fleet-api", "app=fleet-api"),
            (" app == fleet-api ", "app=fleet-api"),
            ("app!=x,tier", "app!=x,tier"),
            ("!canary", "!canary"),
            (
                "tier in (web, api), env notin (dev)",
                "tier in (api,web),env notin (dev)",
            ),
            (
                "app.kubernetes.io/name=fleet",
                "app.kubernetes.io/name=fleet",
            ),
            ("gen>3,gen<10", "gen>3,gen<10"),
            ("x=", "x="),
        ] {
            let s = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(s.to_string(), printed, "{input}");
        }
        for bad in [
            "app=fleet api",
            "app=a,",
            ",",
            "=x",
            "app in ()",
            "app in (a",
            "app in a",
            "app)",
            "App/x=1",
            "a=-x",
            "a>b",
            "a~b",
            &format!("a={}", "x".repeat(64)),
            "a in ((b))",
            "a in (b,)",
        ] {
            let e = LabelSelector::parse(bad).err();
            assert!(
                e.as_ref().is_some_and(Error::is_invalid_input),
                "{bad}: {e:?}"
            );
        }
        assert!(LabelSelector::equals("app", "a,b").is_err());
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "fleet-api".to_string()),
            ("gen".into(), "4".into()),
        ]
        .into();
        for (sel, want) in [
            ("app=fleet-api", true),
            ("app!=fleet-api", false),
            ("app in (x,fleet-api)", true),
            ("app notin (fleet-api)", false),
            ("!app", false),
            ("canary", false),
            ("gen>3,gen<5", true),
            ("", true),
        ] {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&labels), want, "{sel}");
        }
    }

    #[test]
    fn field_values_are_escaped_and_unescaped() {
        let s = FieldSelector::default()
            .with_equals("involvedObject.name", r"a\b,c=d")
            .with_not_equals("type", "Normal");
        assert_eq!(
            s.to_string(),
            r"involvedObject.name=a\\b\,c\=d,type!=Normal"
        );
        assert_eq!(FieldSelector::parse(&s.to_string()).ok(), Some(s));
        for bad in ["x", "=x", r"a=b\q", r"a=b\", "a=b=c", "a b=c"] {
            let e = FieldSelector::parse(bad).err();
            assert!(
                e.as_ref().is_some_and(Error::is_invalid_input),
                "{bad}: {e:?}"
            );
        }
    }

    fn key() -> impl Strategy<Value = String> {
        (
            proptest::option::of("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]{1,5}){0,2}"),
            "[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?",
        )
            .prop_map(|(p, n)| match p {
                Some(p) => format!("{p}/{n}"),
                None => n,
            })
    }

    fn value() -> impl Strategy<Value = String> {
        "([A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?)?"
    }

    fn requirement() -> impl Strategy<Value = LabelRequirement> {
        let set = || {
            proptest::collection::btree_set(
                value().prop_filter("non-empty", |v| !v.is_empty()),
                1..4,
            )
        };
        prop_oneof![
            (key(), value()).prop_map(|(key, value)| LabelRequirement::Equals { key, value }),
            (key(), value()).prop_map(|(key, value)| LabelRequirement::NotEquals { key, value }),
            (key(), set()).prop_map(|(key, values)| LabelRequirement::In { key, values }),
            (key(), set()).prop_map(|(key, values)| LabelRequirement::NotIn { key, values }),
            key().prop_map(|key| LabelRequirement::Exists { key }),
            key().prop_map(|key| LabelRequirement::DoesNotExist { key }),
            (key(), any::<i64>())
                .prop_map(|(key, value)| LabelRequirement::GreaterThan { key, value }),
            (key(), any::<i64>())
                .prop_map(|(key, value)| LabelRequirement::LessThan { key, value }),
        ]
    }

    proptest! {
        /// No input makes either parser panic.
        #[test]
        fn parsers_never_panic(s in "\\PC{0,60}") {
            let _ = LabelSelector::parse(&s);
            let _ = FieldSelector::parse(&s);
        }

        /// Near-misses built from the grammar's own pieces.
        #[test]
        fn parsers_never_panic_on_selector_shapes(s in "[a-z!=,() <>\\\\/.-]{0,40}") {
            let _ = LabelSelector::parse(&s);
            let _ = FieldSelector::parse(&s);
        }

        /// Whatever parses prints to something that parses to the same selector.
        #[test]
        fn parsed_selectors_round_trip(s in "\\PC{0,60}") {
            if let Ok(sel) = LabelSelector::parse(&s) {
                prop_assert_eq!(LabelSelector::parse(&sel.to_string()).ok(), Some(sel));
            }
            if let Ok(sel) = FieldSelector::parse(&s) {
                prop_assert_eq!(FieldSelector::parse(&sel.to_string()).ok(), Some(sel));
            }
        }

        /// Built selectors print and parse back unchanged.
        #[test]
        fn built_label_selectors_round_trip(reqs in proptest::collection::vec(requirement(), 0..5)) {
            let sel = reqs.into_iter().fold(LabelSelector::everything(), LabelSelector::with_requirement);
            prop_assert_eq!(LabelSelector::parse(&sel.to_string()).ok(), Some(sel));
        }

        /// Any value survives escaping.
        #[test]
        fn field_values_round_trip(v in "\\PC{0,40}", w in "[,=\\\\a]{0,10}") {
            let sel = FieldSelector::default().with_equals("metadata.name", v).with_not_equals("type", w);
            prop_assert_eq!(FieldSelector::parse(&sel.to_string()).ok(), Some(sel));
        }
    }
}
