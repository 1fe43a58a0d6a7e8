//! A credential chain for tools, since azure_identity 1.0 has no `DefaultAzureCredential`.
//!
//! [`CredentialConfig`] says which sources may be tried; [`CredentialChain`] tries them in a
//! fixed order and keeps the first that produces a token:
//!
//! 1. **Client secret** (service principal): `tenant_id`, `client_id`, `client_secret`.
//!    From the environment: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`.
//! 2. **Workload identity** (AKS federated token): `tenant_id`, `client_id`,
//!    `federated_token_file`. From the environment: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!    `AZURE_FEDERATED_TOKEN_FILE` (set by the AKS workload-identity webhook).
//! 3. **Managed identity**: system-assigned, or user-assigned by client id. azure_identity
//!    itself reads `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` (App Service, Container Apps) and
//!    otherwise calls the VM metadata endpoint. Enabled from the environment when
//!    `IDENTITY_ENDPOINT` is set, or by `FLEET_AZURE_MANAGED_IDENTITY` = `system` or a client id
//!    (there is no standard variable for a VM or node identity, so tools opt in).
//! 4. **Developer tools**: `az account get-access-token`, then `azd auth token`
//!    (azure_identity's `DeveloperToolsCredential`). On unless `use_developer_tools` is false;
//!    from the environment it is off when `FLEET_AZURE_NO_DEVELOPER_TOOLS` is set.
//!
//! The library never reads the environment itself: a binary calls
//! [`CredentialConfig::from_env_vars`] with `std::env::vars()`. Tokens and the client secret
//! are never logged; `Debug` output redacts the secret.

use crate::options::AzureCloud;
use crate::secrets::SecretValue;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::ClientOptions;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Which managed identity to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagedIdentity {
    /// The resource's system-assigned identity.
    SystemAssigned,
    /// A user-assigned identity by client id.
    ClientId(String),
}

/// Which credential sources a [`CredentialChain`] may try.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialConfig {
    /// Entra tenant id.
    pub tenant_id: Option<String>,
    /// Application (client) id.
    pub client_id: Option<String>,
    /// Client secret of a service principal (redacted in `Debug`).
    pub client_secret: Option<SecretValue>,
    /// Path of a federated token file (workload identity).
    pub federated_token_file: Option<PathBuf>,
    /// Managed identity to try, if any.
    pub managed_identity: Option<ManagedIdentity>,
    /// Whether to fall back to `az` / `azd`.
    pub use_developer_tools: bool,
    /// The cloud (authority host).
    pub cloud: AzureCloud,
}

impl CredentialConfig {
    /// Reads the variables listed in the module docs from `vars` (pass `std::env::vars()`).
    /// Empty values count as unset.
    pub fn from_env_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars: std::collections::HashMap<String, String> = vars
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        let get = |k: &str| vars.get(k).cloned();
        let managed_identity = match get("FLEET_AZURE_MANAGED_IDENTITY") {
            Some(v) if v.eq_ignore_ascii_case("system") => Some(ManagedIdentity::SystemAssigned),
            Some(client_id) => Some(ManagedIdentity::ClientId(client_id)),
            None if vars.contains_key("IDENTITY_ENDPOINT") => Some(ManagedIdentity::SystemAssigned),
            None => None,
        };
        Self {
            tenant_id: get("AZURE_TENANT_ID"),
            client_id: get("AZURE_CLIENT_ID"),
            client_secret: get("AZURE_CLIENT_SECRET").map(SecretValue::new),
            federated_token_file: get("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            managed_identity,
            use_developer_tools: !vars.contains_key("FLEET_AZURE_NO_DEVELOPER_TOOLS"),
            cloud: AzureCloud::default(),
        }
    }
}

/// One link of the chain.
#[derive(Clone, Debug)]
pub struct CredentialSource {
    /// A short name for messages (`client-secret`, `workload-identity`, ...).
    pub name: &'static str,
    /// The credential.
    pub credential: Arc<dyn TokenCredential>,
}

/// Tries its sources in order; the first that returns a token is used from then on.
#[derive(Debug)]
pub struct CredentialChain {
    sources: Vec<CredentialSource>,
    chosen: Mutex<Option<usize>>,
}

impl CredentialChain {
    /// A chain over explicit sources (also how tests build one).
    pub fn new(sources: Vec<CredentialSource>) -> Self {
        Self {
            sources,
            chosen: Mutex::new(None),
        }
    }

    /// The chain `config` describes, in the documented order. Sources whose settings are
    /// incomplete are left out; an empty chain is an error naming what is missing.
    pub fn from_config(config: &CredentialConfig) -> azure_core::Result<Self> {
        let client_options = || ClientOptions {
            cloud: Some(Arc::new(config.cloud.cloud_configuration())),
            ..Default::default()
        };
        let mut sources = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        if let (Some(tenant), Some(client), Some(secret)) =
            (&config.tenant_id, &config.client_id, &config.client_secret)
        {
            let credential = azure_identity::ClientSecretCredential::new(
                tenant,
                client.clone(),
                Secret::new(secret.expose().to_owned()),
                Some(azure_identity::ClientSecretCredentialOptions {
                    client_options: client_options(),
                }),
            )?;
            sources.push(CredentialSource {
                name: "client-secret",
                credential,
            });
        }
        if let (Some(tenant), Some(client), Some(file)) = (
            &config.tenant_id,
            &config.client_id,
            &config.federated_token_file,
        ) {
            // azure_identity reads the token file when the credential is built; an unreadable
            // file leaves this source out (and is reported if no source is left) instead of
            // failing the whole chain.
            match azure_identity::WorkloadIdentityCredential::new(Some(
                azure_identity::WorkloadIdentityCredentialOptions {
                    credential_options: azure_identity::ClientAssertionCredentialOptions {
                        client_options: client_options(),
                    },
                    client_id: Some(client.clone()),
                    tenant_id: Some(tenant.clone()),
                    token_file_path: Some(file.clone()),
                },
            )) {
                Ok(credential) => sources.push(CredentialSource {
                    name: "workload-identity",
                    credential,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "workload identity configured but unusable; skipped");
                    skipped.push(format!("workload-identity: {e}"));
                }
            }
        }
        if let Some(identity) = &config.managed_identity {
            let user_assigned_id = match identity {
                ManagedIdentity::SystemAssigned => None,
                ManagedIdentity::ClientId(id) => {
                    Some(azure_identity::UserAssignedId::ClientId(id.clone()))
                }
            };
            let credential = azure_identity::ManagedIdentityCredential::new(Some(
                azure_identity::ManagedIdentityCredentialOptions {
                    user_assigned_id,
                    client_options: client_options(),
                },
            ))?;
            sources.push(CredentialSource {
                name: "managed-identity",
                credential,
            });
        }
        if config.use_developer_tools {
            let credential = azure_identity::DeveloperToolsCredential::new(None)?;
            sources.push(CredentialSource {
                name: "developer-tools",
                credential,
            });
        }
        if sources.is_empty() {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                format!(
                    "no credential source configured: set AZURE_TENANT_ID + AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, enable a managed identity, or allow developer tools{}",
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!(" (skipped: {})", skipped.join("; "))
                    }
                ),
            ));
        }
        Ok(Self::new(sources))
    }

    /// The names of the sources, in order.
    pub fn source_names(&self) -> Vec<&'static str> {
        self.sources.iter().map(|s| s.name).collect()
    }

    /// The source that produced the last token, once one has.
    pub fn chosen(&self) -> Option<&'static str> {
        let chosen = self.chosen.lock().ok().and_then(|c| *c)?;
        self.sources.get(chosen).map(|s| s.name)
    }
}

#[async_trait::async_trait]
impl TokenCredential for CredentialChain {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = self.chosen.lock().ok().and_then(|c| *c);
        if let Some(source) = chosen.and_then(|i| self.sources.get(i)) {
            return source.credential.get_token(scopes, options).await;
        }
        let mut failures = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            match source.credential.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    tracing::info!(
                        source = source.name,
                        "azure credential chain chose a source"
                    );
                    if let Ok(mut c) = self.chosen.lock() {
                        *c = Some(i);
                    }
                    return Ok(token);
                }
                Err(e) => {
                    tracing::debug!(source = source.name, error = %e, "azure credential source failed");
                    failures.push(format!("{}: {e}", source.name));
                }
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!(
                "no credential source produced a token ({})",
                failures.join("; ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::time::{Duration, OffsetDateTime};
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct Fake {
        ok: bool,
        calls: AtomicU32,
    }

    #[async_trait::async_trait]
    impl TokenCredential for Fake {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if self.ok {
                Ok(AccessToken::new(
                    "t",
                    OffsetDateTime::now_utc() + Duration::hours(1),
                ))
            } else {
                Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    "not here",
                ))
            }
        }
    }

    fn fake(ok: bool) -> Arc<Fake> {
        Arc::new(Fake {
            ok,
            calls: AtomicU32::new(0),
        })
    }

    #[tokio::test]
    async fn first_working_source_is_kept() -> azure_core::Result<()> {
        let (a, b, c) = (fake(false), fake(true), fake(true));
        let chain = CredentialChain::new(vec![
            CredentialSource {
                name: "a",
                credential: a.clone(),
            },
            CredentialSource {
                name: "b",
                credential: b.clone(),
            },
            CredentialSource {
                name: "c",
                credential: c.clone(),
            },
        ]);
        chain.get_token(&["s"], None).await?;
        chain.get_token(&["s"], None).await?;
        assert_eq!(chain.chosen(), Some("b"));
        assert_eq!(a.calls.load(Ordering::Relaxed), 1);
        assert_eq!(b.calls.load(Ordering::Relaxed), 2);
        assert_eq!(c.calls.load(Ordering::Relaxed), 0);
        Ok(())
    }

    #[tokio::test]
    async fn all_failing_names_each_source() {
        let chain = CredentialChain::new(vec![
            CredentialSource {
                name: "a",
                credential: fake(false),
            },
            CredentialSource {
                name: "b",
                credential: fake(false),
            },
        ]);
        let e = chain
            .get_token(&["s"], None)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("a: not here") && e.contains("b: not here"),
            "{e}"
        );
    }

    #[test]
    fn env_vars_select_sources_in_order() -> azure_core::Result<()> {
        let token_file =
            std::env::temp_dir().join(format!("fleet-azure-token-{}", std::process::id()));
        std::fs::write(&token_file, "federated.jwt")?;
        let token_path = token_file.to_string_lossy().into_owned();
        let vars = [
            ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
            ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
            ("AZURE_CLIENT_SECRET", "s3cret-value"),
            ("AZURE_FEDERATED_TOKEN_FILE", token_path.as_str()),
            ("FLEET_AZURE_MANAGED_IDENTITY", "system"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = CredentialConfig::from_env_vars(vars);
        assert!(!format!("{config:?}").contains("s3cret-value"));
        let chain = CredentialChain::from_config(&config)?;
        assert_eq!(
            chain.source_names(),
            [
                "client-secret",
                "workload-identity",
                "managed-identity",
                "developer-tools"
            ]
        );
        let _ = std::fs::remove_file(&token_file);
        let none = CredentialConfig::from_env_vars([(
            "FLEET_AZURE_NO_DEVELOPER_TOOLS".to_owned(),
            "1".to_owned(),
        )]);
        assert!(CredentialChain::from_config(&none).is_err());
        Ok(())
    }
}
