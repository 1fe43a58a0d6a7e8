//! Export: every namespaced resource of the namespace, found through discovery, listed page by
//! page and streamed, so memory stays bounded by the page size (for backups).

use std::time::Duration;

use futures::stream::BoxStream;

use crate::error::Result;

/// One exported object. Its `Debug` hides the values of a Secret's `data` and `stringData`.
#[derive(Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ExportedObject {
    /// `apiVersion` (`apps/v1`).
    pub api_version: String,
    /// `kind` (`Deployment`).
    pub kind: String,
    /// Plural resource (`deployments`).
    pub resource: String,
    /// Name.
    pub name: String,
    /// The object as the server returned it, with `apiVersion` and `kind` filled in.
    pub object: serde_json::Value,
}

impl ExportedObject {
    /// The API group (`""` for core), from `api_version`.
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }
}

impl std::fmt::Debug for ExportedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.object.clone();
        if self.kind == "Secret" {
            for key in ["data", "stringData"] {
                if let Some(m) = shown
                    .get_mut(key)
                    .and_then(serde_json::Value::as_object_mut)
                {
                    for v in m.values_mut() {
                        *v = serde_json::Value::String("<redacted>".into());
                    }
                }
            }
            if let Some(ann) = shown
                .pointer_mut("/metadata/annotations")
                .and_then(serde_json::Value::as_object_mut)
            {
                ann.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
        f.debug_struct("ExportedObject")
            .field("api_version", &self.api_version)
            .field("kind", &self.kind)
            .field("resource", &self.resource)
            .field("name", &self.name)
            .field("object", &shown)
            .finish()
    }
}

/// A kind that an export covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ExportKind {
    /// Group (`""` for core).
    pub group: String,
    /// Version served.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource.
    pub resource: String,
}

impl ExportKind {
    /// `resource` for the core group, `resource.group` otherwise (the form of exclusions).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// Options of [`Export::export_kinds`] and [`Export::export_namespace`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// Resources to leave out, as `resource` (core) or `resource.group`. Default: events
    /// (`events`, `events.events.k8s.io`), which are history rather than configuration, and
    /// pod metrics (`pods.metrics.k8s.io`), which are live readings that cannot be restored.
    pub exclude: Vec<String>,
    /// Only these resources, as `resource` (core) or `resource.group`; empty (the default)
    /// means every kind discovery finds. A backup that runs under a Role granting `list` on
    /// a few kinds names them here; a name the server does not serve is an error rather than a
    /// silently smaller backup.
    pub include: Vec<String>,
    /// Objects per list request (the page size bounds memory).
    pub page_size: u32,
    /// Discovery (finding the kinds) must finish within this, else [`Error::Timeout`].
    /// Default 60 seconds.
    ///
    /// [`Error::Timeout`]: crate::Error::Timeout
    pub discovery_timeout: Duration,
    /// How many times one kind's list may start over after its continue token expired (410)
    /// before the export fails. Default 3.
    pub max_restarts: u32,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            exclude: vec![
                "events".into(),
                "events.events.k8s.io".into(),
                "pods.metrics.k8s.io".into(),
            ],
            include: Vec::new(),
            page_size: 500,
            discovery_timeout: Duration::from_secs(60),
            max_restarts: 3,
        }
    }
}

impl ExportOptions {
    /// Sets the page size (at least 1).
    #[must_use]
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }
    /// Leaves a resource out.
    #[must_use]
    pub fn with_exclude(mut self, resource: impl Into<String>) -> Self {
        self.exclude.push(resource.into());
        self
    }
    /// Exports `resource` (`resource` or `resource.group`) and, with further calls, only the
    /// resources named so.
    #[must_use]
    pub fn with_include(mut self, resource: impl Into<String>) -> Self {
        self.include.push(resource.into());
        self
    }
    /// Sets the discovery deadline.
    #[must_use]
    pub fn with_discovery_timeout(mut self, d: Duration) -> Self {
        self.discovery_timeout = d;
        self
    }
}

/// How many objects of each kind an export held: what `k8s_export --output text` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ExportSummary {
    /// `(qualified resource, objects)`, in export order.
    pub kinds: Vec<(String, u64)>,
    /// Objects in all.
    pub total: u64,
}

impl ExportSummary {
    /// Counts one object.
    pub fn add(&mut self, object: &ExportedObject) {
        let kind = if object.group().is_empty() {
            object.resource.clone()
        } else {
            format!("{}.{}", object.resource, object.group())
        };
        match self.kinds.last_mut() {
            Some((k, n)) if *k == kind => *n = n.saturating_add(1),
            _ => self.kinds.push((kind, 1)),
        }
        self.total = self.total.saturating_add(1);
    }

    /// A table: `RESOURCE  OBJECTS` rows and a total.
    pub fn render_text(&self) -> String {
        let width = self
            .kinds
            .iter()
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(0)
            .max("RESOURCE".len());
        let mut out = format!("{:<width$}  OBJECTS\n", "RESOURCE");
        for (k, n) in &self.kinds {
            out.push_str(&format!("{k:<width$}  {n}\n"));
        }
        out.push_str(&format!("{:<width$}  {}\n", "total", self.total));
        out
    }
}

/// Exporting a namespace.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Export: Send + Sync {
    /// The namespaced, listable kinds discovery finds (preferred versions), minus exclusions.
    async fn export_kinds(&self, options: Option<ExportOptions>) -> Result<Vec<ExportKind>>;
    /// Every object of those kinds, streamed page by page in kind order. When a kind's continue
    /// token expires mid-way (410), that kind is listed again from the start and the objects up
    /// to the last name already sent are skipped (the server lists in name order), so each
    /// object comes once (the kind is then not one consistent snapshot); after `max_restarts`
    /// such restarts the stream ends with the error.
    async fn export_namespace(
        &self,
        options: Option<ExportOptions>,
    ) -> Result<BoxStream<'static, Result<ExportedObject>>>;
}

mod kube_impl {
    use futures::StreamExt;
    use futures::stream::BoxStream;
    use kube::api::{ApiResource, DynamicObject, ListParams};
    use kube::core::discovery::{Scope, verbs};
    use kube::discovery::Discovery;
    use kube::{Api, ResourceExt};

    use super::{Export, ExportKind, ExportOptions, ExportedObject};
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};

    type Sender = tokio::sync::mpsc::Sender<Result<ExportedObject>>;

    impl KubeCluster {
        async fn discover(
            &self,
            options: &ExportOptions,
        ) -> Result<Vec<(ApiResource, ExportKind)>> {
            let op = "discover API resources";
            // Retried as a whole under the policy; the deadline bounds the retries too.
            let discovery = tokio::time::timeout(
                options.discovery_timeout,
                self.call(op, || Discovery::new(self.client.clone()).run()),
            )
            .await
            .map_err(|_| Error::Timeout {
                op: op.into(),
                after: options.discovery_timeout,
            })??;
            let mut out = Vec::new();
            for group in discovery.groups_alphabetical() {
                for (ar, caps) in group.recommended_resources() {
                    if caps.scope != Scope::Namespaced || !caps.supports_operation(verbs::LIST) {
                        continue;
                    }
                    let kind = ExportKind {
                        group: ar.group.clone(),
                        version: ar.version.clone(),
                        kind: ar.kind.clone(),
                        resource: ar.plural.clone(),
                    };
                    if options.exclude.iter().any(|x| *x == kind.qualified()) {
                        continue;
                    }
                    if !options.include.is_empty()
                        && !options.include.iter().any(|x| *x == kind.qualified())
                    {
                        continue;
                    }
                    out.push((ar, kind));
                }
            }
            let missing: Vec<&str> = options
                .include
                .iter()
                .filter(|x| !out.iter().any(|(_, k)| k.qualified() == **x))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Error::invalid(
                    "export include list",
                    missing.join(", "),
                    "the server serves no namespaced, listable resource of that name (or it is also excluded); write `resource` for the core group, `resource.group` otherwise",
                ));
            }
            tracing::debug!(kinds = out.len(), "discovered");
            Ok(out)
        }

        /// Sends every object of one kind; returns `false` when the receiver went away.
        async fn export_kind(
            &self,
            ar: &ApiResource,
            kind: &ExportKind,
            options: &ExportOptions,
            tx: &Sender,
        ) -> Result<bool> {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), self.namespace(), ar);
            let op = format!("list {}", kind.qualified());
            // The API server lists a namespace's objects in name order (its storage key), so
            // after a restart everything up to the last name sent was sent already: memory
            // stays one page, however large the kind.
            let mut last_sent: Option<String> = None;
            let mut resume_after: Option<String> = None;
            let mut restarts = 0u32;
            let mut token: Option<String> = None;
            loop {
                let mut lp = ListParams::default().limit(options.page_size.max(1));
                if let Some(t) = &token {
                    lp = lp.continue_token(t);
                }
                let list = match self.call(&op, || api.list(&lp)).await {
                    Ok(l) => l,
                    Err(e) if token.is_some() && e.status_code() == Some(410) => {
                        restarts = restarts.saturating_add(1);
                        if restarts > options.max_restarts {
                            return Err(e);
                        }
                        tracing::info!(kind = %kind.qualified(), restarts, "continue token expired, listing the kind again");
                        resume_after = last_sent.clone();
                        token = None;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for mut obj in list.items {
                    let name = obj.name_any();
                    if resume_after.as_ref().is_some_and(|r| name <= *r) {
                        continue;
                    }
                    obj.types = Some(kube::core::TypeMeta {
                        api_version: ar.api_version.clone(),
                        kind: ar.kind.clone(),
                    });
                    let item = serde_json::to_value(&obj)
                        .map(|object| ExportedObject {
                            api_version: ar.api_version.clone(),
                            kind: ar.kind.clone(),
                            resource: ar.plural.clone(),
                            name: name.clone(),
                            object,
                        })
                        .map_err(|e| Error::unexpected(op.clone(), e.to_string()));
                    if tx.send(item).await.is_err() {
                        return Ok(false);
                    }
                    last_sent = Some(name);
                }
                match list.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => token = Some(c),
                    None => return Ok(true),
                }
            }
        }
    }

    #[async_trait::async_trait]
    impl Export for KubeCluster {
        #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
        async fn export_kinds(&self, options: Option<ExportOptions>) -> Result<Vec<ExportKind>> {
            let options = options.unwrap_or_default();
            Ok(self
                .discover(&options)
                .await?
                .into_iter()
                .map(|(_, k)| k)
                .collect())
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
        async fn export_namespace(
            &self,
            options: Option<ExportOptions>,
        ) -> Result<BoxStream<'static, Result<ExportedObject>>> {
            let options = options.unwrap_or_default();
            let kinds = self.discover(&options).await?;
            // A small channel: the producer is at most one page ahead of the consumer.
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<ExportedObject>>(64);
            let this = self.clone();
            let span = tracing::Span::current();
            let producer = async move {
                for (ar, kind) in kinds {
                    match this.export_kind(&ar, &kind, &options, &tx).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    }
                }
            };
            tokio::spawn(tracing::Instrument::instrument(producer, span));
            Ok(futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
            )
            .boxed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_redacted_in_debug() {
        let o = ExportedObject {
            api_version: "v1".into(),
            kind: "Secret".into(),
            resource: "secrets".into(),
            name: "db".into(),
            object: serde_json::json!({"data": {"password": "aHVudGVyMg=="}, "stringData": {"x": "plain"}}),
        };
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("aHVudGVyMg==") && !shown.contains("plain"),
            "{shown}"
        );
        assert!(shown.contains("password"));
    }
}
