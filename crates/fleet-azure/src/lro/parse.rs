//! Pure parsing of ARM long-running-operation answers: which status URL the first answer
//! names, and what a status monitor says. No I/O; reached by the fuzz entry points.

use super::{OperationState, StatusKind};
use crate::http::{AZURE_ASYNC_OPERATION, LOCATION, retry_after};
use azure_core::http::headers::Headers;
use serde::Deserialize;
use std::time::Duration;

/// What the first answer of a long-running operation says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Running: follow `status_url`, first waiting `retry_after` when given.
    Monitor {
        status_url: String,
        kind: StatusKind,
        retry_after: Option<Duration>,
    },
    /// Already done (200/201 without a status URL).
    Done,
    /// Nothing existed to act on (204, for deletes).
    NoContent,
}

/// Reads the first answer of an operation (its status must already be 2xx): 201/202 with
/// `Azure-AsyncOperation` (preferred) or `Location`; 200/201 without either is done; 204 means
/// there was nothing to act on.
pub(crate) fn parse_accepted(status: u16, headers: &Headers) -> Result<Accepted, String> {
    let async_url = headers
        .get_optional_str(&AZURE_ASYNC_OPERATION)
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let location = headers
        .get_optional_str(&LOCATION)
        .map(str::trim)
        .filter(|u| !u.is_empty());
    match (status, async_url, location) {
        (204, _, _) => Ok(Accepted::NoContent),
        (200..=202, Some(url), _) => Ok(Accepted::Monitor {
            status_url: url.to_owned(),
            kind: StatusKind::AzureAsyncOperation,
            retry_after: retry_after(headers),
        }),
        (201 | 202, None, Some(url)) => Ok(Accepted::Monitor {
            status_url: url.to_owned(),
            kind: StatusKind::Location,
            retry_after: retry_after(headers),
        }),
        (200 | 201, None, _) => Ok(Accepted::Done),
        (202, None, None) => {
            Err("202 Accepted without an Azure-AsyncOperation or Location header".to_owned())
        }
        (other, _, _) => Err(format!("unexpected status {other} for an operation")),
    }
}

/// What one status poll says.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StatusReport {
    pub(crate) state: OperationState,
    pub(crate) percent_complete: Option<f64>,
    /// Azure's error code and message for a failed or canceled end.
    pub(crate) error: Option<(Option<String>, Option<String>)>,
    pub(crate) retry_after: Option<Duration>,
    /// A new status URL the answer points to (it must be checked before it is followed).
    pub(crate) next_url: Option<String>,
}

/// Why a status answer is not a status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StatusProblem {
    /// A non-2xx answer about the poll itself (auth, throttling, missing monitor, server
    /// faults): the caller turns the answer into its typed error.
    PollFailed,
    /// A `Location` monitor's error status: how it reports a failed operation.
    OperationFailed,
    /// The body is not a status monitor.
    Unreadable(String),
}

#[derive(Deserialize)]
struct StatusBody {
    status: Option<String>,
    #[serde(rename = "percentComplete")]
    percent_complete: Option<serde_json::Value>,
    error: Option<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: Option<String>,
    message: Option<String>,
}

/// Reads one status answer of a monitor of `kind`.
pub(crate) fn parse_status(
    kind: StatusKind,
    status: u16,
    headers: &Headers,
    body: &[u8],
) -> Result<StatusReport, StatusProblem> {
    let retry = retry_after(headers);
    match kind {
        StatusKind::AzureAsyncOperation => {
            if !(200..300).contains(&status) {
                return Err(StatusProblem::PollFailed);
            }
            let parsed: StatusBody = serde_json::from_slice(body).map_err(|e| {
                StatusProblem::Unreadable(format!("status monitor is not JSON: {e}"))
            })?;
            let Some(text) = parsed.status else {
                return Err(StatusProblem::Unreadable(
                    "status monitor without a status".to_owned(),
                ));
            };
            let percent = parsed.percent_complete.and_then(|v| match v {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            });
            let state = OperationState::parse(&text);
            let error = match state {
                OperationState::Failed | OperationState::Canceled => Some(
                    parsed
                        .error
                        .map(|e| (e.code, e.message))
                        .unwrap_or((None, None)),
                ),
                _ => None,
            };
            Ok(StatusReport {
                state,
                percent_complete: percent.filter(|p| p.is_finite()),
                error,
                retry_after: retry,
                next_url: headers
                    .get_optional_str(&AZURE_ASYNC_OPERATION)
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
            })
        }
        StatusKind::Location => match status {
            202 => Ok(StatusReport {
                state: OperationState::InProgress("Accepted".to_owned()),
                percent_complete: None,
                error: None,
                retry_after: retry,
                next_url: headers
                    .get_optional_str(&LOCATION)
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
            }),
            200 | 201 | 204 => Ok(StatusReport {
                state: OperationState::Succeeded,
                percent_complete: Some(100.0),
                error: None,
                retry_after: None,
                next_url: None,
            }),
            401 | 403 | 404 | 408 | 429 | 500..=599 => Err(StatusProblem::PollFailed),
            _ => Err(StatusProblem::OperationFailed),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (k, v) in pairs {
            h.insert(*k, (*v).to_owned());
        }
        h
    }

    #[test]
    fn the_first_answer_picks_the_async_url() {
        let h = headers(&[
            (
                "azure-asyncoperation",
                "https://h/azureAsyncOperation/1?api-version=x",
            ),
            ("location", "https://h/operationResults/1?api-version=x"),
            ("retry-after", "5"),
        ]);
        assert_eq!(
            parse_accepted(202, &h),
            Ok(Accepted::Monitor {
                status_url: "https://h/azureAsyncOperation/1?api-version=x".into(),
                kind: StatusKind::AzureAsyncOperation,
                retry_after: Some(Duration::from_secs(5)),
            })
        );
        let h = headers(&[("location", "https://h/operationResults/1")]);
        assert!(matches!(
            parse_accepted(202, &h),
            Ok(Accepted::Monitor {
                kind: StatusKind::Location,
                ..
            })
        ));
        assert_eq!(
            parse_accepted(204, &Headers::new()),
            Ok(Accepted::NoContent)
        );
        assert_eq!(parse_accepted(200, &Headers::new()), Ok(Accepted::Done));
        assert!(parse_accepted(202, &Headers::new()).is_err());
    }

    #[test]
    fn status_monitors_read_every_state() {
        let ok = |body: &str| {
            parse_status(
                StatusKind::AzureAsyncOperation,
                200,
                &Headers::new(),
                body.as_bytes(),
            )
        };
        assert_eq!(
            ok(r#"{"status":"InProgress","percentComplete":40}"#)
                .map(|r| (r.state, r.percent_complete)),
            Ok((OperationState::InProgress("InProgress".into()), Some(40.0)))
        );
        let failed = ok(r#"{"status":"Failed","error":{"code":"X","message":"m"}}"#);
        assert_eq!(
            failed.map(|r| r.error),
            Ok(Some((Some("X".into()), Some("m".into()))))
        );
        assert!(matches!(ok("{}"), Err(StatusProblem::Unreadable(_))));
        assert!(matches!(
            ok("{\"status\": [1]}"),
            Err(StatusProblem::Unreadable(_))
        ));
        assert_eq!(
            ok(r#"{"status":"Running","percentComplete":"NaN"}"#).map(|r| r.percent_complete),
            Ok(None)
        );
        let h = headers(&[("location", "https://h/next"), ("retry-after", "3")]);
        let r = parse_status(StatusKind::Location, 202, &h, b"");
        assert_eq!(
            r.clone().map(|r| r.next_url),
            Ok(Some("https://h/next".into()))
        );
        assert_eq!(r.map(|r| r.retry_after), Ok(Some(Duration::from_secs(3))));
        assert_eq!(
            parse_status(StatusKind::Location, 204, &Headers::new(), b"").map(|r| r.state),
            Ok(OperationState::Succeeded)
        );
        assert_eq!(
            parse_status(StatusKind::Location, 400, &Headers::new(), b""),
            Err(StatusProblem::OperationFailed)
        );
        assert_eq!(
            parse_status(
                StatusKind::Location,
                503,
                &headers(&[("retry-after", "1")]),
                b""
            ),
            Err(StatusProblem::PollFailed)
        );
    }
}

/// Property: no status, header or body makes the parsers panic, and whatever status URL they
/// return is exactly a header's value.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn header_name() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("azure-asyncoperation"),
            Just("location"),
            Just("retry-after"),
            Just("retry-after-ms"),
            Just("x-ms-retry-after-ms"),
            Just("content-type"),
        ]
    }

    fn header_value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just("Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
            Just("https://management.azure.com/x/azureAsyncOperation/1?api-version=1".to_owned()),
        ]
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<Vec<u8>>(),
            (
                any::<String>(),
                proptest::option::of(any::<f64>()),
                any::<String>()
            )
                .prop_map(|(status, percent, code)| serde_json::json!({
                    "status": status,
                    "percentComplete": percent,
                    "error": {"code": code, "message": null}
                })
                .to_string()
                .into_bytes()),
            Just(br#"{"status":"Failed"}"#.to_vec()),
            Just(br#"{"status":7,"percentComplete":"x"}"#.to_vec()),
        ]
    }

    proptest! {
        #[test]
        fn parsers_never_panic(
            status in 0u16..1000,
            pairs in proptest::collection::vec((header_name(), header_value()), 0..6),
            bytes in body(),
        ) {
            let mut headers = Headers::new();
            for (name, value) in &pairs {
                headers.insert(*name, value.clone());
            }
            if let Ok(Accepted::Monitor { status_url, .. }) = parse_accepted(status, &headers) {
                prop_assert!(pairs.iter().any(|(_, v)| v.trim() == status_url));
            }
            for kind in [StatusKind::AzureAsyncOperation, StatusKind::Location] {
                if let Ok(report) = parse_status(kind, status, &headers, &bytes) {
                    prop_assert!(report.percent_complete.is_none_or(f64::is_finite));
                }
            }
            let _ = retry_after(&headers);
        }
    }
}
