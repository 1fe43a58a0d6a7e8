//! Events: the namespace's `core/v1` events as [`EventRecord`]s, listed or watched, warnings
//! only on request, with the watch resuming after a drop.

use futures::stream::BoxStream;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;

use crate::error::Result;
use crate::selector::FieldSelector;
use crate::time;

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

    /// Reads a `core/v1` Event (for events obtained other than through [`Events`]).
    pub fn from_event(e: &Event) -> Self {
        let created = time::from_time(e.metadata.creation_timestamp.as_ref());
        let event_time = time::from_micro_time(e.event_time.as_ref());
        let last_series = time::from_micro_time(
            e.series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref()),
        );
        let first_seen = time::from_time(e.first_timestamp.as_ref())
            .or(event_time)
            .or(created);
        let last_seen = time::from_time(e.last_timestamp.as_ref())
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

/// Options of [`Events::list_events`] and [`Events::watch_events`]: which events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventOptions {
    /// Only `Warning` events (`--field-selector type=Warning`).
    pub warnings_only: bool,
    /// Only events about objects of this kind (`Pod`, `Deployment`...).
    pub kind: Option<String>,
    /// Only events about the object with this name.
    pub name: Option<String>,
}

impl EventOptions {
    /// Warnings only.
    #[must_use]
    pub fn with_warnings_only(mut self, on: bool) -> Self {
        self.warnings_only = on;
        self
    }
    /// Restricts to one object.
    #[must_use]
    pub fn with_object(mut self, kind: impl Into<String>, name: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self.name = Some(name.into());
        self
    }

    /// The field selector the server evaluates (values escaped).
    pub(crate) fn field_selector(&self) -> Option<String> {
        let mut s = FieldSelector::default();
        if self.warnings_only {
            s = s.with_equals("type", "Warning");
        }
        if let Some(k) = &self.kind {
            s = s.with_equals("involvedObject.kind", k.as_str());
        }
        if let Some(n) = &self.name {
            s = s.with_equals("involvedObject.name", n.as_str());
        }
        (!s.is_everything()).then(|| s.to_string())
    }
}

/// Listing and watching the namespace's events.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Events: Send + Sync {
    /// Events matching the options, oldest first by last occurrence (as `kubectl get events`
    /// sorts them).
    async fn list_events(&self, options: Option<EventOptions>) -> Result<Vec<EventRecord>>;

    /// Events from now on (`kubectl get events --watch` without the initial list): a stream
    /// that re-establishes its watch after drops and expired positions, with back-off, without
    /// repeating events it already yielded. An error ends the stream: a permanent one at once,
    /// transient ones after the retry policy's `max_attempts` consecutive failures.
    async fn watch_events(
        &self,
        options: Option<EventOptions>,
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

    use futures::StreamExt;
    use futures::stream::BoxStream;
    use k8s_openapi::api::core::v1::Event;
    use kube::api::ListParams;

    use super::{EventOptions, EventRecord, Events, sort_events};
    use crate::cluster::KubeCluster;
    use crate::error::Result;
    use crate::watch::{Change, Resumable};

    /// Event name to the resourceVersion last yielded or listed.
    type Seen = HashMap<String, String>;

    fn key(e: &Event) -> (String, String) {
        (
            e.metadata.name.clone().unwrap_or_default(),
            e.metadata.resource_version.clone().unwrap_or_default(),
        )
    }

    #[async_trait::async_trait]
    impl Events for KubeCluster {
        #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
        async fn list_events(&self, options: Option<EventOptions>) -> Result<Vec<EventRecord>> {
            let options = options.unwrap_or_default();
            let api = self.api::<Event>();
            let mut lp = ListParams::default();
            if let Some(f) = options.field_selector() {
                lp = lp.fields(&f);
            }
            let events = self.list_all(&api, &lp, "list events").await?;
            let mut v: Vec<EventRecord> = events.iter().map(EventRecord::from_event).collect();
            sort_events(&mut v);
            Ok(v)
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
        async fn watch_events(
            &self,
            options: Option<EventOptions>,
        ) -> Result<BoxStream<'static, Result<EventRecord>>> {
            let fields = options.unwrap_or_default().field_selector();
            // The starting point: the current list (not yielded), so only new events follow.
            let (watch, items) =
                Resumable::start(self.clone(), self.api::<Event>(), fields, "events".into())
                    .await?;
            let seen: Seen = items.iter().map(key).collect();
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<EventRecord>>(256);
            tokio::spawn(pump(watch, seen, tx));
            Ok(futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
            )
            .boxed())
        }
    }

    /// Feeds `tx` until the receiver goes away or the watch fails for good, yielding only
    /// events not yielded (or listed) before.
    async fn pump(
        mut watch: Resumable<Event>,
        mut seen: Seen,
        tx: tokio::sync::mpsc::Sender<Result<EventRecord>>,
    ) {
        loop {
            // Stop as soon as the consumer goes away, even on a quiet watch.
            let change = tokio::select! {
                c = watch.next() => c,
                () = tx.closed() => return,
            };
            let fresh = match change {
                Ok(Change::Applied(e)) => {
                    let (k, v) = key(&e);
                    if seen.get(&k) == Some(&v) {
                        continue;
                    }
                    seen.insert(k, v);
                    vec![EventRecord::from_event(&e)]
                }
                Ok(Change::Deleted(e)) => {
                    seen.remove(&key(&e).0);
                    continue;
                }
                Ok(Change::Relisted(items)) => {
                    // Our position was gone: yield what the new list has that we have not seen.
                    let mut now = Seen::new();
                    let mut fresh = Vec::new();
                    for e in &items {
                        let (k, v) = key(e);
                        if seen.get(&k) != Some(&v) {
                            fresh.push(EventRecord::from_event(e));
                        }
                        now.insert(k, v);
                    }
                    seen = now;
                    sort_events(&mut fresh);
                    fresh
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            for r in fresh {
                if tx.send(Ok(r)).await.is_err() {
                    return;
                }
            }
        }
    }
}
