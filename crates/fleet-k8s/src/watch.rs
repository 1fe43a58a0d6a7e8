//! The one resumable list-and-watch loop, shared by `rollout_status` and `watch_events`.
//!
//! It lists (paged), then watches from the list's resourceVersion. A watch that ends is
//! re-established from the last position seen; an expired position (410) re-lists. Failures
//! are spaced out with the cluster's [`RetryPolicy`](crate::RetryPolicy) schedule and counted:
//! a watch that fails to start, errors, or ends without delivering anything (no event, no
//! bookmark) within [`HEALTHY_AFTER`] counts as a failure, so a server that drops every watch
//! at once costs backed-off requests, not a hot loop, and `max_attempts` consecutive failures
//! end the loop with [`Error::RetriesExhausted`]. A watch that delivers resets the count.
//!
//! kube's `runtime::watcher` is not used: it re-establishes a closed watch stream at once and
//! without telling its caller, so the back-off and the failure count above could not be
//! applied to a server that closes every watch immediately.

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::Api;
use kube::api::{ListParams, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::cluster::KubeCluster;
use crate::error::{Error, Result};

/// Server-side limit of one watch request (kubectl's and kube's 290 s).
const WATCH_TIMEOUT_SECS: u32 = 290;
/// A watch silent this much longer than its server-side limit is taken for dead.
const IDLE_MARGIN: Duration = Duration::from_secs(5);
/// A watch that lived this long ended normally even if nothing happened on it.
pub(crate) const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// What the next step of a watch brought.
#[derive(Debug)]
pub(crate) enum Change<K> {
    /// An object was added or modified.
    Applied(K),
    /// An object was deleted.
    Deleted(K),
    /// The position expired and the objects were listed again (the whole current set).
    Relisted(Vec<K>),
}

type EventStream<K> = BoxStream<'static, kube::Result<WatchEvent<K>>>;

/// A list followed by a watch that survives drops, errors and expired positions.
pub(crate) struct Resumable<K: 'static> {
    cluster: KubeCluster,
    api: Api<K>,
    list: ListParams,
    watch: WatchParams,
    op: String,
    rv: String,
    stream: Option<EventStream<K>>,
    opened_at: Instant,
    delivered: bool,
    failures: u32,
    first_failure: Option<Instant>,
}

impl<K> Resumable<K>
where
    K: Clone + DeserializeOwned + Debug + Send + kube::Resource + 'static,
{
    /// Lists the objects matching `fields` (a rendered field selector) and returns them with
    /// a watch positioned after them.
    pub(crate) async fn start(
        cluster: KubeCluster,
        api: Api<K>,
        fields: Option<String>,
        op: String,
    ) -> Result<(Self, Vec<K>)> {
        let mut list = ListParams::default();
        let mut watch = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
        if let Some(f) = &fields {
            list = list.fields(f);
            watch = watch.fields(f);
        }
        let (items, rv) = cluster.list_all_versioned(&api, &list, &op).await?;
        let this = Self {
            cluster,
            api,
            list,
            watch,
            op,
            rv,
            stream: None,
            opened_at: Instant::now(),
            delivered: false,
            failures: 0,
            first_failure: None,
        };
        Ok((this, items))
    }

    /// The next change. Errors are final: permanent ones at once, transient ones after
    /// `max_attempts` consecutive failures.
    pub(crate) async fn next(&mut self) -> Result<Change<K>> {
        let idle = Duration::from_secs(u64::from(WATCH_TIMEOUT_SECS)) + IDLE_MARGIN;
        loop {
            let next = match self.stream.as_mut() {
                Some(stream) => tokio::time::timeout(idle, stream.next()).await,
                None => {
                    if let Some(change) = self.open().await? {
                        return Ok(change);
                    }
                    continue;
                }
            };
            match next {
                Ok(Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)))) => {
                    self.seen(o.meta().resource_version.clone());
                    return Ok(Change::Applied(o));
                }
                Ok(Some(Ok(WatchEvent::Deleted(o)))) => {
                    self.seen(o.meta().resource_version.clone());
                    return Ok(Change::Deleted(o));
                }
                Ok(Some(Ok(WatchEvent::Bookmark(b)))) => {
                    self.seen(Some(b.metadata.resource_version));
                }
                Ok(Some(Ok(WatchEvent::Error(status)))) => {
                    self.stream = None;
                    if status.code == 410 {
                        tracing::debug!(op = %self.op, "watch position expired, listing again");
                        if !self.healthy() {
                            let err = Error::from_kube(
                                format!("watch {}", self.op),
                                kube::Error::Api(status),
                            );
                            self.fail(err, true).await?;
                        }
                        return self.relist().await;
                    }
                    let err =
                        Error::from_kube(format!("watch {}", self.op), kube::Error::Api(status));
                    let retry = err.is_transient();
                    self.fail(err, retry).await?;
                }
                Ok(Some(Err(e))) => {
                    self.stream = None;
                    let err = Error::from_kube(format!("watch {}", self.op), e);
                    self.fail(err, true).await?;
                }
                Ok(None) | Err(_) => {
                    self.stream = None;
                    if self.healthy() {
                        tracing::debug!(op = %self.op, "watch ended, watching again");
                    } else {
                        let err = Error::Unexpected {
                            what: format!("watch {}", self.op),
                            detail: "the server ended the watch before sending anything".into(),
                        };
                        self.fail(err, true).await?;
                    }
                }
            }
        }
    }

    /// Starts a watch from the last position; a 410 re-lists instead.
    async fn open(&mut self) -> Result<Option<Change<K>>> {
        match self.api.watch(&self.watch, &self.rv).await {
            Ok(s) => {
                self.stream = Some(s.boxed());
                self.opened_at = Instant::now();
                self.delivered = false;
                Ok(None)
            }
            Err(e) => {
                let err = Error::from_kube(format!("watch {}", self.op), e);
                if err.status_code() == Some(410) {
                    // Counted, so that a server answering 410 to every watch is not a loop.
                    self.fail(err, true).await?;
                    return self.relist().await.map(Some);
                }
                let retry = err.is_transient();
                self.fail(err, retry).await?;
                Ok(None)
            }
        }
    }

    fn seen(&mut self, rv: Option<String>) {
        if let Some(rv) = rv.filter(|r| !r.is_empty()) {
            self.rv = rv;
        }
        self.delivered = true;
        self.failures = 0;
        self.first_failure = None;
    }

    fn healthy(&self) -> bool {
        self.delivered || self.opened_at.elapsed() >= HEALTHY_AFTER
    }

    async fn relist(&mut self) -> Result<Change<K>> {
        self.stream = None;
        let (items, rv) = self
            .cluster
            .list_all_versioned(&self.api, &self.list, &self.op)
            .await?;
        self.rv = rv;
        Ok(Change::Relisted(items))
    }

    /// Counts a failure and waits the back-off, or gives up.
    async fn fail(&mut self, err: Error, retryable: bool) -> Result<()> {
        if !retryable {
            return Err(err);
        }
        let policy = &self.cluster.opts.retry;
        self.failures = self.failures.saturating_add(1);
        let first = *self.first_failure.get_or_insert_with(Instant::now);
        if self.failures >= policy.max_attempts {
            tracing::warn!(op = %self.op, failures = self.failures, error = %err, "giving up on the watch");
            return Err(Error::RetriesExhausted {
                op: format!("watch {}", self.op),
                attempts: self.failures,
                elapsed: first.elapsed(),
                last: Box::new(err),
            });
        }
        let delay = policy.delay(policy.step(self.failures - 1), &err);
        tracing::debug!(op = %self.op, failures = self.failures, ?delay, error = %err, "watch interrupted, backing off");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}
