//! Many clusters: a read run across a fleet with a bounded number in flight and a deadline per
//! cluster, partial results when some clusters fail, and mutating runs cluster by cluster in a
//! declared order.
//!
//! Each cluster's outcome keeps the operation's own error type, attributed to the cluster
//! (its kubeconfig context or any name the caller gives), and a [`FleetReport`] combines them
//! into one summary and one exit code (0 when every cluster succeeded, 1 otherwise).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

/// Plain-data options of a fleet run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetOptions {
    /// Clusters worked on at once by [`run_across`] (at least 1).
    pub max_in_flight: usize,
    /// How long one cluster's operation may take before it counts as timed out.
    pub deadline: Duration,
    /// For [`run_in_order`]: go on with the next cluster after a failure (default: stop).
    pub continue_on_failure: bool,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 8,
            deadline: Duration::from_secs(120),
            continue_on_failure: false,
        }
    }
}

impl FleetOptions {
    /// Sets how many clusters are worked on at once (at least 1).
    #[must_use]
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
    /// Sets the per-cluster deadline.
    #[must_use]
    pub fn with_deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }
    /// Goes on after a failure in [`run_in_order`].
    #[must_use]
    pub fn with_continue_on_failure(mut self, on: bool) -> Self {
        self.continue_on_failure = on;
        self
    }
}

/// Why one cluster has no result.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError<E> {
    /// The operation failed with its own error.
    Failed(E),
    /// The operation did not finish within the per-cluster deadline (it was cancelled).
    TimedOut(Duration),
    /// Not run: an earlier cluster of an ordered run failed.
    NotRun {
        /// The cluster whose failure stopped the run.
        after: String,
    },
}

impl<E: fmt::Display> fmt::Display for ClusterError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Failed(e) => write!(f, "failed: {e}"),
            ClusterError::TimedOut(d) => write!(f, "timed out after {d:?}"),
            ClusterError::NotRun { after } => write!(f, "not run: stopped after {after} failed"),
        }
    }
}

/// One cluster's outcome.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClusterOutcome<T, E> {
    /// The cluster (its context name).
    pub cluster: String,
    /// How long its operation took (zero when not run).
    pub elapsed: Duration,
    /// The result, or why there is none.
    pub result: Result<T, ClusterError<E>>,
}

/// Every cluster's outcome, in the declared order, and the wall time of the whole run.
#[derive(Debug)]
#[non_exhaustive]
pub struct FleetReport<T, E> {
    /// One per cluster, in the order given.
    pub outcomes: Vec<ClusterOutcome<T, E>>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl<T, E> FleetReport<T, E> {
    /// The clusters that succeeded, with their results.
    pub fn succeeded(&self) -> impl Iterator<Item = (&str, &T)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok().map(|t| (o.cluster.as_str(), t)))
    }

    /// The clusters without a result, with why.
    pub fn failed(&self) -> impl Iterator<Item = (&str, &ClusterError<E>)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err().map(|e| (o.cluster.as_str(), e)))
    }

    /// Whether every cluster succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }

    /// 0 when every cluster succeeded, 1 otherwise (the runbook tools' convention).
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.all_succeeded())
    }
}

impl<T: Serialize, E: fmt::Display> FleetReport<T, E> {
    /// The report as JSON: per cluster `cluster`, `elapsed_ms`, `ok` and `result` or `error`
    /// (with `error_kind` `failed`, `timed_out` or `not_run`), then the totals.
    pub fn to_json(&self) -> serde_json::Value {
        let clusters: Vec<_> = self
            .outcomes
            .iter()
            .map(|o| {
                let ms = u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX);
                match &o.result {
                    Ok(t) => serde_json::json!({"cluster": o.cluster, "elapsed_ms": ms, "ok": true,
                        "result": serde_json::to_value(t).unwrap_or(serde_json::Value::Null)}),
                    Err(e) => {
                        let kind = match e {
                            ClusterError::Failed(_) => "failed",
                            ClusterError::TimedOut(_) => "timed_out",
                            ClusterError::NotRun { .. } => "not_run",
                        };
                        serde_json::json!({"cluster": o.cluster, "elapsed_ms": ms, "ok": false,
                            "error_kind": kind, "error": e.to_string()})
                    }
                }
            })
            .collect();
        serde_json::json!({
            "clusters": clusters,
            "succeeded": self.succeeded().count(),
            "failed": self.failed().count(),
            "elapsed_ms": u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
            "exit_code": self.exit_code(),
        })
    }
}

impl<T, E: fmt::Display> fmt::Display for FleetReport<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ok = self.succeeded().count();
        writeln!(
            f,
            "{ok} of {} clusters succeeded in {:.1?}",
            self.outcomes.len(),
            self.elapsed
        )?;
        for o in &self.outcomes {
            match &o.result {
                Ok(_) => writeln!(f, "  ok      {} ({:.1?})", o.cluster, o.elapsed)?,
                Err(e) => writeln!(f, "  FAILED  {} ({:.1?}): {e}", o.cluster, o.elapsed)?,
            }
        }
        Ok(())
    }
}

async fn one<C, T, E, F, Fut>(
    name: String,
    client: C,
    deadline: Duration,
    op: &F,
) -> ClusterOutcome<T, E>
where
    F: Fn(String, C) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let result = match tokio::time::timeout(deadline, op(name.clone(), client)).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(ClusterError::Failed(e)),
        Err(_) => Err(ClusterError::TimedOut(deadline)),
    };
    let elapsed = start.elapsed();
    match &result {
        Ok(_) => tracing::debug!(cluster = %name, ?elapsed, "cluster done"),
        Err(_) => tracing::warn!(cluster = %name, ?elapsed, "cluster failed"),
    }
    ClusterOutcome {
        cluster: name,
        elapsed,
        result,
    }
}

/// Runs a read operation on every cluster, at most `options.max_in_flight` at once, each
/// under `options.deadline`; failures and timeouts are kept per cluster and do not stop the
/// others. Outcomes come back in the order of `clusters`.
#[tracing::instrument(skip_all, fields(clusters = clusters.len(), in_flight = options.max_in_flight))]
pub async fn run_across<C, T, E, F, Fut>(
    clusters: Vec<(String, C)>,
    options: &FleetOptions,
    op: F,
) -> FleetReport<T, E>
where
    F: Fn(String, C) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let op = &op;
    let deadline = options.deadline;
    let mut outcomes: Vec<(usize, ClusterOutcome<T, E>)> =
        stream::iter(clusters.into_iter().enumerate())
            .map(|(i, (name, client))| async move { (i, one(name, client, deadline, op).await) })
            .buffer_unordered(options.max_in_flight.max(1))
            .collect()
            .await;
    outcomes.sort_by_key(|(i, _)| *i);
    FleetReport {
        outcomes: outcomes.into_iter().map(|(_, o)| o).collect(),
        elapsed: start.elapsed(),
    }
}

/// Runs a mutating operation cluster by cluster in the order given, each under
/// `options.deadline`. After the first failure the remaining clusters are not run (their
/// outcome says after which cluster) unless `options.continue_on_failure`.
#[tracing::instrument(skip_all, fields(clusters = clusters.len()))]
pub async fn run_in_order<C, T, E, F, Fut>(
    clusters: Vec<(String, C)>,
    options: &FleetOptions,
    op: F,
) -> FleetReport<T, E>
where
    F: Fn(String, C) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut outcomes = Vec::with_capacity(clusters.len());
    let mut stopped_after: Option<String> = None;
    for (name, client) in clusters {
        if let Some(after) = &stopped_after {
            outcomes.push(ClusterOutcome {
                cluster: name,
                elapsed: Duration::ZERO,
                result: Err(ClusterError::NotRun {
                    after: after.clone(),
                }),
            });
            continue;
        }
        let outcome = one(name, client, options.deadline, &op).await;
        if outcome.result.is_err() && !options.continue_on_failure {
            stopped_after = Some(outcome.cluster.clone());
        }
        outcomes.push(outcome);
    }
    FleetReport {
        outcomes,
        elapsed: start.elapsed(),
    }
}

/// A [`fleet_k8s::KubeCluster`] for one context of a kubeconfig (the binary reads the file;
/// this makes no other I/O than kube's own credential plugins).
///
/// # Errors
/// The context is missing or its configuration unusable ([`fleet_k8s::Error`]).
pub async fn cluster_for_context(
    kubeconfig: &kube::config::Kubeconfig,
    context: &str,
    options: fleet_k8s::ClusterOptions,
) -> fleet_k8s::Result<fleet_k8s::KubeCluster> {
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig.clone(),
        &kube::config::KubeConfigOptions {
            context: Some(context.to_string()),
            ..kube::config::KubeConfigOptions::default()
        },
    )
    .await
    .map_err(|e| fleet_k8s::Error::InvalidInput {
        what: "kubeconfig context",
        value: context.to_string(),
        reason: e.to_string(),
    })?;
    fleet_k8s::KubeCluster::from_config(config, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ordered_runs_stop_at_the_first_failure_unless_told() {
        let clusters: Vec<(String, u32)> = (0..4).map(|i| (format!("c{i}"), i)).collect();
        let op = |_: String, i: u32| async move { if i == 1 { Err("boom") } else { Ok(i) } };
        let r = run_in_order(clusters.clone(), &FleetOptions::default(), op).await;
        let kinds: Vec<String> = r
            .outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(_) => "ok".to_string(),
                Err(e) => e.to_string(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "ok",
                "failed: boom",
                "not run: stopped after c1 failed",
                "not run: stopped after c1 failed"
            ]
        );
        assert_eq!(r.exit_code(), 1);
        let r = run_in_order(
            clusters,
            &FleetOptions::default().with_continue_on_failure(true),
            op,
        )
        .await;
        assert_eq!(r.succeeded().count(), 3);
        assert_eq!(r.to_json()["failed"], 1);
    }

    #[tokio::test]
    async fn reads_run_bounded_with_deadlines_and_keep_order() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let clusters: Vec<(String, u64)> = (0..6).map(|i| (format!("c{i}"), i)).collect();
        let op = |_: String, i: u64| {
            let (now, most) = (Arc::clone(&now), Arc::clone(&most));
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                let ms = if i == 5 { 5_000 } else { 20 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>(i)
            }
        };
        let opts = FleetOptions::default()
            .with_max_in_flight(2)
            .with_deadline(Duration::from_millis(300));
        let r = run_across(clusters, &opts, op).await;
        let names: Vec<&str> = r.outcomes.iter().map(|o| o.cluster.as_str()).collect();
        assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "c5"]);
        assert!(matches!(
            r.outcomes[5].result,
            Err(ClusterError::TimedOut(_))
        ));
        assert_eq!(r.succeeded().count(), 5);
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "never more than two at once"
        );
        assert!(
            r.elapsed < Duration::from_secs(5),
            "the slow one was cut at its deadline"
        );
        assert_eq!(r.exit_code(), 1);
    }
}
