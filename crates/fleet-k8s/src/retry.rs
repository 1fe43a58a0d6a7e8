//! Retries of transient failures: capped exponential backoff with jitter, the server's
//! `Retry-After` honoured, and an overall time budget.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};

/// How transient failures (429, 5xx, timeouts, dropped connections) are retried.
///
/// Each retry waits `initial_backoff * 2^n` (capped at `max_backoff`, with up to 50 % random
/// jitter subtracted), or the server's `Retry-After` when that is longer (capped at
/// `max_retry_after`). No retry starts once the next wait would end past `budget`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: u32,
    /// Wait before the first retry.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Longest wait the server's `Retry-After` may impose.
    pub max_retry_after: Duration,
    /// Total time after which no new attempt starts.
    pub budget: Duration,
    /// Limit of one attempt of a request-response call (not of watches or followed logs);
    /// an attempt that runs past it counts as a transient failure.
    pub attempt_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            budget: Duration::from_secs(60),
            attempt_timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts.
    #[must_use]
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the backoff range.
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Sets the cap on the server's `Retry-After`.
    #[must_use]
    pub fn with_max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Sets the overall budget.
    #[must_use]
    pub fn with_budget(mut self, d: Duration) -> Self {
        self.budget = d;
        self
    }

    /// Sets the per-attempt timeout.
    #[must_use]
    pub fn with_attempt_timeout(mut self, d: Option<Duration>) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// The wait before retry number `retry` (0-based) after `err`.
    pub(crate) fn delay(&self, retry: u32, err: &Error) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        // Jitter in [50 %, 100 %] of the exponential step, so clients hit by the same outage
        // spread out.
        let jittered = exp.mul_f64(0.5 + 0.5 * jitter_unit());
        match retry_after(err) {
            Some(ra) => jittered.max(ra.min(self.max_retry_after)),
            None => jittered,
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy gives up.
    pub(crate) async fn run<T, F, Fut>(&self, op: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, kube::Error>>,
    {
        let start = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = match self.attempt_timeout {
                Some(limit) => match tokio::time::timeout(limit, attempt()).await {
                    Ok(r) => r.map_err(|e| Error::from_kube(op, e)),
                    Err(_) => Err(Error::Timeout {
                        op: op.to_string(),
                        after: limit,
                    }),
                },
                None => attempt().await.map_err(|e| Error::from_kube(op, e)),
            };
            let err = match outcome {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            // An attempt that timed out is worth another try; a wait that timed out is not
            // (those never pass through here).
            let retryable = err.is_transient() || matches!(err, Error::Timeout { .. });
            if !retryable {
                return Err(err);
            }
            let delay = self.delay(attempts - 1, &err);
            let elapsed = start.elapsed();
            if attempts >= self.max_attempts || elapsed + delay > self.budget {
                if attempts == 1 {
                    return Err(err);
                }
                tracing::warn!(op, attempts, ?elapsed, error = %err, "giving up on transient failures");
                return Err(Error::RetriesExhausted {
                    op: op.to_string(),
                    attempts,
                    elapsed,
                    last: Box::new(err),
                });
            }
            tracing::debug!(op, attempt = attempts, ?delay, error = %err, "transient failure, retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

fn retry_after(err: &Error) -> Option<Duration> {
    match err {
        Error::Api { retry_after, .. } => *retry_after,
        _ => None,
    }
}

/// A number in [0, 1) that differs between calls; good enough for jitter, not for anything else.
fn jitter_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, retry_after: Option<u64>) -> Error {
        Error::Api {
            op: "op".into(),
            code,
            reason: "r".into(),
            message: "m".into(),
            retry_after: retry_after.map(Duration::from_secs),
            source: Box::new(kube::Error::Api(Box::new(kube::core::Status::failure(
                "m", "r",
            )))),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::from_millis(100), Duration::from_millis(400));
        let e = api(503, None);
        for (n, hi) in [(0, 100), (1, 200), (2, 400), (3, 400), (30, 400)] {
            let d = p.delay(n, &e);
            assert!(d <= Duration::from_millis(hi), "retry {n}: {d:?}");
            assert!(d >= Duration::from_millis(hi / 2), "retry {n}: {d:?}");
        }
    }

    #[test]
    fn retry_after_wins_up_to_its_cap() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::from_millis(10), Duration::from_millis(10))
            .with_max_retry_after(Duration::from_secs(2));
        assert_eq!(p.delay(0, &api(429, Some(1))), Duration::from_secs(1));
        assert_eq!(p.delay(0, &api(429, Some(60))), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_a_typed_error() {
        let p = RetryPolicy::default()
            .with_max_attempts(3)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(1));
        let mut calls = 0;
        let r: Result<()> = p
            .run("op", || {
                calls += 1;
                async {
                    Err(kube::Error::Api(Box::new(
                        kube::core::Status::failure("busy", "ServiceUnavailable").with_code(503),
                    )))
                }
            })
            .await;
        assert_eq!(calls, 3);
        let e = r.err();
        assert!(
            matches!(e, Some(Error::RetriesExhausted { attempts: 3, .. })),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let p = RetryPolicy::default();
        let mut calls = 0;
        let r: Result<()> = p
            .run("op", || {
                calls += 1;
                async {
                    Err(kube::Error::Api(Box::new(
                        kube::core::Status::failure("no", "NotFound").with_code(404),
                    )))
                }
            })
            .await;
        assert_eq!(calls, 1);
        assert!(r.err().is_some_and(|e| e.is_not_found()));
    }
}
