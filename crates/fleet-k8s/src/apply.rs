//! Reading, creating and replacing objects of any kind as JSON (for restores of exported
//! configuration), with server-side dry run. Added for fleet-backup; self-contained.

use serde_json::Value;

use crate::error::Result;

/// Which object: its type (`apiVersion`, `kind` and plural `resource`, as an export records
/// them), its namespace (`None` for cluster-scoped kinds such as Namespace) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DynamicRef {
    /// `apps/v1`, `v1`.
    pub api_version: String,
    /// `Deployment`.
    pub kind: String,
    /// `deployments`.
    pub resource: String,
    /// The namespace, or `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl DynamicRef {
    /// A namespaced object.
    pub fn namespaced(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        resource: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            resource: resource.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// A cluster-scoped object.
    pub fn cluster(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        resource: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            resource: resource.into(),
            namespace: None,
            name: name.into(),
        }
    }

    /// `deployments.apps/fleet-management/fleet-api`-style text for messages.
    pub fn describe(&self) -> String {
        let group = self.api_version.rsplit_once('/').map(|(g, _)| g);
        let resource = match group {
            Some(g) => format!("{}.{g}", self.resource),
            None => self.resource.clone(),
        };
        match &self.namespace {
            Some(ns) => format!("{resource}/{ns}/{}", self.name),
            None => format!("{resource}/{}", self.name),
        }
    }
}

/// Options of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Send `dryRun=All`: the server validates, defaults and answers with the result, and
    /// stores nothing. (A handle made with `KubeCluster::as_dry_run` always does.)
    pub dry_run: bool,
}

impl WriteOptions {
    /// A server-side dry run.
    pub fn dry_run() -> Self {
        Self { dry_run: true }
    }
}

/// Objects of any kind, as JSON.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait ApplyObjects: Send + Sync {
    /// The object as stored, or `None` when it does not exist.
    async fn get_object(&self, target: &DynamicRef) -> Result<Option<Value>>;
    /// Creates the object (its `metadata.name`/`namespace` must match `target`) and returns
    /// what the server stored (or would store, in a dry run).
    async fn create_object(
        &self,
        target: &DynamicRef,
        object: &Value,
        options: &WriteOptions,
    ) -> Result<Value>;
    /// Replaces the object (a `PUT`; `metadata.resourceVersion` must be the stored one, or
    /// absent to overwrite unconditionally) and returns what the server stored (or would).
    async fn replace_object(
        &self,
        target: &DynamicRef,
        object: &Value,
        options: &WriteOptions,
    ) -> Result<Value>;
}

mod kube_impl {
    use kube::api::{ApiResource, DynamicObject, PostParams};
    use kube::{Api, ResourceExt as _};
    use serde_json::Value;

    use super::{ApplyObjects, DynamicRef, WriteOptions};
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};

    impl KubeCluster {
        fn dynamic_api(&self, target: &DynamicRef) -> Result<Api<DynamicObject>> {
            crate::validate::object_name("object name", &target.name)?;
            let (group, version) = match target.api_version.rsplit_once('/') {
                Some((g, v)) => (g.to_owned(), v.to_owned()),
                None => (String::new(), target.api_version.clone()),
            };
            if version.is_empty() || target.kind.is_empty() || target.resource.is_empty() {
                return Err(Error::invalid(
                    "object type",
                    target.describe(),
                    "apiVersion, kind and resource must be set",
                ));
            }
            let ar = ApiResource {
                group,
                version,
                api_version: target.api_version.clone(),
                kind: target.kind.clone(),
                plural: target.resource.clone(),
            };
            Ok(match &target.namespace {
                Some(ns) => {
                    crate::validate::label_name("namespace", ns)?;
                    Api::namespaced_with(self.client.clone(), ns, &ar)
                }
                None => Api::all_with(self.client.clone(), &ar),
            })
        }

        fn write_params(&self, options: &WriteOptions) -> PostParams {
            PostParams {
                dry_run: options.dry_run || self.opts.dry_run,
                field_manager: Some(self.opts.field_manager.clone()),
            }
        }

        fn as_dynamic(target: &DynamicRef, object: &Value) -> Result<DynamicObject> {
            let obj: DynamicObject = serde_json::from_value(object.clone()).map_err(|e| {
                Error::invalid(
                    "object",
                    target.describe(),
                    format!("not a Kubernetes object: {e}"),
                )
            })?;
            if obj.name_any() != target.name || obj.metadata.namespace != target.namespace {
                return Err(Error::invalid(
                    "object",
                    target.describe(),
                    "metadata.name and metadata.namespace must match the target",
                ));
            }
            Ok(obj)
        }
    }

    fn to_value(op: &str, obj: &DynamicObject) -> Result<Value> {
        serde_json::to_value(obj).map_err(|e| Error::unexpected(op.to_owned(), e.to_string()))
    }

    #[async_trait::async_trait]
    impl ApplyObjects for KubeCluster {
        async fn get_object(&self, target: &DynamicRef) -> Result<Option<Value>> {
            let api = self.dynamic_api(target)?;
            let op = format!("get {}", target.describe());
            match self.call(&op, || api.get_opt(&target.name)).await? {
                Some(o) => Ok(Some(to_value(&op, &o)?)),
                None => Ok(None),
            }
        }

        async fn create_object(
            &self,
            target: &DynamicRef,
            object: &Value,
            options: &WriteOptions,
        ) -> Result<Value> {
            let api = self.dynamic_api(target)?;
            let obj = Self::as_dynamic(target, object)?;
            let pp = self.write_params(options);
            let op = format!("create {}", target.describe());
            let created = self.call(&op, || api.create(&pp, &obj)).await?;
            to_value(&op, &created)
        }

        async fn replace_object(
            &self,
            target: &DynamicRef,
            object: &Value,
            options: &WriteOptions,
        ) -> Result<Value> {
            let api = self.dynamic_api(target)?;
            let obj = Self::as_dynamic(target, object)?;
            let pp = self.write_params(options);
            let op = format!("replace {}", target.describe());
            let replaced = self
                .call(&op, || api.replace(&target.name, &pp, &obj))
                .await?;
            to_value(&op, &replaced)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_objects() {
        let d = DynamicRef::namespaced("apps/v1", "Deployment", "deployments", "ns", "api");
        assert_eq!(d.describe(), "deployments.apps/ns/api");
        let n = DynamicRef::cluster("v1", "Namespace", "namespaces", "ns");
        assert_eq!(n.describe(), "namespaces/ns");
    }
}
