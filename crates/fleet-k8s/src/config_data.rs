//! ConfigMap keys and Secrets: a feature flag in a ConfigMap (the incident runbook's circuit
//! breaker), one key of an application Secret (a rotated credential), and service-account
//! token Secrets (revoked in a security incident). Secret values are written, never read back
//! and never logged.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::outcome::WriteOutcome;

/// Per-call options of [`ConfigData`]'s writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigDataOptions {
    /// Validate on the server (`dryRun=All`) and store nothing.
    pub dry_run: bool,
}

impl ConfigDataOptions {
    /// Sets `dry_run`.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// A Secret holding a service-account token (`kubernetes.io/service-account-token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenSecret {
    /// The Secret's name.
    pub name: String,
    /// The service account it authenticates as (`kubernetes.io/service-account.name`).
    pub service_account: Option<String>,
}

/// ConfigMap keys and Secrets of the namespace.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait ConfigData: Send + Sync {
    /// One key of a ConfigMap; `None` when the key is absent (the ConfigMap must exist).
    async fn config_map_value(&self, name: &str, key: &str) -> Result<Option<String>>;

    /// Sets one key of an existing ConfigMap (a merge patch); returns the previous value.
    async fn set_config_map_value(
        &self,
        name: &str,
        key: &str,
        value: &str,
        options: Option<ConfigDataOptions>,
    ) -> Result<WriteOutcome<Option<String>>>;

    /// The keys of a Secret (never the values).
    async fn secret_keys(&self, name: &str) -> Result<Vec<String>>;

    /// Sets one key of an existing Secret (a merge patch of `data`); the value is sent once and
    /// appears in no error, log or return value.
    async fn set_secret_value(
        &self,
        name: &str,
        key: &str,
        value: &str,
        options: Option<ConfigDataOptions>,
    ) -> Result<WriteOutcome<()>>;

    /// The service-account token Secrets, of one service account or all.
    async fn token_secrets(&self, service_account: Option<String>) -> Result<Vec<TokenSecret>>;

    /// Deletes a Secret (a token Secret, to revoke its token).
    async fn delete_secret(
        &self,
        name: &str,
        options: Option<ConfigDataOptions>,
    ) -> Result<WriteOutcome<()>>;
}

const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
const SA_ANNOTATION: &str = "kubernetes.io/service-account.name";

mod kube_impl {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use kube::api::{DeleteParams, ListParams, Patch};
    use serde_json::json;

    use super::{ConfigData, ConfigDataOptions, SA_ANNOTATION, TOKEN_TYPE, TokenSecret};
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};
    use crate::outcome::{WriteOutcome, verb};
    use crate::validate;

    fn check_key(key: &str) -> Result<()> {
        let ok = !key.is_empty()
            && key.len() <= 253
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                "data key",
                key,
                "use 1 to 253 of A-Z a-z 0-9 - _ .",
            ))
        }
    }

    #[async_trait::async_trait]
    impl ConfigData for KubeCluster {
        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), configmap = name, key))]
        async fn config_map_value(&self, name: &str, key: &str) -> Result<Option<String>> {
            validate::object_name("configmap name", name)?;
            check_key(key)?;
            let api = self.api::<ConfigMap>();
            let cm = self
                .call(&format!("get configmap {name}"), || api.get(name))
                .await?;
            Ok(cm.data.and_then(|mut d| d.remove(key)))
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), configmap = name, key))]
        async fn set_config_map_value(
            &self,
            name: &str,
            key: &str,
            value: &str,
            options: Option<ConfigDataOptions>,
        ) -> Result<WriteOutcome<Option<String>>> {
            let dry_run = self.dry_run(options.unwrap_or_default().dry_run);
            let before = self.config_map_value(name, key).await?;
            let api = self.api::<ConfigMap>();
            let pp = self.patch_params(dry_run);
            let patch = Patch::Merge(json!({"data": {key: value}}));
            self.call(&format!("patch configmap {name}"), || {
                api.patch(name, &pp, &patch)
            })
            .await?;
            tracing::info!(
                configmap = name,
                key,
                value,
                "{}",
                verb(dry_run, "configmap key set", "would set the configmap key")
            );
            Ok(WriteOutcome::new(before, dry_run))
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), secret = name))]
        async fn secret_keys(&self, name: &str) -> Result<Vec<String>> {
            validate::object_name("secret name", name)?;
            let api = self.api::<Secret>();
            let s = self
                .call(&format!("get secret {name}"), || api.get(name))
                .await?;
            let mut keys: Vec<String> = s.data.unwrap_or_default().into_keys().collect();
            keys.extend(s.string_data.unwrap_or_default().into_keys());
            keys.sort();
            keys.dedup();
            Ok(keys)
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), secret = name, key))]
        async fn set_secret_value(
            &self,
            name: &str,
            key: &str,
            value: &str,
            options: Option<ConfigDataOptions>,
        ) -> Result<WriteOutcome<()>> {
            validate::object_name("secret name", name)?;
            check_key(key)?;
            let dry_run = self.dry_run(options.unwrap_or_default().dry_run);
            let encoded = serde_json::to_value(ByteString(value.as_bytes().to_vec()))
                .map_err(|e| Error::unexpected("encode the secret value", e.to_string()))?;
            let api = self.api::<Secret>();
            let pp = self.patch_params(dry_run);
            let patch = Patch::Merge(json!({"data": {key: encoded}}));
            self.call(&format!("patch secret {name}"), || {
                api.patch(name, &pp, &patch)
            })
            .await?;
            tracing::info!(
                secret = name,
                key,
                "{}",
                verb(dry_run, "secret key set", "would set the secret key")
            );
            Ok(WriteOutcome::new((), dry_run))
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
        async fn token_secrets(&self, service_account: Option<String>) -> Result<Vec<TokenSecret>> {
            let api = self.api::<Secret>();
            let all = self
                .list_all(&api, &ListParams::default(), "list token secrets")
                .await?;
            let mut out: Vec<TokenSecret> = all
                .into_iter()
                .filter(|s| s.type_.as_deref() == Some(TOKEN_TYPE))
                .map(|s| TokenSecret {
                    name: s.metadata.name.unwrap_or_default(),
                    service_account: s
                        .metadata
                        .annotations
                        .and_then(|mut a| a.remove(SA_ANNOTATION)),
                })
                .filter(|t| {
                    service_account
                        .as_deref()
                        .is_none_or(|sa| t.service_account.as_deref() == Some(sa))
                })
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), secret = name))]
        async fn delete_secret(
            &self,
            name: &str,
            options: Option<ConfigDataOptions>,
        ) -> Result<WriteOutcome<()>> {
            validate::object_name("secret name", name)?;
            let dry_run = self.dry_run(options.unwrap_or_default().dry_run);
            let api = self.api::<Secret>();
            let dp = if dry_run {
                DeleteParams {
                    dry_run: true,
                    ..DeleteParams::default()
                }
            } else {
                DeleteParams::default()
            };
            self.call(&format!("delete secret {name}"), || api.delete(name, &dp))
                .await?;
            tracing::info!(
                secret = name,
                "{}",
                verb(dry_run, "secret deleted", "would delete the secret")
            );
            Ok(WriteOutcome::new((), dry_run))
        }
    }
}
