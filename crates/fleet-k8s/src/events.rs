//! Events: the namespace's `core/v1` events as [`EventRecord`]s, listed or watched, warnings
//! only on request, with the watch resuming after a drop.

use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;

use crate::error::Result;

/// One event, as `kubectl get events` / `describe` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct EventRecord {
    /// Event object name.
    pub name: String,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// Machine-readable reason (`BackOff`, `FailedScheduling`, `Unhealthy`...).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// Kind of the object it is about.
    pub object_kind: String,
    /// Name of the object it is about.
    pub object_name: String,
    /// UID of the object it is about.
    pub object_uid: Option<String>,
    /// `fieldPath` within the object (e.g. `spec.containers{fleet-api}`).
    pub field_path: Option<String>,
    /// How many times it happened.
    pub count: u32,
    /// First occurrence.
    pub first_seen: Option<Timestamp>,
    /// Last occurrence (falls back to the event time or creation time).
    pub last_seen: Option<Timestamp>,
    /// Reporting component (`kubelet`, `default-scheduler`...).
    pub source: Option<String>,
}

impl EventRecord {
    /// Whether this is a `Warning`.
    pub fn is_warning(&self) -> bool {
        self.type_ == "Warning"
    }

    /// Reads a `core/v1` Event.
    pub fn from_event(e: &Event) -> Self {
        let created = e.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let event_time = e.event_time.as_ref().map(|t| t.0);
        let last_series = e
            .series
            .as_ref()
            .and_then(|s| s.last_observed_time.as_ref())
            .map(|t| t.0);
        let first_seen = e
            .first_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(event_time)
            .or(created);
        let last_seen = e
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(last_series)
            .or(event_time)
            .or(created);
        let count = e
            .count
            .or_else(|| e.series.as_ref().and_then(|s| s.count))
            .map_or(1, |c| u32::try_from(c).unwrap_or(0));
        EventRecord {
            name: e.metadata.name.clone().unwrap_or_default(),
            type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default().trim().to_string(),
            object_kind: e.involved_object.kind.clone().unwrap_or_default(),
            object_name: e.involved_object.name.clone().unwrap_or_default(),
            object_uid: e.involved_object.uid.clone(),
            field_path: e.involved_object.field_path.clone(),
            count,
            first_seen,
            last_seen,
            source: e
                .source
                .as_ref()
                .and_then(|s| s.component.clone())
                .or_else(|| e.reporting_component.clone()),
        }
    }
}

/// Which events to list or watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventFilter {
    /// Only `Warning` events (`--field-selector type=Warning`).
    pub warnings_only: bool,
    /// Only events about objects of this kind (`Pod`, `Deployment`...).
    pub kind: Option<String>,
    /// Only events about the object with this name.
    pub name: Option<String>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }
    /// Warnings only.
    pub fn warnings() -> Self {
        Self {
            warnings_only: true,
            ..Self::default()
        }
    }
    /// Restricts to one object.
    #[must_use]
    pub fn about(mut self, kind: impl Into<String>, name: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self.name = Some(name.into());
        self
    }

    /// The field selector the server evaluates.
    pub(crate) fn field_selector(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.warnings_only {
            parts.push("type=Warning".to_string());
        }
        if let Some(k) = &self.kind {
            parts.push(format!("involvedObject.kind={k}"));
        }
        if let Some(n) = &self.name {
            parts.push(format!("involvedObject.name={n}"));
        }
        (!parts.is_empty()).then(|| parts.join(","))
    }
}

/// Listing and watching the namespace's events.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Events: Send + Sync {
    /// Events matching `filter`, oldest first by last occurrence (as `kubectl get events`
    /// sorts them).
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>>;

    /// Events from now on (`kubectl get events --watch` without the initial list): a stream
    /// that re-establishes its watch after drops and expired positions, without repeating
    /// events it already yielded. Errors that retries cannot fix end the stream.
    async fn watch_events(
        &self,
        filter: &EventFilter,
    ) -> Result<BoxStream<'static, Result<EventRecord>>>;
}

/// Sorts as kubectl does: by last occurrence, oldest first.
pub(crate) fn sort_events(v: &mut [EventRecord]) {
    v.sort_by(|a, b| {
        a.last_seen
            .cmp(&b.last_seen)
            .then_with(|| a.name.cmp(&b.name))
    });
}

mod kube_impl {
    use std::collections::HashMap;

    use futures::stream::BoxStream;
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::Event;
    use kube::api::{ListParams, WatchEvent, WatchParams};

    use super::{EventFilter, EventRecord, Events, sort_events};
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};

    #[async_trait::async_trait]
    impl Events for KubeCluster {
        async fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>> {
            let api = self.api::<Event>();
            let mut lp = ListParams::default();
            if let Some(f) = filter.field_selector() {
                lp = lp.fields(&f);
            }
            let events = self.list_all(&api, &lp, "list events").await?;
            let mut v: Vec<EventRecord> = events.iter().map(EventRecord::from_event).collect();
            sort_events(&mut v);
            Ok(v)
        }

        async fn watch_events(
            &self,
            filter: &EventFilter,
        ) -> Result<BoxStream<'static, Result<EventRecord>>> {
            let fields = filter.field_selector();
            // The starting point: the current list (not yielded), so only new events follow.
            let (seen, rv) = self.event_snapshot(fields.as_deref()).await?;
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<EventRecord>>(256);
            let this = self.clone();
            tokio::spawn(async move { this.pump_events(fields, seen, rv, tx).await });
            Ok(futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
            )
            .boxed())
        }
    }

    type Seen = HashMap<String, String>;

    fn key(e: &Event) -> (String, String) {
        (
            e.metadata.name.clone().unwrap_or_default(),
            e.metadata.resource_version.clone().unwrap_or_default(),
        )
    }

    impl KubeCluster {
        /// Every current event's name and resourceVersion, and the list's resourceVersion.
        async fn event_snapshot(&self, fields: Option<&str>) -> Result<(Seen, String)> {
            let api = self.api::<Event>();
            let mut lp = ListParams::default().limit(self.opts.page_size);
            if let Some(f) = fields {
                lp = lp.fields(f);
            }
            let mut seen = Seen::new();
            let mut token: Option<String> = None;
            loop {
                let mut p = lp.clone();
                if let Some(t) = &token {
                    p = p.continue_token(t);
                }
                let page = self.call("list events", || api.list(&p)).await?;
                for e in &page.items {
                    let (k, v) = key(e);
                    seen.insert(k, v);
                }
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => token = Some(c),
                    None => return Ok((seen, page.metadata.resource_version.unwrap_or_default())),
                }
            }
        }

        /// Feeds `tx` until the receiver goes away or a permanent error occurs: watches from
        /// `rv`, re-watches after a drop from the last position, re-lists after 410 and
        /// yields only events not yielded (or listed) before.
        async fn pump_events(
            self,
            fields: Option<String>,
            mut seen: Seen,
            mut rv: String,
            tx: tokio::sync::mpsc::Sender<Result<EventRecord>>,
        ) {
            let api = self.api::<Event>();
            let mut failures = 0u32;
            loop {
                let mut wp = WatchParams::default().timeout(290);
                if let Some(f) = &fields {
                    wp = wp.fields(f);
                }
                let mut expired = false;
                match api.watch(&wp, &rv).await {
                    Ok(stream) => {
                        let mut stream = stream.boxed();
                        loop {
                            // Stop as soon as the consumer goes away, even on a quiet watch.
                            let next = tokio::select! {
                                n = stream.try_next() => n,
                                () = tx.closed() => return,
                            };
                            let item = match next {
                                Ok(Some(item)) => item,
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::debug!(error = %e, "event watch interrupted");
                                    break;
                                }
                            };
                            failures = 0;
                            match item {
                                WatchEvent::Added(e) | WatchEvent::Modified(e) => {
                                    let (k, v) = key(&e);
                                    rv = v.clone();
                                    if seen.get(&k) == Some(&v) {
                                        continue;
                                    }
                                    seen.insert(k, v);
                                    if tx.send(Ok(EventRecord::from_event(&e))).await.is_err() {
                                        return;
                                    }
                                }
                                WatchEvent::Deleted(e) => {
                                    let (k, v) = key(&e);
                                    rv = v;
                                    seen.remove(&k);
                                }
                                WatchEvent::Bookmark(b) => rv = b.metadata.resource_version,
                                WatchEvent::Error(status) => {
                                    if status.code == 410 {
                                        expired = true;
                                    } else {
                                        tracing::debug!(code = status.code, message = %status.message, "event watch error");
                                        failures += 1;
                                    }
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => {
                        let err = Error::from_kube("watch events", e);
                        if err.status_code() == Some(410) {
                            expired = true;
                        } else if err.is_transient() {
                            failures += 1;
                        } else {
                            let _ = tx.send(Err(err)).await;
                            return;
                        }
                    }
                }
                if tx.is_closed() {
                    return;
                }
                if failures > self.opts.retry.max_attempts {
                    let _ = tx
                        .send(Err(Error::unexpected(
                            "watch events",
                            format!("{failures} consecutive failures to re-establish the watch"),
                        )))
                        .await;
                    return;
                }
                if failures > 0 {
                    let delay = self
                        .opts
                        .retry
                        .initial_backoff
                        .saturating_mul(failures)
                        .min(self.opts.retry.max_backoff);
                    tokio::time::sleep(delay).await;
                }
                if expired {
                    // Our position is gone: list again and yield what we have not seen.
                    match self.relist_events(fields.as_deref(), &mut seen, &tx).await {
                        Ok(Some(new_rv)) => rv = new_rv,
                        Ok(None) => return,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    }
                }
            }
        }

        async fn relist_events(
            &self,
            fields: Option<&str>,
            seen: &mut Seen,
            tx: &tokio::sync::mpsc::Sender<Result<EventRecord>>,
        ) -> Result<Option<String>> {
            let api = self.api::<Event>();
            let mut lp = ListParams::default();
            if let Some(f) = fields {
                lp = lp.fields(f);
            }
            let list = self.call("list events", || api.list(&lp)).await?;
            let mut fresh: Vec<EventRecord> = Vec::new();
            let mut now = Seen::new();
            for e in &list.items {
                let (k, v) = key(e);
                if seen.get(&k) != Some(&v) {
                    fresh.push(EventRecord::from_event(e));
                }
                now.insert(k, v);
            }
            *seen = now;
            sort_events(&mut fresh);
            for r in fresh {
                if tx.send(Ok(r)).await.is_err() {
                    return Ok(None);
                }
            }
            Ok(Some(list.metadata.resource_version.unwrap_or_default()))
        }
    }
}
