//! ARM long-running operations: [`LroPoller`] follows `Azure-AsyncOperation` (preferred) or
//! `Location`, waits `Retry-After` between polls, reports progress, surfaces a `Failed` or
//! `Canceled` end with Azure's code and message, stops at an overall deadline, and can be
//! resumed from its status URL by a process that restarted mid-operation.
//!
//! azure_core 1.1 has a generic `Poller` but no ARM logic, and its `PollerOptions::frequency`
//! refuses intervals under one second; this poller is written for ARM's rules directly, over
//! the same pipeline (so polls get the same authentication and retries as every request).
//!
//! The status URL is used exactly as Azure gave it: its query (which often names a different
//! api-version than the request) is never rewritten.

use crate::error::{AzureError, Result};
use crate::http::{Http, parse_retry_after};
use crate::options::PollSettings;
use azure_core::http::{Method, Url};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// Which kind of status URL a poller follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusKind {
    /// The `Azure-AsyncOperation` URL: answers 200 with `{status, percentComplete, error}`.
    AzureAsyncOperation,
    /// The `Location` URL: answers 202 while running and 200/204 when done.
    Location,
}

/// What a tool persists to pick an operation up again after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeToken {
    /// What the operation does, for messages (e.g. `point-in-time restore of x into y`).
    pub operation: String,
    /// The status URL exactly as Azure sent it.
    pub status_url: String,
    /// Which protocol the URL speaks.
    pub kind: StatusKind,
}

impl ResumeToken {
    /// A token for `status_url`, guessing the kind from ARM's path convention
    /// (`/azureAsyncOperation/` versus anything else, which is treated as a `Location` URL).
    pub fn from_status_url(operation: &str, status_url: &str) -> Self {
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
        }
    }
}

/// Where an operation stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperationStatus {
    /// Still running (`InProgress`, `Accepted`, `Running`, or any non-terminal state Azure
    /// names).
    InProgress(String),
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Canceled.
    Canceled,
}

impl OperationStatus {
    fn parse(text: &str) -> Self {
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

/// One observation of an operation, handed to progress callbacks.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationProgress {
    /// The status after this poll.
    pub status: OperationStatus,
    /// `percentComplete` when Azure sent it.
    pub percent_complete: Option<f64>,
    /// Polls made so far by this poller.
    pub polls: u32,
    /// Time since this poller started waiting.
    pub elapsed: Duration,
    /// The wait before the next poll (zero when terminal).
    pub next_poll_in: Duration,
}

/// A successfully finished operation.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletedOperation {
    /// What the operation did.
    pub operation: String,
    /// The status URL it was followed through.
    pub status_url: String,
    /// Polls made.
    pub polls: u32,
    /// Time spent waiting in this process.
    pub elapsed: Duration,
}

#[derive(Deserialize)]
struct StatusBody {
    status: Option<String>,
    #[serde(rename = "percentComplete")]
    percent_complete: Option<f64>,
    error: Option<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: Option<String>,
    message: Option<String>,
}

/// Follows one ARM long-running operation.
#[derive(Debug)]
pub struct LroPoller {
    http: Http,
    token: ResumeToken,
    settings: PollSettings,
    first_wait: Option<Duration>,
    polls: u32,
    started: Option<Instant>,
    finished: Option<OperationStatus>,
}

impl LroPoller {
    pub(crate) fn new(
        http: Http,
        token: ResumeToken,
        settings: PollSettings,
        first_wait: Option<Duration>,
    ) -> Self {
        Self {
            http,
            token,
            settings,
            first_wait,
            polls: 0,
            started: None,
            finished: None,
        }
    }

    /// Builds a poller from the `202` answer of an operation: `Azure-AsyncOperation` when
    /// present, otherwise `Location`.
    pub(crate) fn from_accepted(
        http: Http,
        operation: &str,
        reply: &crate::http::Reply,
        settings: PollSettings,
    ) -> Result<Self> {
        let (url, kind) = if let Some(url) = reply.header("azure-asyncoperation") {
            (url, StatusKind::AzureAsyncOperation)
        } else if let Some(url) = reply.header("location") {
            (url, StatusKind::Location)
        } else {
            return Err(AzureError::response(
                operation,
                "202 Accepted without an Azure-AsyncOperation or Location header",
            ));
        };
        let token = ResumeToken {
            operation: operation.to_owned(),
            status_url: url.to_owned(),
            kind,
        };
        Ok(Self::new(
            http,
            token,
            settings,
            parse_retry_after(&reply.headers),
        ))
    }

    /// The status URL, exactly as Azure sent it.
    pub fn status_url(&self) -> &str {
        &self.token.status_url
    }

    /// What to persist to resume this operation elsewhere.
    pub fn resume_token(&self) -> ResumeToken {
        self.token.clone()
    }

    /// Polls made so far.
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// Makes one status request (no waiting) and returns what it said, plus the wait Azure
    /// asked for before the next poll. Failed and canceled operations become
    /// [`AzureError::OperationFailed`].
    pub async fn poll_once(&mut self) -> Result<(OperationStatus, Option<f64>, Option<Duration>)> {
        if let Some(status) = &self.finished {
            return Ok((status.clone(), Some(100.0), None));
        }
        self.started.get_or_insert_with(Instant::now);
        // The status URL is in every poll error so a person can resume from it.
        let operation = format!("poll {} at {}", self.token.operation, self.token.status_url);
        let url = Url::parse(&self.token.status_url).map_err(|e| {
            AzureError::response(
                &operation,
                format!("status URL {:?} is not a URL: {e}", self.token.status_url),
            )
        })?;
        self.polls += 1;
        let reply = self
            .http
            .send_raw(&operation, Method::Get, url, None)
            .await?;
        let retry_after = parse_retry_after(&reply.headers);
        let (status, percent) = match self.token.kind {
            StatusKind::AzureAsyncOperation => {
                if !(200..300).contains(&reply.status) {
                    return Err(crate::http::service_error(&operation, &reply));
                }
                let body: StatusBody = reply.json(&operation)?;
                let Some(text) = body.status else {
                    return Err(AzureError::response(
                        &operation,
                        "status monitor without a status",
                    ));
                };
                let status = OperationStatus::parse(&text);
                if matches!(status, OperationStatus::Failed | OperationStatus::Canceled) {
                    let (code, message) = body
                        .error
                        .map(|e| (e.code, e.message))
                        .unwrap_or((None, None));
                    self.finished = Some(status.clone());
                    return Err(AzureError::OperationFailed {
                        operation: self.token.operation.clone(),
                        status: text,
                        code: code.unwrap_or_else(|| {
                            if status == OperationStatus::Canceled {
                                "Canceled"
                            } else {
                                "Failed"
                            }
                            .to_owned()
                        }),
                        message: message.unwrap_or_else(|| "(Azure sent no message)".to_owned()),
                        status_url: self.token.status_url.clone(),
                    });
                }
                (status, body.percent_complete)
            }
            StatusKind::Location => match reply.status {
                202 => {
                    // ARM may hand out a new Location to follow; take it verbatim.
                    if let Some(next) = reply.header("location") {
                        self.token.status_url = next.to_owned();
                    }
                    (OperationStatus::InProgress("Accepted".to_owned()), None)
                }
                200 | 201 | 204 => (OperationStatus::Succeeded, Some(100.0)),
                status => {
                    let err = crate::http::service_error(&operation, &reply);
                    // Auth, throttling, missing monitor and server faults are about the poll
                    // itself; any other error status is how a Location monitor reports a
                    // failed operation.
                    if err.is_auth() || err.is_transient() || err.is_not_found() {
                        return Err(err);
                    }
                    self.finished = Some(OperationStatus::Failed);
                    return Err(AzureError::OperationFailed {
                        operation: self.token.operation.clone(),
                        status: format!("HTTP {status}"),
                        code: err.azure_code().unwrap_or("Failed").to_owned(),
                        message: match &err {
                            AzureError::Service { message, .. } => message.clone(),
                            other => other.to_string(),
                        },
                        status_url: self.token.status_url.clone(),
                    });
                }
            },
        };
        if status.is_terminal() {
            self.finished = Some(status.clone());
        }
        Ok((status, percent, retry_after))
    }

    fn interval(&self, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or(self.settings.default_interval)
            .max(self.settings.min_interval)
    }

    /// Polls until the operation ends or the deadline passes.
    pub async fn wait(self) -> Result<CompletedOperation> {
        self.wait_with_progress(|_| {}).await
    }

    /// Like [`Self::wait`], calling `on_progress` after every poll.
    pub async fn wait_with_progress(
        mut self,
        mut on_progress: impl FnMut(&OperationProgress) + Send,
    ) -> Result<CompletedOperation> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let deadline = started + self.settings.timeout;
        if let Some(first) = self.first_wait.take() {
            let wait = self.interval(Some(first));
            self.sleep_until_or_timeout(wait, deadline).await?;
        }
        loop {
            let (status, percent, retry_after) = self.poll_once().await?;
            let next = if status.is_terminal() {
                Duration::ZERO
            } else {
                self.interval(retry_after)
            };
            let progress = OperationProgress {
                status: status.clone(),
                percent_complete: percent,
                polls: self.polls,
                elapsed: started.elapsed(),
                next_poll_in: next,
            };
            tracing::info!(
                operation = %self.token.operation,
                status = ?progress.status,
                percent = ?progress.percent_complete,
                polls = progress.polls,
                "long-running operation progress"
            );
            on_progress(&progress);
            if status == OperationStatus::Succeeded {
                return Ok(CompletedOperation {
                    operation: self.token.operation.clone(),
                    status_url: self.token.status_url.clone(),
                    polls: self.polls,
                    elapsed: started.elapsed(),
                });
            }
            self.sleep_until_or_timeout(next, deadline).await?;
        }
    }

    async fn sleep_until_or_timeout(&self, wait: Duration, deadline: Instant) -> Result<()> {
        let now = Instant::now();
        let wake = now + wait;
        if wait.is_zero() && now <= deadline {
            // tokio's timer has millisecond granularity: even a zero sleep would cost up to a
            // millisecond per poll (measured in benches/azure.rs), so skip it.
            return Ok(());
        }
        if wake > deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(AzureError::Timeout {
                operation: self.token.operation.clone(),
                after: self.settings.timeout,
                status_url: self.token.status_url.clone(),
            });
        }
        tokio::time::sleep_until(wake).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_case_insensitively() {
        assert_eq!(
            OperationStatus::parse("succeeded"),
            OperationStatus::Succeeded
        );
        assert_eq!(
            OperationStatus::parse("Cancelled"),
            OperationStatus::Canceled
        );
        assert_eq!(OperationStatus::parse("FAILED"), OperationStatus::Failed);
        assert!(!OperationStatus::parse("Accepted").is_terminal());
    }

    #[test]
    fn resume_tokens_guess_kind_and_round_trip() {
        let t = ResumeToken::from_status_url(
            "restore",
            "https://management.azure.com/subscriptions/s/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/1?api-version=2025-06-01-preview",
        );
        assert_eq!(t.kind, StatusKind::AzureAsyncOperation);
        let json = serde_json::to_string(&t).unwrap_or_default();
        let back: ResumeToken = serde_json::from_str(&json).unwrap_or_else(|_| t.clone());
        assert_eq!(back, t);
        assert!(json.contains("azure-async-operation"));
        let t = ResumeToken::from_status_url("x", "https://h/operationResults/1?api-version=1");
        assert_eq!(t.kind, StatusKind::Location);
    }
}
