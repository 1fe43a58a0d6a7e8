//! Entry points for fuzzers (`cargo fuzz` builds with `--cfg fuzzing`): the crate-private
//! parsers, reachable with plain inputs. Not part of the API otherwise.

use crate::lro::{StatusKind, parse_accepted, parse_status};
use azure_core::http::headers::Headers;

fn headers(pairs: &[(String, String)]) -> Headers {
    let mut h = Headers::new();
    for (name, value) in pairs {
        h.insert(name.to_ascii_lowercase(), value.clone());
    }
    h
}

/// Parses the first answer of a long-running operation (status and headers). Must never
/// panic.
pub fn lro_accepted(status: u16, header_pairs: &[(String, String)]) -> bool {
    parse_accepted(status, &headers(header_pairs)).is_ok()
}

/// Parses one status-monitor answer, as `Azure-AsyncOperation` (`async_monitor`) or
/// `Location`. Must never panic.
pub fn lro_status(
    async_monitor: bool,
    status: u16,
    header_pairs: &[(String, String)],
    body: &[u8],
) -> bool {
    let kind = if async_monitor {
        StatusKind::AzureAsyncOperation
    } else {
        StatusKind::Location
    };
    parse_status(kind, status, &headers(header_pairs), body).is_ok()
}

/// Parses a `Retry-After` family of headers. Must never panic.
pub fn retry_after(header_pairs: &[(String, String)]) -> Option<std::time::Duration> {
    crate::http::retry_after(&headers(header_pairs))
}
