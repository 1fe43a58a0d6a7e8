//! What a mutating call returns: [`Outcome::Applied`] with the resource as Azure reports it
//! afterwards, or [`Outcome::DryRun`] with the exact request that would have been sent
//! ([`PlannedRequest`], secrets redacted).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The result of a mutating call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T> {
    /// The change was made; the value is the resource afterwards.
    Applied(T),
    /// Nothing was sent: the input passed every check and this is the request a real call
    /// would send.
    DryRun(PlannedRequest),
}

impl<T> Outcome<T> {
    /// The resource, when the change was made.
    pub fn applied(self) -> Option<T> {
        match self {
            Self::Applied(t) => Some(t),
            Self::DryRun(_) => None,
        }
    }

    /// The planned request, for a dry run.
    pub fn planned(&self) -> Option<&PlannedRequest> {
        match self {
            Self::Applied(_) => None,
            Self::DryRun(p) => Some(p),
        }
    }

    /// `true` for a dry run (nothing was changed).
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Self::DryRun(_))
    }

    /// Maps the applied value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Self::Applied(t) => Outcome::Applied(f(t)),
            Self::DryRun(p) => Outcome::DryRun(p),
        }
    }
}

impl<T: fmt::Display> fmt::Display for Outcome<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Applied(t) => write!(f, "{t}"),
            Self::DryRun(p) => write!(f, "dry run, nothing sent:\n{p}"),
        }
    }
}

/// The exact request a mutating call sends: method, URL (with its query), the headers this
/// crate sets (not the pipeline's `Authorization`, `User-Agent` or request id), and the JSON
/// body with secret values replaced by `"<redacted>"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Full URL, including `api-version`.
    pub url: String,
    /// Headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// The body, when there is one.
    pub body: Option<serde_json::Value>,
}

/// The text that replaces every secret value in a [`PlannedRequest`].
pub const REDACTED: &str = "<redacted>";

impl fmt::Display for PlannedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        for (name, value) in &self.headers {
            write!(f, "\n{name}: {value}")?;
        }
        if let Some(body) = &self.body {
            write!(f, "\n\n{body}")?;
        }
        Ok(())
    }
}

/// What a delete did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deletion {
    /// The resource existed and is gone.
    Deleted,
    /// There was nothing to delete (Azure answered 204 or 404).
    AlreadyAbsent,
}

impl fmt::Display for Deletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deleted => "deleted",
            Self::AlreadyAbsent => "already absent",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_and_say_what_they_are() -> Result<(), serde_json::Error> {
        let planned = PlannedRequest {
            method: "PUT".into(),
            url: "https://management.azure.com/x?api-version=1".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(serde_json::json!({"properties": {"password": REDACTED}})),
        };
        let o: Outcome<u32> = Outcome::DryRun(planned.clone());
        assert!(o.is_dry_run());
        let text = serde_json::to_string(&o)?;
        assert_eq!(serde_json::from_str::<Outcome<u32>>(&text)?, o);
        assert_eq!(o.planned(), Some(&planned));
        assert_eq!(Outcome::Applied(3).map(|x| x + 1).applied(), Some(4));
        assert!(planned.to_string().starts_with("PUT https://"));
        Ok(())
    }
}
