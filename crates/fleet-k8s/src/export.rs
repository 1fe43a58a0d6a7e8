//! Export: every namespaced resource of the namespace, found through discovery, listed page by
//! page and streamed, so memory stays bounded by the page size (for backups).

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

/// Options of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// Resources to leave out, as `resource` (core) or `resource.group`. Default: events
    /// (`events`, `events.events.k8s.io`), which are history rather than configuration.
    pub exclude: Vec<String>,
    /// Objects per list request (the page size bounds memory).
    pub page_size: u32,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            exclude: vec!["events".into(), "events.events.k8s.io".into()],
            page_size: 500,
        }
    }
}

impl ExportOptions {
    /// Sets the page size.
    #[must_use]
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }
    /// Leaves a resource out.
    #[must_use]
    pub fn exclude(mut self, resource: impl Into<String>) -> Self {
        self.exclude.push(resource.into());
        self
    }
}

/// Exporting a namespace.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Export: Send + Sync {
    /// The namespaced, listable kinds discovery finds (preferred versions), minus exclusions.
    async fn export_kinds(&self, options: &ExportOptions) -> Result<Vec<ExportKind>>;
    /// Every object of those kinds, streamed page by page in kind order.
    async fn export_namespace(
        &self,
        options: &ExportOptions,
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

    impl KubeCluster {
        async fn discover(
            &self,
            options: &ExportOptions,
        ) -> Result<Vec<(ApiResource, ExportKind)>> {
            let discovery = Discovery::new(self.client.clone())
                .run()
                .await
                .map_err(|e| Error::from_kube("discover API resources", e))?;
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
                    out.push((ar, kind));
                }
            }
            Ok(out)
        }
    }

    #[async_trait::async_trait]
    impl Export for KubeCluster {
        async fn export_kinds(&self, options: &ExportOptions) -> Result<Vec<ExportKind>> {
            Ok(self
                .discover(options)
                .await?
                .into_iter()
                .map(|(_, k)| k)
                .collect())
        }

        async fn export_namespace(
            &self,
            options: &ExportOptions,
        ) -> Result<BoxStream<'static, Result<ExportedObject>>> {
            let kinds = self.discover(options).await?;
            // A small channel: the producer is at most one page ahead of the consumer.
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<ExportedObject>>(64);
            let this = self.clone();
            let page = options.page_size.max(1);
            tokio::spawn(async move {
                for (ar, kind) in kinds {
                    let api: Api<DynamicObject> =
                        Api::namespaced_with(this.client.clone(), this.namespace(), &ar);
                    let mut token: Option<String> = None;
                    loop {
                        let mut lp = ListParams::default().limit(page);
                        if let Some(t) = &token {
                            lp = lp.continue_token(t);
                        }
                        let op = format!("list {}", kind.qualified());
                        let list = match this.call(&op, || api.list(&lp)).await {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        };
                        for mut obj in list.items {
                            obj.types = Some(kube::core::TypeMeta {
                                api_version: ar.api_version.clone(),
                                kind: ar.kind.clone(),
                            });
                            let name = obj.name_any();
                            let item = serde_json::to_value(&obj)
                                .map(|object| ExportedObject {
                                    api_version: ar.api_version.clone(),
                                    kind: ar.kind.clone(),
                                    resource: ar.plural.clone(),
                                    name,
                                    object,
                                })
                                .map_err(|e| Error::unexpected(op.clone(), e.to_string()));
                            if tx.send(item).await.is_err() {
                                return;
                            }
                        }
                        match list.metadata.continue_.filter(|c| !c.is_empty()) {
                            Some(c) => token = Some(c),
                            None => break,
                        }
                    }
                }
            });
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
