//! The callback behind every [`Poller`] this crate returns.
//!
//! azure_core's poller calls the callback for the first status ([`PollerState::Initial`]) and
//! again after each `InProgress` ([`PollerState::More`]); it sleeps the `retry_after` the
//! callback returns between the two. This callback does its own waiting instead (before each
//! poll, capped by the poll settings and the deadline, with `checked_add`), and always hands
//! azure_core a zero wait, so a status reaches the caller as soon as it is read, and so that
//! the first status (with the resume token) arrives at once. A status followed by a zero wait
//! is not handed over at all: the callback polls again at once (azure_core's zero sleep still
//! costs up to a millisecond of timer granularity) and the skipped status is a tracing event.

use super::{
    ArmOperation, OperationState, ResumeToken, StatusReport, parse::StatusProblem, parse_status,
};
use crate::error::{Error, OperationEnd, Result};
use crate::http::{ArmRequest, Http, Reply, deadline_after, same_origin, service_error};
use crate::options::PollSettings;
use crate::outcome::{Outcome, PlannedRequest};
use azure_core::http::headers::Headers;
use azure_core::http::poller::{
    Poller, PollerContinuation, PollerOptions, PollerResult, PollerState,
};
use azure_core::http::{Context, JsonFormat, Method, RawResponse, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

/// Reads a resource's ARM JSON into the operation's result.
pub(crate) type Convert<T> = fn(&str, &[u8]) -> Result<T>;

/// How the poller begins.
pub(crate) enum Start {
    /// The operation was accepted; its first answer had this status and headers.
    Accepted {
        first_wait: Option<Duration>,
        status: u16,
        headers: Headers,
    },
    /// The first answer already finished it.
    Completed { status: u16, headers: Headers },
    /// Picked up from a resume token: poll at once.
    Resume,
    /// A dry run: yield the planned request and finish.
    DryRun(PlannedRequest),
}

/// What the poller's final value is made of.
pub(crate) enum Finish<T> {
    /// GET this resource and convert it.
    Read {
        request: Box<ArmRequest>,
        convert: Convert<T>,
    },
    /// A value known without a request (deletes).
    Value(T),
}

struct State {
    start: Option<Start>,
    token: Option<ResumeToken>,
    status_url: Option<Url>,
    polls: u32,
    pending_wait: Duration,
}

struct Driver<T> {
    http: Http,
    operation: String,
    settings: PollSettings,
    deadline: Instant,
    finish: Mutex<Option<Finish<T>>>,
    state: Mutex<State>,
}

type Step<T> = Result<PollerResult<ArmOperation<T>>>;

/// The poller for one operation. `token` is `None` only for a dry run or an operation that
/// finished in its first answer; its status URL must already have passed [`same_origin`].
pub(crate) fn make_poller<T>(
    http: Http,
    operation: String,
    start: Start,
    token: Option<ResumeToken>,
    finish: Finish<T>,
    settings: PollSettings,
    context: Context<'static>,
) -> Result<Poller<ArmOperation<T>>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let status_url = match &token {
        Some(t) => Some(same_origin(&operation, &http.endpoint, &t.status_url)?),
        None => None,
    };
    let driver = Arc::new(Driver {
        deadline: deadline_after(settings.timeout),
        http,
        operation,
        settings,
        finish: Mutex::new(Some(finish)),
        state: Mutex::new(State {
            start: Some(start),
            token,
            status_url,
            polls: 0,
            pending_wait: Duration::ZERO,
        }),
    });
    let span = tracing::Span::current();
    let options = PollerOptions {
        context,
        frequency: azure_core::time::Duration::seconds(1),
    };
    Ok(Poller::new(
        move |state, options: PollerOptions<'static>| {
            let driver = Arc::clone(&driver);
            let future = async move {
                driver
                    .step(state, options.context)
                    .await
                    .map_err(Error::into_azure)
            };
            Box::pin(future.instrument(span.clone()))
        },
        Some(options),
    ))
}

impl<T> Driver<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn step(self: Arc<Self>, state: PollerState, ctx: Context<'static>) -> Step<T> {
        let start = match state {
            PollerState::Initial => self.lock().start.take(),
            PollerState::More(_) => None,
        };
        match start {
            Some(Start::DryRun(planned)) => return self.dry_run(planned),
            Some(Start::Completed { status, headers }) => {
                return self.succeeded(status, headers, Some(100.0), ctx);
            }
            Some(Start::Accepted {
                first_wait,
                status,
                headers,
            }) => {
                let wait = self.interval(first_wait);
                if !wait.is_zero() {
                    self.lock().pending_wait = wait;
                    return self.in_progress(
                        status,
                        headers,
                        OperationState::InProgress("Accepted".to_owned()),
                        None,
                    );
                }
            }
            Some(Start::Resume) | None => {}
        }
        self.poll_loop(ctx).await
    }

    /// The wait before the next poll: the server's hint or the default, kept between the
    /// settings' minimum and maximum.
    fn interval(&self, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or(self.settings.default_interval)
            .max(self.settings.min_interval)
            .min(self.settings.max_interval)
    }

    fn timeout(&self) -> Error {
        Error::Timeout {
            operation: self.operation.clone(),
            after: self.settings.timeout,
            resume_token: self.lock().token.clone().map(Box::new),
        }
    }

    async fn poll_loop(&self, ctx: Context<'static>) -> Step<T> {
        loop {
            let (wait, url, kind) = {
                let mut s = self.lock();
                let wait = std::mem::take(&mut s.pending_wait);
                let url = s.status_url.clone();
                let kind = s.token.as_ref().map(|t| t.kind);
                (wait, url, kind)
            };
            let (Some(url), Some(kind)) = (url, kind) else {
                return Err(Error::response(&self.operation, "no status URL to follow"));
            };
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timeout());
            }
            let sleep_for = wait.min(remaining);
            if !sleep_for.is_zero() {
                tokio::time::sleep(sleep_for).await;
            }
            let poll_operation = format!("poll {} at {}", self.operation, url.path());
            let request = ArmRequest::new(poll_operation.clone(), Method::Get, url.clone());
            let reply = self.http.send(&ctx, &request).await?;
            let polls = {
                let mut s = self.lock();
                s.polls = s.polls.saturating_add(1);
                s.polls
            };
            let report = match parse_status(kind, reply.status, &reply.headers, &reply.body) {
                Ok(report) => report,
                Err(StatusProblem::PollFailed) => {
                    return Err(service_error(&poll_operation, &reply));
                }
                Err(StatusProblem::Unreadable(reason)) => {
                    return Err(Error::response(&poll_operation, reason));
                }
                Err(StatusProblem::OperationFailed) => {
                    return Err(self.location_failure(&reply, &url));
                }
            };
            if let Some(next) = &report.next_url
                && next != url.as_str()
            {
                // A new status URL gets the same check as the first before a token goes to it.
                let checked = same_origin(&poll_operation, &self.http.endpoint, next)?;
                let mut s = self.lock();
                if let Some(t) = s.token.as_mut() {
                    t.status_url = next.clone();
                }
                s.status_url = Some(checked);
            }
            tracing::info!(
                operation = %self.operation,
                status = ?report.state,
                percent = ?report.percent_complete,
                polls,
                "long-running operation progress"
            );
            match report.state {
                OperationState::Succeeded => {
                    return self.succeeded(
                        reply.status,
                        reply.headers,
                        report.percent_complete,
                        ctx,
                    );
                }
                OperationState::Failed | OperationState::Canceled => {
                    return Err(self.failure(&report, &url));
                }
                OperationState::InProgress(_) | OperationState::DryRun => {
                    if Instant::now() >= self.deadline {
                        return Err(self.timeout());
                    }
                    let wait = self.interval(report.retry_after);
                    if wait.is_zero() {
                        continue;
                    }
                    self.lock().pending_wait = wait;
                    return self.in_progress(
                        reply.status,
                        reply.headers,
                        report.state,
                        report.percent_complete,
                    );
                }
            }
        }
    }

    fn failure(&self, report: &StatusReport, url: &Url) -> Error {
        let (code, message) = report.error.clone().unwrap_or((None, None));
        let status = match report.state {
            OperationState::Canceled => OperationEnd::Canceled,
            _ => OperationEnd::Failed,
        };
        Error::OperationFailed {
            operation: self.operation.clone(),
            status,
            code: code.unwrap_or_else(|| status.to_string()),
            message: message.unwrap_or_else(|| "(Azure sent no message)".to_owned()),
            status_url: url.to_string(),
        }
    }

    fn location_failure(&self, reply: &Reply, url: &Url) -> Error {
        let err = service_error(&self.operation, reply);
        let message = match &err {
            Error::Service { message, .. } => message.clone(),
            other => other.to_string(),
        };
        Error::OperationFailed {
            operation: self.operation.clone(),
            status: OperationEnd::HttpStatus(reply.status),
            code: err.azure_code().unwrap_or("Failed").to_owned(),
            message,
            status_url: url.to_string(),
        }
    }

    fn status(&self, state: OperationState, percent: Option<f64>) -> ArmOperation<T> {
        let s = self.lock();
        let mut status = ArmOperation::new(&self.operation, state);
        status.percent_complete = percent;
        status.polls = s.polls;
        status.resume_token = s.token.clone();
        status
    }

    fn in_progress(
        &self,
        code: u16,
        headers: Headers,
        state: OperationState,
        percent: Option<f64>,
    ) -> Step<T> {
        let status = self.status(state, percent);
        let (next_link, final_link) = {
            let s = self.lock();
            let final_link = s
                .token
                .as_ref()
                .and_then(|t| t.resource_url.as_deref())
                .and_then(|u| Url::parse(u).ok());
            (s.status_url.clone(), final_link)
        };
        let next_link =
            next_link.ok_or_else(|| Error::response(&self.operation, "no status URL to follow"))?;
        Ok(PollerResult::InProgress {
            response: respond(&self.operation, code, headers, &status)?,
            retry_after: azure_core::time::Duration::ZERO,
            continuation: PollerContinuation::Links {
                next_link,
                final_link,
            },
        })
    }

    fn succeeded(
        &self,
        code: u16,
        headers: Headers,
        percent: Option<f64>,
        ctx: Context<'static>,
    ) -> Step<T> {
        let status = self.status(OperationState::Succeeded, percent.or(Some(100.0)));
        let response = respond(&self.operation, code, headers, &status)?;
        let finish = self
            .finish
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let http = self.http.clone();
        let operation = self.operation.clone();
        let target = async move {
            let outcome = match finish {
                Some(Finish::Value(value)) => (Outcome::Applied(value), Headers::new()),
                Some(Finish::Read { request, convert }) => {
                    let reply = http
                        .send_ok(&ctx, &request)
                        .await
                        .map_err(Error::into_azure)?;
                    let value =
                        convert(&request.operation, &reply.body).map_err(Error::into_azure)?;
                    (Outcome::Applied(value), reply.headers)
                }
                None => {
                    return Err(Error::response(
                        &operation,
                        "the operation's result was already taken",
                    )
                    .into_azure());
                }
            };
            outcome_response(&operation, outcome.0, outcome.1)
        };
        Ok(PollerResult::Succeeded {
            response,
            target: boxed_target(target),
        })
    }

    fn dry_run(&self, planned: PlannedRequest) -> Step<T> {
        let mut status = ArmOperation::new(&self.operation, OperationState::DryRun);
        status.planned = Some(planned.clone());
        let response = respond(&self.operation, 200, Headers::new(), &status)?;
        let operation = self.operation.clone();
        let target = async move {
            outcome_response::<T>(&operation, Outcome::DryRun(planned), Headers::new())
        };
        Ok(PollerResult::Succeeded {
            response,
            target: boxed_target(target),
        })
    }
}

type TargetFuture<T> =
    Pin<Box<dyn Future<Output = azure_core::Result<Response<Outcome<T>, JsonFormat>>> + Send>>;

fn boxed_target<T, F>(future: F) -> Box<dyn FnOnce() -> TargetFuture<T> + Send>
where
    F: Future<Output = azure_core::Result<Response<Outcome<T>, JsonFormat>>> + Send + 'static,
{
    Box::new(move || Box::pin(future) as TargetFuture<T>)
}

/// A status as the response azure_core's poller hands on: the real status code and headers,
/// with the normalised [`ArmOperation`] as the body (a `Location` monitor has none of its own).
fn respond<T>(
    operation: &str,
    code: u16,
    headers: Headers,
    status: &ArmOperation<T>,
) -> Result<Response<ArmOperation<T>, JsonFormat>> {
    let body = serde_json::to_vec(status)
        .map_err(|e| Error::response(operation, format!("encoding a status: {e}")))?;
    // azure_core's poller accepts only these codes on a status.
    let code = if matches!(code, 200 | 201 | 202 | 204) {
        code
    } else {
        200
    };
    Ok(RawResponse::from_bytes(StatusCode::from(code), headers, body).into())
}

fn outcome_response<T: Serialize>(
    operation: &str,
    outcome: Outcome<T>,
    headers: Headers,
) -> azure_core::Result<Response<Outcome<T>, JsonFormat>> {
    let body = serde_json::to_vec(&outcome).map_err(|e| {
        Error::response(operation, format!("encoding the result: {e}")).into_azure()
    })?;
    Ok(RawResponse::from_bytes(StatusCode::Ok, headers, body).into())
}
