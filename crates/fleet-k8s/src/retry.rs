//! Retries of transient failures: capped exponential backoff with jitter (backon's
//! exponential schedule), the server's `Retry-After` honoured up to a cap, and an overall time
//! budget.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// How transient failures (429, 5xx, timeouts, dropped connections) are retried.
///
/// Each retry waits `initial_backoff * 2^n` (capped at `max_backoff`, with up to 50 % random
/// jitter subtracted), or the server's `Retry-After` when that is longer (capped at
/// `max_retry_after`). No retry starts once the next wait would end past `budget`. The same
/// schedule spaces out re-established watches (`rollout_status`, `watch_events`), where
/// `max_attempts` counts consecutive failures.
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

    /// Sets the number of attempts (at least 1).
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

    /// The exponential schedule before jitter: `initial_backoff`, doubling, capped.
    fn schedule(&self) -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff.max(self.initial_backoff))
            .with_factor(2.0)
            .without_max_times()
    }

    /// Step `n` (0-based) of the schedule, before jitter.
    pub(crate) fn step(&self, n: u32) -> Duration {
        // The schedule is capped long before 64 doublings.
        let n = usize::try_from(n.min(64)).unwrap_or(64);
        self.schedule().build().nth(n).unwrap_or(self.max_backoff)
    }

    /// The wait for a retry whose exponential step is `step`, after `err`: the step with
    /// jitter in [50 %, 100 %] (so clients hit by the same outage spread out), or the server's
    /// `Retry-After` capped at `max_retry_after` when that is longer.
    pub(crate) fn delay(&self, step: Duration, err: &Error) -> Duration {
        let step = step.min(self.max_backoff.max(self.initial_backoff));
        let jittered =
            Duration::try_from_secs_f64(step.as_secs_f64() * (0.5 + 0.5 * jitter_unit()))
                .unwrap_or(step)
                .min(step);
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
        let attempts = AtomicU32::new(0);
        let limit = self.attempt_timeout;
        let one = || {
            attempts.fetch_add(1, Ordering::Relaxed);
            let fut = attempt();
            async move {
                match limit {
                    Some(limit) => match tokio::time::timeout(limit, fut).await {
                        Ok(r) => r.map_err(|e| Error::from_kube(op, e)),
                        Err(_) => Err(Error::Timeout {
                            op: op.to_string(),
                            after: limit,
                        }),
                    },
                    None => fut.await.map_err(|e| Error::from_kube(op, e)),
                }
            }
        };
        let retries = usize::try_from(self.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX);
        let outcome = one
            .retry(self.schedule().with_max_times(retries))
            .sleep(tokio::time::sleep)
            .when(retryable)
            .adjust(|err, step| {
                let delay = self.delay(step?, err);
                // A wait that would end past the budget is not started.
                let ends = start.elapsed().checked_add(delay)?;
                (ends <= self.budget).then_some(delay)
            })
            .notify(|err, delay| {
                tracing::debug!(
                    op,
                    attempt = attempts.load(Ordering::Relaxed),
                    ?delay,
                    error = %err,
                    "transient failure, retrying"
                );
            })
            .await;
        let err = match outcome {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let attempts = attempts.load(Ordering::Relaxed);
        if !retryable(&err) || attempts <= 1 {
            return Err(err);
        }
        let elapsed = start.elapsed();
        tracing::warn!(op, attempts, ?elapsed, error = %err, "giving up on transient failures");
        Err(Error::RetriesExhausted {
            op: op.to_string(),
            attempts,
            elapsed,
            last: Box::new(err),
        })
    }
}

/// An attempt that timed out is worth another try, and so is a transient failure; a wait that
/// timed out is not (those never pass through here).
fn retryable(err: &Error) -> bool {
    err.is_transient() || matches!(err, Error::Timeout { .. })
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

    fn unavailable() -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("busy", "ServiceUnavailable").with_code(503),
        ))
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::from_millis(100), Duration::from_millis(400));
        let e = api(503, None);
        for (n, hi) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 400),
            (30, 400),
            (u32::MAX, 400),
        ] {
            let d = p.delay(p.step(n), &e);
            assert!(d <= Duration::from_millis(hi), "retry {n}: {d:?}");
            assert!(d >= Duration::from_millis(hi / 2), "retry {n}: {d:?}");
        }
    }

    #[test]
    fn retry_after_wins_up_to_its_cap() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::from_millis(10), Duration::from_millis(10))
            .with_max_retry_after(Duration::from_secs(2));
        assert_eq!(
            p.delay(p.step(0), &api(429, Some(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(p.step(0), &api(429, Some(60))),
            Duration::from_secs(2)
        );
        // A server-sent delay far beyond any budget is capped, never overflows.
        assert_eq!(
            p.delay(p.step(0), &api(429, Some(u64::MAX))),
            Duration::from_secs(2)
        );
    }

    /// Extreme caller settings must not panic (float conversion of `Duration::MAX`, budget
    /// arithmetic); before, a `Duration::MAX` backoff panicked in the jitter's `mul_f64`.
    #[tokio::test]
    async fn extreme_settings_do_not_panic() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::MAX, Duration::MAX)
            .with_budget(Duration::MAX)
            .with_max_retry_after(Duration::MAX)
            .with_attempt_timeout(Some(Duration::MAX));
        let d = p.delay(p.step(3), &api(503, Some(u64::MAX)));
        assert!(d > Duration::ZERO);
        // With a zero budget no retry starts; the first error comes back as it is.
        let p = p.with_max_attempts(u32::MAX).with_budget(Duration::ZERO);
        let mut calls = 0;
        let r: Result<()> = p
            .run("op", || {
                calls += 1;
                async { Err(unavailable()) }
            })
            .await;
        assert_eq!(calls, 1);
        assert!(r.is_err_and(|e| e.status_code() == Some(503)));
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
                async { Err(unavailable()) }
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
    async fn the_budget_stops_retries_that_would_end_past_it() {
        let p = RetryPolicy::default()
            .with_max_attempts(100)
            .with_backoff(Duration::from_millis(40), Duration::from_millis(40))
            .with_budget(Duration::from_millis(100));
        let mut calls = 0;
        let started = Instant::now();
        let r: Result<()> = p
            .run("op", || {
                calls += 1;
                async { Err(unavailable()) }
            })
            .await;
        assert!((2..=6).contains(&calls), "{calls}");
        assert!(started.elapsed() < Duration::from_millis(400));
        assert!(r.is_err_and(|e| e.is_transient()));
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
