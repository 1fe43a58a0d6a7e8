//! A credential chain for tools, since azure_identity 1.0 has no `DefaultAzureCredential`.
//!
//! [`CredentialConfig`] says which sources may be tried; [`CredentialChain`] tries them in a
//! fixed order, each within [`CredentialConfig::token_timeout`], and keeps the first that
//! produces a token (an `info` event names it):
//!
//! 1. **Client secret** (service principal): `tenant_id`, `client_id`, `client_secret`.
//!    From the environment: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`.
//! 2. **Client certificate** (service principal; needs this crate's `client-certificate`
//!    feature, which brings OpenSSL): `tenant_id`, `client_id`, a PKCS #12 file and its
//!    password. From the environment: `AZURE_CLIENT_CERTIFICATE_PATH`,
//!    `AZURE_CLIENT_CERTIFICATE_PASSWORD`. [`CredentialChain::from_config`] reads the file.
//! 3. **Azure Pipelines** (a service connection with workload identity federation, as the CI
//!    gate runs): `tenant_id`, `client_id`, the service connection id and the job's
//!    `System.AccessToken`. From the environment: `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`,
//!    `AZURESUBSCRIPTION_CLIENT_ID`, `AZURESUBSCRIPTION_TENANT_ID` (as the `AzureCLI@2` task
//!    sets them; `AZURE_CLIENT_ID`/`AZURE_TENANT_ID` also count) and `SYSTEM_ACCESSTOKEN`
//!    (map it into the step's environment). azure_identity itself reads
//!    `SYSTEM_OIDCREQUESTURI`, which the agent sets.
//! 4. **Workload identity** (AKS federated token): `tenant_id`, `client_id`,
//!    `federated_token_file`. From the environment: `AZURE_FEDERATED_TOKEN_FILE`.
//! 5. **Managed identity**: system-assigned, or user-assigned by client id. Enabled from the
//!    environment when `IDENTITY_ENDPOINT` is set (App Service, Container Apps), or by
//!    `FLEET_AZURE_MANAGED_IDENTITY` = `system` or a client id.
//! 6. **Developer tools**: `az account get-access-token`, then `azd auth token`. Off unless
//!    `developer_tools` is set (from the environment: `FLEET_AZURE_DEVELOPER_TOOLS=1`), so that
//!    an unattended job never picks up a person's CLI login.
//!
//! `AZURE_AUTHORITY_HOST` moves every source to another authority. The library never reads
//! the environment itself: a binary calls [`CredentialConfig::from_env_vars`] with
//! `std::env::vars()`. Tokens and secrets are never logged; `Debug` output redacts them.

use crate::options::AzureCloud;
use crate::secrets::SecretValue;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::ClientOptions;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which managed identity to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagedIdentity {
    /// The resource's system-assigned identity.
    SystemAssigned,
    /// A user-assigned identity by client id.
    ClientId(String),
}

/// An Azure Pipelines service connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelinesConnection {
    /// The service connection's id.
    pub service_connection_id: String,
    /// The running job's `System.AccessToken` (redacted in `Debug`).
    pub system_access_token: SecretValue,
}

/// Which credential sources a [`CredentialChain`] may try.
#[derive(Clone, Debug)]
pub struct CredentialConfig {
    /// Entra tenant id.
    pub tenant_id: Option<String>,
    /// Application (client) id.
    pub client_id: Option<String>,
    /// Client secret of a service principal (redacted in `Debug`).
    pub client_secret: Option<SecretValue>,
    /// A PKCS #12 certificate file of a service principal.
    pub client_certificate_path: Option<PathBuf>,
    /// The certificate file's password (redacted in `Debug`).
    pub client_certificate_password: Option<SecretValue>,
    /// An Azure Pipelines service connection.
    pub azure_pipelines: Option<PipelinesConnection>,
    /// Path of a federated token file (workload identity).
    pub federated_token_file: Option<PathBuf>,
    /// Managed identity to try, if any.
    pub managed_identity: Option<ManagedIdentity>,
    /// Whether to fall back to `az` / `azd` (a person's login; off by default).
    pub developer_tools: bool,
    /// Deadline of one token fetch from one source.
    pub token_timeout: Duration,
    /// Options of the credentials' own HTTP pipelines: the cloud (authority host), transport,
    /// retry.
    pub client_options: ClientOptions,
}

impl Default for CredentialConfig {
    fn default() -> Self {
        Self {
            tenant_id: None,
            client_id: None,
            client_secret: None,
            client_certificate_path: None,
            client_certificate_password: None,
            azure_pipelines: None,
            federated_token_file: None,
            managed_identity: None,
            developer_tools: false,
            token_timeout: Duration::from_secs(30),
            client_options: ClientOptions::default(),
        }
    }
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
        let azure_pipelines = match (
            get("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"),
            get("SYSTEM_ACCESSTOKEN"),
        ) {
            (Some(service_connection_id), Some(token)) => Some(PipelinesConnection {
                service_connection_id,
                system_access_token: SecretValue::new(token),
            }),
            _ => None,
        };
        let mut client_options = ClientOptions::default();
        if let Some(authority) = get("AZURE_AUTHORITY_HOST") {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = authority;
            client_options.cloud = Some(Arc::new(CloudConfiguration::Custom(custom)));
        }
        let developer_tools = get("FLEET_AZURE_DEVELOPER_TOOLS")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        Self {
            tenant_id: get("AZURE_TENANT_ID").or_else(|| get("AZURESUBSCRIPTION_TENANT_ID")),
            client_id: get("AZURE_CLIENT_ID").or_else(|| get("AZURESUBSCRIPTION_CLIENT_ID")),
            client_secret: get("AZURE_CLIENT_SECRET").map(SecretValue::new),
            client_certificate_path: get("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            client_certificate_password: get("AZURE_CLIENT_CERTIFICATE_PASSWORD")
                .map(SecretValue::new),
            azure_pipelines,
            federated_token_file: get("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            managed_identity,
            developer_tools,
            client_options,
            ..Self::default()
        }
    }

    /// This configuration for `cloud` (its authority host).
    pub fn with_cloud(mut self, cloud: &AzureCloud) -> Self {
        self.client_options.cloud = Some(Arc::new(cloud.cloud_configuration()));
        self
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

/// Tries its sources in order, each within a deadline; the first that returns a token is
/// used from then on.
#[derive(Debug)]
pub struct CredentialChain {
    sources: Vec<CredentialSource>,
    timeout: Duration,
    chosen: Mutex<Option<usize>>,
}

fn credential_error(message: String) -> azure_core::Error {
    azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, message)
}

impl CredentialChain {
    /// A chain over explicit sources (also how tests build one), each tried within `timeout`.
    pub fn new(sources: Vec<CredentialSource>, timeout: Duration) -> Self {
        Self {
            sources,
            timeout,
            chosen: Mutex::new(None),
        }
    }

    /// The chain `config` describes, in the documented order. Sources whose settings are
    /// incomplete are left out; an empty chain is an error naming what is missing.
    ///
    /// # Errors
    /// A credential error when no source is configured, or a configured one cannot be built.
    pub fn from_config(config: &CredentialConfig) -> azure_core::Result<Self> {
        let client_options = || config.client_options.clone();
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
        if let (Some(tenant), Some(client), Some(path)) = (
            &config.tenant_id,
            &config.client_id,
            &config.client_certificate_path,
        ) {
            match certificate_source(tenant, client, path, config, client_options()) {
                Ok(source) => sources.push(source),
                Err(reason) => {
                    tracing::warn!(reason = %reason, "client certificate configured but unusable; skipped");
                    skipped.push(format!("client-certificate: {reason}"));
                }
            }
        }
        if let (Some(tenant), Some(client), Some(pipelines)) = (
            &config.tenant_id,
            &config.client_id,
            &config.azure_pipelines,
        ) {
            match azure_identity::AzurePipelinesCredential::new(
                tenant.clone(),
                client.clone(),
                &pipelines.service_connection_id,
                Secret::new(pipelines.system_access_token.expose().to_owned()),
                Some(azure_identity::AzurePipelinesCredentialOptions {
                    credential_options: azure_identity::ClientAssertionCredentialOptions {
                        client_options: client_options(),
                    },
                }),
            ) {
                Ok(credential) => sources.push(CredentialSource {
                    name: "azure-pipelines",
                    credential,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "Azure Pipelines connection configured but unusable; skipped");
                    skipped.push(format!("azure-pipelines: {e}"));
                }
            }
        }
        if let (Some(tenant), Some(client), Some(file)) = (
            &config.tenant_id,
            &config.client_id,
            &config.federated_token_file,
        ) {
            // azure_identity reads the token file when the credential is built; an unreadable
            // file leaves this source out (and is reported if no source is left).
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
        if config.developer_tools {
            let credential = azure_identity::DeveloperToolsCredential::new(None)?;
            sources.push(CredentialSource {
                name: "developer-tools",
                credential,
            });
        }
        if sources.is_empty() {
            return Err(credential_error(format!(
                "no credential source configured: set AZURE_TENANT_ID + AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, an Azure Pipelines service connection or AZURE_FEDERATED_TOKEN_FILE, enable a managed identity, or opt in to developer tools (FLEET_AZURE_DEVELOPER_TOOLS=1){}",
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (skipped: {})", skipped.join("; "))
                }
            )));
        }
        tracing::debug!(sources = ?sources.iter().map(|s| s.name).collect::<Vec<_>>(), "azure credential chain built");
        Ok(Self::new(sources, config.token_timeout))
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

    async fn try_source(
        &self,
        source: &CredentialSource,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        match tokio::time::timeout(self.timeout, source.credential.get_token(scopes, options)).await
        {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(source = source.name, timeout = ?self.timeout, "azure credential source did not answer in time");
                Err(credential_error(format!(
                    "did not answer within {:?}",
                    self.timeout
                )))
            }
        }
    }
}

#[cfg(feature = "client-certificate")]
fn certificate_source(
    tenant: &str,
    client: &str,
    path: &std::path::Path,
    config: &CredentialConfig,
    client_options: ClientOptions,
) -> Result<CredentialSource, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let credential = azure_identity::ClientCertificateCredential::new(
        tenant.to_owned(),
        client.to_owned(),
        azure_core::credentials::SecretBytes::new(bytes),
        Some(azure_identity::ClientCertificateCredentialOptions {
            client_options,
            password: config
                .client_certificate_password
                .as_ref()
                .map(|p| Secret::new(p.expose().to_owned())),
        }),
    )
    .map_err(|e| e.to_string())?;
    Ok(CredentialSource {
        name: "client-certificate",
        credential,
    })
}

#[cfg(not(feature = "client-certificate"))]
fn certificate_source(
    _tenant: &str,
    _client: &str,
    _path: &std::path::Path,
    _config: &CredentialConfig,
    _client_options: ClientOptions,
) -> Result<CredentialSource, String> {
    Err("fleet-azure was built without its client-certificate feature".to_owned())
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
            return self.try_source(source, scopes, options).await;
        }
        let mut failures = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            match self.try_source(source, scopes, options.clone()).await {
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
                    tracing::info!(source = source.name, error = %e, "azure credential source failed; trying the next");
                    failures.push(format!("{}: {e}", source.name));
                }
            }
        }
        Err(credential_error(format!(
            "no credential source produced a token ({})",
            failures.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::time::OffsetDateTime;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct Fake {
        ok: bool,
        hang: bool,
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
            if self.hang {
                std::future::pending::<()>().await;
            }
            if self.ok {
                Ok(AccessToken::new(
                    "t",
                    OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
                ))
            } else {
                Err(credential_error("not here".into()))
            }
        }
    }

    fn fake(ok: bool) -> Arc<Fake> {
        Arc::new(Fake {
            ok,
            hang: false,
            calls: AtomicU32::new(0),
        })
    }

    fn source(name: &'static str, credential: Arc<Fake>) -> CredentialSource {
        CredentialSource { name, credential }
    }

    #[tokio::test]
    async fn first_working_source_is_kept() -> azure_core::Result<()> {
        let (a, b, c) = (fake(false), fake(true), fake(true));
        let chain = CredentialChain::new(
            vec![
                source("a", a.clone()),
                source("b", b.clone()),
                source("c", c.clone()),
            ],
            Duration::from_secs(5),
        );
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
        let chain = CredentialChain::new(
            vec![source("a", fake(false)), source("b", fake(false))],
            Duration::from_secs(5),
        );
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

    /// Issue 10: a token fetch had no deadline, so one hung source stalled everything.
    #[tokio::test(start_paused = true)]
    async fn a_hung_source_times_out_and_the_next_is_tried() -> azure_core::Result<()> {
        let hung = Arc::new(Fake {
            ok: true,
            hang: true,
            calls: AtomicU32::new(0),
        });
        let chain = CredentialChain::new(
            vec![source("hung", hung), source("ok", fake(true))],
            Duration::from_secs(2),
        );
        chain.get_token(&["s"], None).await?;
        assert_eq!(chain.chosen(), Some("ok"));
        Ok(())
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
            ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "sc-1"),
            ("SYSTEM_ACCESSTOKEN", "system-token-value"),
            (
                "SYSTEM_OIDCREQUESTURI",
                "https://dev.azure.com/org/_apis/oidc",
            ),
            ("FLEET_AZURE_MANAGED_IDENTITY", "system"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = CredentialConfig::from_env_vars(vars);
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret-value") && !debug.contains("system-token-value"));
        assert!(!config.developer_tools, "developer tools are opt-in");
        let chain = CredentialChain::from_config(&config)?;
        let names = chain.source_names();
        // azure_identity reads SYSTEM_OIDCREQUESTURI from the process environment, which
        // this test does not set: the pipelines source is then skipped, not fatal.
        let expected: Vec<&str> = [
            "client-secret",
            "azure-pipelines",
            "workload-identity",
            "managed-identity",
        ]
        .into_iter()
        .filter(|n| *n != "azure-pipelines" || std::env::var("SYSTEM_OIDCREQUESTURI").is_ok())
        .collect();
        assert_eq!(names, expected);
        let _ = std::fs::remove_file(&token_file);
        let nothing = CredentialConfig::from_env_vars(Vec::new());
        assert!(CredentialChain::from_config(&nothing).is_err());
        let opted_in = CredentialConfig::from_env_vars([(
            "FLEET_AZURE_DEVELOPER_TOOLS".to_owned(),
            "1".to_owned(),
        )]);
        assert!(opted_in.developer_tools);
        Ok(())
    }

    #[test]
    fn a_missing_certificate_file_is_skipped_with_its_reason() {
        let config = CredentialConfig {
            tenant_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
            client_id: Some("00000000-0000-0000-0000-000000000001".into()),
            client_certificate_path: Some(PathBuf::from("/nonexistent/fleet-azure.pfx")),
            ..CredentialConfig::default()
        };
        let e = CredentialChain::from_config(&config)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("client-certificate:"), "{e}");
    }
}
