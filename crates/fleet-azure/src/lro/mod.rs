//! ARM long-running operations as azure_core [`Poller`](azure_core::http::Poller)s.
//!
//! azure_core 1.1 has a generic poller driven by a callback but no ARM logic, so the ARM rules
//! live in this crate's callback ([`poller`]): follow `Azure-AsyncOperation` when the first
//! answer has it, else `Location`; wait the server's `Retry-After` (between the poll settings'
//! minimum and maximum, and never past the deadline); check every status URL, the first and
//! any new one, against the client's endpoint before a token is sent to it; report `Failed`
//! and `Canceled` with Azure's code and message; GET the resource at the end. Every status the
//! poller yields is an [`ArmOperation`] carrying the [`ResumeToken`] a restarted process needs.
//!
//! The status URL is used exactly as Azure gave it: its query (which often names a different
//! api-version than the request) is never rewritten.

mod parse;
pub(crate) mod poller;

pub(crate) use parse::{Accepted, StatusReport, parse_accepted, parse_status};
pub(crate) use poller::{Convert, Finish};

use crate::error::{Error, Result};
use crate::http::{ArmRequest, Http, service_error};
use crate::options::{BeginOptions, PollSettings};
use crate::outcome::{Outcome, PlannedRequest};
use azure_core::http::JsonFormat;
use azure_core::http::Poller;
use azure_core::http::poller::{PollerStatus, StatusMonitor};
use poller::{Start, make_poller};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// Which kind of status URL a poller follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusKind {
    /// The `Azure-AsyncOperation` URL: answers 200 with `{status, percentComplete, error}`.
    AzureAsyncOperation,
    /// The `Location` URL: answers 202 while running and 200/204 when done.
    Location,
}

/// What a tool persists to pick an operation up again after a restart (it is in every status
/// the poller yields, and in a [`crate::Error::Timeout`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeToken {
    /// What the operation does, for messages (e.g. `point-in-time restore of x into y`).
    pub operation: String,
    /// The status URL exactly as Azure sent it.
    pub status_url: String,
    /// Which protocol the URL speaks.
    pub kind: StatusKind,
    /// The resource to read once the operation succeeded (absent for deletes).
    pub resource_url: Option<String>,
}

impl ResumeToken {
    /// A token for `status_url`, guessing the kind from ARM's path convention
    /// (`/azureAsyncOperation/` versus anything else, which is treated as a `Location` URL).
    pub fn from_status_url(operation: &str, status_url: &str, resource_url: Option<&str>) -> Self {
        let kind = if status_url
            .to_ascii_lowercase()
            .contains("/azureasyncoperation/")
        {
            StatusKind::AzureAsyncOperation
        } else {
            StatusKind::Location
        };
        Self {
            operation: operation.to_owned(),
            status_url: status_url.to_owned(),
            kind,
            resource_url: resource_url.map(str::to_owned),
        }
    }
}

/// Where an operation stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperationState {
    /// Still running (`InProgress`, `Accepted`, `Running`, or any non-terminal state Azure
    /// names, kept as Azure spelled it).
    InProgress(String),
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Canceled.
    Canceled,
    /// A dry run: nothing was sent.
    DryRun,
}

impl OperationState {
    pub(crate) fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "canceled" | "cancelled" => Self::Canceled,
            _ => Self::InProgress(text.to_owned()),
        }
    }

    /// `true` once the operation can no longer change.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Self::InProgress(_))
    }
}

/// One status of a long-running operation, as the [`azure_core::http::Poller`] yields it
/// (`response.into_model()`); the poller's final value is an [`Outcome`] of `T`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound = "")]
#[non_exhaustive]
pub struct ArmOperation<T> {
    /// What the operation does.
    pub operation: String,
    /// Where it stands.
    pub status: OperationState,
    /// `percentComplete` when Azure sent it.
    pub percent_complete: Option<f64>,
    /// Status polls made so far by this poller.
    pub polls: u32,
    /// What to persist to resume the operation elsewhere (absent for a dry run and for an
    /// operation that finished in its first answer).
    pub resume_token: Option<ResumeToken>,
    /// For a dry run: the request that would have been sent.
    pub planned: Option<PlannedRequest>,
    #[serde(skip)]
    output: PhantomData<fn() -> T>,
}

// By hand, so that no bound on `T` (which is only the result's type) is needed.
impl<T> Clone for ArmOperation<T> {
    fn clone(&self) -> Self {
        Self {
            operation: self.operation.clone(),
            status: self.status.clone(),
            percent_complete: self.percent_complete,
            polls: self.polls,
            resume_token: self.resume_token.clone(),
            planned: self.planned.clone(),
            output: PhantomData,
        }
    }
}

impl<T> PartialEq for ArmOperation<T> {
    fn eq(&self, other: &Self) -> bool {
        self.operation == other.operation
            && self.status == other.status
            && self.percent_complete == other.percent_complete
            && self.polls == other.polls
            && self.resume_token == other.resume_token
            && self.planned == other.planned
    }
}

impl<T> std::fmt::Debug for ArmOperation<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmOperation")
            .field("operation", &self.operation)
            .field("status", &self.status)
            .field("percent_complete", &self.percent_complete)
            .field("polls", &self.polls)
            .field("resume_token", &self.resume_token)
            .field("planned", &self.planned)
            .finish()
    }
}

impl<T> ArmOperation<T> {
    pub(crate) fn new(operation: &str, status: OperationState) -> Self {
        Self {
            operation: operation.to_owned(),
            status,
            percent_complete: None,
            polls: 0,
            resume_token: None,
            planned: None,
            output: PhantomData,
        }
    }
}

impl<T> StatusMonitor for ArmOperation<T>
where
    T: DeserializeOwned + Send + 'static,
{
    type Output = Outcome<T>;
    type Format = JsonFormat;

    fn status(&self) -> PollerStatus {
        match &self.status {
            OperationState::InProgress(_) => PollerStatus::InProgress,
            OperationState::Succeeded => PollerStatus::Succeeded,
            OperationState::Failed => PollerStatus::Failed,
            OperationState::Canceled => PollerStatus::Canceled,
            OperationState::DryRun => PollerStatus::UnknownValue("DryRun".to_owned()),
        }
    }
}

/// Starts an operation: a dry run returns a poller that yields the planned request; otherwise
/// the first request is sent now (so input and conflict errors come back from here, typed) and
/// the poller follows the status URL Azure named. `absent` is the result when Azure answers
/// 204 (or 404 for a delete): there was nothing to act on.
pub(crate) async fn begin<T>(
    http: &Http,
    request: ArmRequest,
    finish: Finish<T>,
    resource_url: Option<String>,
    absent: Option<T>,
    options: BeginOptions<'_>,
    default_polling: &PollSettings,
) -> Result<Poller<ArmOperation<T>>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let settings = options.polling.unwrap_or_else(|| default_polling.clone());
    let context = options.method_options.context;
    let operation = request.operation.clone();
    if options.dry_run {
        tracing::info!(request = %request.target(), "dry run: not sent");
        let planned = request.planned();
        return make_poller(
            http.clone(),
            operation,
            Start::DryRun(planned),
            None,
            finish,
            settings,
            context.into_owned(),
        );
    }
    let reply = http.send(&context, &request).await?;
    let accepted = if reply.status == 404 && absent.is_some() {
        Accepted::NoContent
    } else if !reply.is_success() {
        return Err(service_error(&operation, &reply));
    } else {
        parse_accepted(reply.status, &reply.headers)
            .map_err(|reason| Error::response(&operation, reason))?
    };
    let (start, token, finish) = match accepted {
        Accepted::Monitor {
            status_url,
            kind,
            retry_after,
        } => (
            Start::Accepted {
                first_wait: retry_after,
                status: reply.status,
                headers: reply.headers,
            },
            Some(ResumeToken {
                operation: operation.clone(),
                status_url,
                kind,
                resource_url,
            }),
            finish,
        ),
        Accepted::Done => (
            Start::Completed {
                status: reply.status,
                headers: reply.headers,
            },
            None,
            finish,
        ),
        Accepted::NoContent => {
            let finish = match absent {
                Some(value) => Finish::Value(value),
                None => finish,
            };
            (
                Start::Completed {
                    status: 204,
                    headers: reply.headers,
                },
                None,
                finish,
            )
        }
    };
    tracing::info!(operation = %operation, status_url = ?token.as_ref().map(|t| &t.status_url), "long-running operation started");
    make_poller(
        http.clone(),
        operation,
        start,
        token,
        finish,
        settings,
        context.into_owned(),
    )
}

/// Drives `poller` to its end, calling `on_status` with every status it yields, and returns
/// the operation's result as this crate's types. It stops reading statuses at the first
/// terminal one, as azure_core 1.1's `Poller` requires (awaiting a `Poller` whose stream was
/// read to its end panics).
///
/// # Errors
/// The operation's failure ([`Error::OperationFailed`], [`Error::Timeout`] with a resume
/// token, ...) or a failed poll, mapped by [`Error::from_azure`].
pub async fn follow<T>(
    mut poller: Poller<ArmOperation<T>>,
    mut on_status: impl FnMut(&ArmOperation<T>) + Send,
) -> Result<Outcome<T>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    use futures::TryStreamExt;
    let operation = "follow a long-running operation";
    while let Some(status) = poller
        .try_next()
        .await
        .map_err(|e| Error::from_azure(operation, e))?
    {
        let status = status
            .into_model()
            .map_err(|e| Error::from_azure(operation, e))?;
        on_status(&status);
        if status.status.is_terminal() {
            break;
        }
    }
    poller
        .await
        .and_then(azure_core::http::Response::into_model)
        .map_err(|e| Error::from_azure(operation, e))
}

/// Picks an operation up again from `token` (its status URL must be on the client's endpoint).
pub(crate) fn resume<T>(
    http: &Http,
    token: ResumeToken,
    finish: Finish<T>,
    settings: PollSettings,
    context: azure_core::http::Context<'static>,
) -> Result<Poller<ArmOperation<T>>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    make_poller(
        http.clone(),
        token.operation.clone(),
        Start::Resume,
        Some(token),
        finish,
        settings,
        context,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_case_insensitively() {
        assert_eq!(
            OperationState::parse("succeeded"),
            OperationState::Succeeded
        );
        assert_eq!(OperationState::parse("Cancelled"), OperationState::Canceled);
        assert_eq!(OperationState::parse("FAILED"), OperationState::Failed);
        assert!(!OperationState::parse("Accepted").is_terminal());
    }

    #[test]
    fn resume_tokens_guess_kind_and_round_trip() -> Result<(), serde_json::Error> {
        let t = ResumeToken::from_status_url(
            "restore",
            "https://management.azure.com/subscriptions/s/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/1?api-version=2025-06-01-preview",
            Some("https://management.azure.com/subscriptions/s/x"),
        );
        assert_eq!(t.kind, StatusKind::AzureAsyncOperation);
        let json = serde_json::to_string(&t)?;
        let back: ResumeToken = serde_json::from_str(&json)?;
        assert_eq!(back, t);
        assert!(json.contains("azure-async-operation"));
        let t =
            ResumeToken::from_status_url("x", "https://h/operationResults/1?api-version=1", None);
        assert_eq!(t.kind, StatusKind::Location);
        Ok(())
    }

    #[test]
    fn statuses_round_trip_through_json() -> Result<(), serde_json::Error> {
        let mut s: ArmOperation<u32> =
            ArmOperation::new("op", OperationState::InProgress("Accepted".into()));
        s.percent_complete = Some(40.0);
        let back: ArmOperation<u32> = serde_json::from_slice(&serde_json::to_vec(&s)?)?;
        assert_eq!(back, s);
        assert_eq!(back.status(), PollerStatus::InProgress);
        Ok(())
    }
}
