//! Key Vault secrets ([`Secrets`], implemented by [`KeyVaultClient`] over
//! `azure_security_keyvault_secrets`): read a version, set a new one, list versions, rotate to
//! a freshly generated value, and disable (retire) an old version. Values live in
//! [`SecretValue`], which never prints.
//!
//! Names and versions are checked before any request (a version such as `../other` would
//! address another secret), every `nextLink` must stay on the vault, and every call has a
//! deadline, a `Retry-After` cap and a response-size cap, like the ARM clients.

mod value;

pub use value::{SecretForm, SecretValue};

use crate::arm::parse_endpoint;
use crate::error::{Error, Result};
use crate::http::{
    ArmRequest, Deadline, DeadlineCredential, RetryAfterCap, capped_transport, deadline_after,
    resource_url, same_origin,
};
use crate::names::{validate_secret_name, validate_secret_version};
use crate::options::{ChangeOptions, KEY_VAULT_API_VERSION, Limits, ListOptions, RetrySettings};
use crate::outcome::{Outcome, PlannedRequest};
use crate::pager::ListPage;
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::pager::{PagerContinuation, PagerOptions, PagerResult, PagerState};
use azure_core::http::{
    ClientMethodOptions, ClientOptions, Context, Method, Pager, RawResponse, StatusCode, Url,
};
use azure_security_keyvault_secrets::models::{
    Secret as KvSecret, SecretAttributes, SecretClientGetSecretOptions,
    SecretClientListSecretPropertiesVersionsOptions, SecretClientSetSecretOptions,
    SecretClientUpdateSecretPropertiesOptions, SetSecretParameters,
    UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::TryStreamExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

/// Metadata of one secret version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretVersion {
    /// Secret name.
    pub name: String,
    /// Version id.
    pub version: String,
    /// Full id, `{vault}/secrets/{name}/{version}`.
    pub id: String,
    /// Enabled flag (a disabled version cannot be read).
    pub enabled: Option<bool>,
    /// Created.
    pub created: Option<Timestamp>,
    /// Last updated.
    pub updated: Option<Timestamp>,
    /// Content type.
    pub content_type: Option<String>,
}

/// Sorts versions oldest first by creation time (Key Vault documents no order for its list).
pub fn sort_versions_by_created(versions: &mut [SecretVersion]) {
    versions.sort_by(|a, b| {
        a.created
            .cmp(&b.created)
            .then_with(|| a.version.cmp(&b.version))
    });
}

/// A secret with its value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretBundle {
    /// Metadata.
    pub version: SecretVersion,
    /// The value (redacted in `Debug`).
    pub value: SecretValue,
}

/// Per-call options of [`Secrets::get_secret`].
#[derive(Clone, Debug, Default)]
pub struct GetSecretOptions<'a> {
    /// azure_core's per-call options.
    pub method_options: ClientMethodOptions<'a>,
    /// This version instead of the latest (32 letters or digits).
    pub version: Option<String>,
}

/// Per-call options of [`Secrets::set_secret`] and [`Secrets::rotate_secret`].
#[derive(Clone, Debug, Default)]
pub struct SetSecretOptions<'a> {
    /// azure_core's per-call options.
    pub method_options: ClientMethodOptions<'a>,
    /// Validate and return the exact request (value redacted) instead of sending it.
    pub dry_run: bool,
    /// The content type to store with the value.
    pub content_type: Option<String>,
}

/// Key Vault secrets.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The latest version, or the one in the options.
    async fn get_secret<'a>(
        &self,
        name: &str,
        options: Option<GetSecretOptions<'a>>,
    ) -> Result<SecretBundle>;

    /// Stores `value` as a new version.
    async fn set_secret<'a>(
        &self,
        name: &str,
        value: &SecretValue,
        options: Option<SetSecretOptions<'a>>,
    ) -> Result<Outcome<SecretVersion>>;

    /// Every version's metadata (no values), page by page, in the vault's order (sort with
    /// [`sort_versions_by_created`]).
    fn list_versions<'a>(
        &self,
        name: &str,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<SecretVersion>>>;

    /// Generates a value of `form`, stores it as a new version, and returns that version.
    async fn rotate_secret<'a>(
        &self,
        name: &str,
        form: SecretForm,
        options: Option<SetSecretOptions<'a>>,
    ) -> Result<Outcome<SecretVersion>>;

    /// Enables or disables one version; disabling is how an old version is retired (Key
    /// Vault deletes only whole secrets).
    async fn set_version_enabled<'a>(
        &self,
        name: &str,
        version: &str,
        enabled: bool,
        options: Option<ChangeOptions<'a>>,
    ) -> Result<Outcome<SecretVersion>>;
}

/// Options of a [`KeyVaultClient`].
#[derive(Clone, Debug)]
pub struct KeyVaultClientOptions {
    /// azure_core's client options (retry, transport, logging, tracing).
    pub client_options: ClientOptions,
    /// Key Vault api-version; default [`KEY_VAULT_API_VERSION`].
    pub api_version: String,
    /// Check that the vault's authentication challenge names a resource whose host is a
    /// suffix of the vault's host (keep `true` outside tests against a local stand-in).
    pub verify_challenge_resource: bool,
    /// Deadlines and caps.
    pub limits: Limits,
}

impl Default for KeyVaultClientOptions {
    fn default() -> Self {
        Self {
            client_options: ClientOptions {
                retry: RetrySettings::default().into(),
                ..Default::default()
            },
            api_version: KEY_VAULT_API_VERSION.to_owned(),
            verify_challenge_resource: true,
            limits: Limits::default(),
        }
    }
}

/// [`Secrets`] over `azure_security_keyvault_secrets::SecretClient`.
#[derive(Clone)]
pub struct KeyVaultClient {
    client: Arc<SecretClient>,
    endpoint: Url,
    api_version: String,
    limits: Limits,
}

impl std::fmt::Debug for KeyVaultClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVaultClient")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

fn unix(t: Option<azure_core::time::OffsetDateTime>) -> Option<Timestamp> {
    t.and_then(|t| Timestamp::from_second(t.unix_timestamp()).ok())
}

fn version_of(
    operation: &str,
    id: Option<String>,
    attributes: Option<SecretAttributes>,
    content_type: Option<String>,
) -> Result<SecretVersion> {
    let id = id.ok_or_else(|| Error::response(operation, "secret without an id"))?;
    // `{vault}/secrets/{name}/{version}`
    let mut parts = id.trim_end_matches('/').rsplit('/');
    let (version, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(v), Some(n), Some("secrets")) => (v.to_owned(), n.to_owned()),
        _ => {
            return Err(Error::response(
                operation,
                format!("secret id {id:?} has no name/version"),
            ));
        }
    };
    let (enabled, created, updated) = match attributes {
        Some(a) => (a.enabled, unix(a.created), unix(a.updated)),
        None => (None, None, None),
    };
    Ok(SecretVersion {
        name,
        version,
        id,
        enabled,
        created,
        updated,
        content_type,
    })
}

fn bundle(operation: &str, secret: KvSecret) -> Result<SecretBundle> {
    let value = secret
        .value
        .ok_or_else(|| Error::response(operation, "secret without a value"))?;
    Ok(SecretBundle {
        version: version_of(operation, secret.id, secret.attributes, secret.content_type)?,
        value: SecretValue::new(value),
    })
}

impl KeyVaultClient {
    /// A client for the vault at `endpoint` (`https://<vault>.vault.azure.net`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `endpoint` is not a plain `https` URL.
    pub fn new(
        endpoint: &str,
        credential: Arc<dyn TokenCredential>,
        options: Option<KeyVaultClientOptions>,
    ) -> Result<Self> {
        let options = options.unwrap_or_default();
        let endpoint = parse_endpoint(endpoint)?;
        let mut client_options = options.client_options;
        client_options
            .per_try_policies
            .push(Arc::new(RetryAfterCap {
                max: options.limits.max_retry_after,
            }));
        client_options.transport = Some(capped_transport(
            client_options.transport.take(),
            options.limits.max_response_bytes,
        ));
        let client = SecretClient::new(
            endpoint.as_str(),
            DeadlineCredential::wrap(credential, options.limits.token_timeout),
            Some(SecretClientOptions {
                api_version: options.api_version.clone(),
                client_options,
                verify_challenge_resource: Some(options.verify_challenge_resource),
            }),
        )
        .map_err(|e| Error::invalid("endpoint", e.to_string()))?;
        Ok(Self {
            client: Arc::new(client),
            endpoint,
            api_version: options.api_version,
            limits: options.limits,
        })
    }

    /// The vault URL.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn url(&self, segments: &[&str]) -> Result<Url> {
        resource_url(
            &self.endpoint,
            segments,
            &[("api-version", &self.api_version)],
        )
    }

    /// The context of one call: the caller's, plus the deadline the `Retry-After` cap reads.
    fn context(&self, context: &Context<'_>) -> (Context<'static>, tokio::time::Instant) {
        let deadline = deadline_after(self.limits.operation_timeout);
        (context.to_owned().with_value(Deadline(deadline)), deadline)
    }

    /// Runs one SDK call within the operation deadline and maps its error.
    async fn call<T>(
        &self,
        operation: &str,
        deadline: tokio::time::Instant,
        future: impl Future<Output = azure_core::Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout_at(deadline, future)
            .await
            .map_err(|_| Error::Timeout {
                operation: operation.to_owned(),
                after: self.limits.operation_timeout,
                resume_token: None,
            })?
            .map_err(|e| Error::from_azure(operation, e))
    }

    /// The PUT a set sends, value redacted (the SDK builds the real one the same way).
    fn planned_set(&self, name: &str, content_type: Option<&str>) -> Result<PlannedRequest> {
        let mut body = serde_json::json!({ "value": "" });
        if let Some(ct) = content_type {
            body["contentType"] = serde_json::Value::String(ct.to_owned());
        }
        let request = ArmRequest::new(
            format!("set secret {name}"),
            Method::Put,
            self.url(&["secrets", name])?,
        )
        .with_json(body)
        .with_secret_at("/value");
        Ok(request.planned())
    }

    async fn store(
        &self,
        name: &str,
        value: SecretValue,
        options: SetSecretOptions<'_>,
    ) -> Result<SecretVersion> {
        let operation = format!("set secret {name}");
        let parameters = SetSecretParameters {
            value: Some(value.expose().to_owned()),
            content_type: options.content_type,
            ..Default::default()
        };
        let content = parameters
            .try_into()
            .map_err(|e| Error::from_azure(&operation, e))?;
        let (context, deadline) = self.context(&options.method_options.context);
        let response = self
            .call(
                &operation,
                deadline,
                self.client.set_secret(
                    name,
                    content,
                    Some(SecretClientSetSecretOptions {
                        method_options: ClientMethodOptions { context },
                    }),
                ),
            )
            .await?;
        let secret = response
            .into_model()
            .map_err(|e| Error::from_azure(&operation, e))?;
        let version = bundle(&operation, secret)?.version;
        tracing::info!(secret = name, version = %version.version, "stored a new secret version");
        Ok(version)
    }
}

#[async_trait]
impl Secrets for KeyVaultClient {
    #[tracing::instrument(skip_all, fields(vault = %self.endpoint, secret = name))]
    async fn get_secret<'a>(
        &self,
        name: &str,
        options: Option<GetSecretOptions<'a>>,
    ) -> Result<SecretBundle> {
        validate_secret_name(name)?;
        let options = options.unwrap_or_default();
        if let Some(v) = &options.version {
            validate_secret_version(v)?;
        }
        let operation = format!("get secret {name}");
        let (context, deadline) = self.context(&options.method_options.context);
        let sdk_options = SecretClientGetSecretOptions {
            method_options: ClientMethodOptions { context },
            secret_version: options.version,
            ..Default::default()
        };
        let response = self
            .call(
                &operation,
                deadline,
                self.client.get_secret(name, Some(sdk_options)),
            )
            .await?;
        let secret = response
            .into_model()
            .map_err(|e| Error::from_azure(&operation, e))?;
        bundle(&operation, secret)
    }

    #[tracing::instrument(skip_all, fields(vault = %self.endpoint, secret = name))]
    async fn set_secret<'a>(
        &self,
        name: &str,
        value: &SecretValue,
        options: Option<SetSecretOptions<'a>>,
    ) -> Result<Outcome<SecretVersion>> {
        validate_secret_name(name)?;
        let options = options.unwrap_or_default();
        if value.is_empty() {
            return Err(Error::invalid("secret_value", "an empty value"));
        }
        if options.dry_run {
            let planned = self.planned_set(name, options.content_type.as_deref())?;
            tracing::info!(request = %format!("{} {}", planned.method, planned.url), "dry run: not sent");
            return Ok(Outcome::DryRun(planned));
        }
        Ok(Outcome::Applied(
            self.store(name, value.clone(), options).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(vault = %self.endpoint, secret = name))]
    fn list_versions<'a>(
        &self,
        name: &str,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<SecretVersion>>> {
        validate_secret_name(name)?;
        let options = options.unwrap_or_default();
        let operation = format!("list versions of secret {name}");
        let continuation = match &options.continuation {
            Some(link) => Some(PagerContinuation::Link(same_origin(
                &operation,
                &self.endpoint,
                link,
            )?)),
            None => None,
        };
        let this = self.clone();
        let name = name.to_owned();
        let span = tracing::Span::current();
        let pages = Arc::new(std::sync::atomic::AtomicU32::new(0));
        Ok(Pager::new(
            move |state: PagerState, pager_options: PagerOptions<'static>| {
                let this = this.clone();
                let name = name.clone();
                let operation = operation.clone();
                let pages = Arc::clone(&pages);
                let future = async move {
                    let n = pages
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        .saturating_add(1);
                    if n > this.limits.max_pages {
                        return Err(Error::response(
                            &operation,
                            format!("more than {} pages", this.limits.max_pages),
                        )
                        .into_azure());
                    }
                    let continuation = match state {
                        PagerState::Initial => None,
                        PagerState::More(c) => Some(c),
                    };
                    let (context, deadline) = this.context(&pager_options.context);
                    // One page of the SDK's pager per call, so each nextLink is checked here
                    // before the SDK follows it.
                    let mut sdk_pages = this
                        .client
                        .list_secret_properties_versions(
                            &name,
                            Some(SecretClientListSecretPropertiesVersionsOptions {
                                maxresults: None,
                                method_options: PagerOptions {
                                    context,
                                    continuation,
                                },
                            }),
                        )
                        .map_err(|e| Error::from_azure(&operation, e).into_azure())?
                        .into_pages();
                    let page = this
                        .call(&operation, deadline, sdk_pages.try_next())
                        .await
                        .map_err(Error::into_azure)?;
                    let Some(page) = page else {
                        return Err(Error::response(&operation, "no page").into_azure());
                    };
                    let headers = page.headers().clone();
                    let model = page
                        .into_model()
                        .map_err(|e| Error::from_azure(&operation, e).into_azure())?;
                    let items = model
                        .value
                        .into_iter()
                        .map(|p| version_of(&operation, p.id, p.attributes, p.content_type))
                        .collect::<Result<Vec<_>>>()
                        .map_err(Error::into_azure)?;
                    let next = match model.next_link.filter(|l| !l.trim().is_empty()) {
                        Some(link) => Some(
                            same_origin(&operation, &this.endpoint, &link)
                                .map_err(Error::into_azure)?,
                        ),
                        None => None,
                    };
                    let page = ListPage {
                        items,
                        next_link: next.as_ref().map(Url::to_string),
                    };
                    let body = serde_json::to_vec(&page).map_err(|e| {
                        Error::response(&operation, format!("encoding a page: {e}")).into_azure()
                    })?;
                    let response = RawResponse::from_bytes(StatusCode::Ok, headers, body).into();
                    Ok(match next {
                        Some(url) => PagerResult::More {
                            response,
                            continuation: PagerContinuation::Link(url),
                        },
                        None => PagerResult::Done { response },
                    })
                };
                Box::pin(future.instrument(span.clone()))
            },
            Some(PagerOptions {
                context: options.method_options.context.into_owned(),
                continuation,
            }),
        ))
    }

    #[tracing::instrument(skip_all, fields(vault = %self.endpoint, secret = name))]
    async fn rotate_secret<'a>(
        &self,
        name: &str,
        form: SecretForm,
        options: Option<SetSecretOptions<'a>>,
    ) -> Result<Outcome<SecretVersion>> {
        validate_secret_name(name)?;
        form.check()?;
        let options = options.unwrap_or_default();
        if options.dry_run {
            return Ok(Outcome::DryRun(
                self.planned_set(name, options.content_type.as_deref())?,
            ));
        }
        let value = form.generate()?;
        let version = self.store(name, value, options).await?;
        tracing::info!(secret = name, version = %version.version, "rotated secret");
        Ok(Outcome::Applied(version))
    }

    #[tracing::instrument(skip_all, fields(vault = %self.endpoint, secret = name, version = %version, enabled = enabled))]
    async fn set_version_enabled<'a>(
        &self,
        name: &str,
        version: &str,
        enabled: bool,
        options: Option<ChangeOptions<'a>>,
    ) -> Result<Outcome<SecretVersion>> {
        validate_secret_name(name)?;
        validate_secret_version(version)?;
        let options = options.unwrap_or_default();
        let operation = format!(
            "{} version {version} of secret {name}",
            if enabled { "enable" } else { "disable" }
        );
        if options.dry_run {
            let request = ArmRequest::new(
                operation,
                Method::Patch,
                self.url(&["secrets", name, version])?,
            )
            .with_json(serde_json::json!({"attributes": {"enabled": enabled}}));
            return Ok(Outcome::DryRun(request.planned()));
        }
        let parameters = UpdateSecretPropertiesParameters {
            secret_attributes: Some(SecretAttributes {
                enabled: Some(enabled),
                ..Default::default()
            }),
            ..Default::default()
        };
        let content = parameters
            .try_into()
            .map_err(|e| Error::from_azure(&operation, e))?;
        let (context, deadline) = self.context(&options.method_options.context);
        let response = self
            .call(
                &operation,
                deadline,
                self.client.update_secret_properties(
                    name,
                    content,
                    Some(SecretClientUpdateSecretPropertiesOptions {
                        method_options: ClientMethodOptions { context },
                        secret_version: Some(version.to_owned()),
                    }),
                ),
            )
            .await?;
        let secret = response
            .into_model()
            .map_err(|e| Error::from_azure(&operation, e))?;
        let updated = version_of(
            &operation,
            secret.id,
            secret.attributes,
            secret.content_type,
        )?;
        tracing::info!(secret = name, version, enabled, "changed a secret version");
        Ok(Outcome::Applied(updated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_into_name_and_version() -> Result<()> {
        let v = version_of(
            "t",
            Some("https://myvault.vault.azure.net/secrets/crpsecret/03bcccc7c8cf4546a0e3e21e52560441".into()),
            None,
            None,
        )?;
        assert_eq!(v.name, "crpsecret");
        assert_eq!(v.version, "03bcccc7c8cf4546a0e3e21e52560441");
        assert!(version_of("t", Some("https://x/keys/a".into()), None, None).is_err());
        Ok(())
    }

    #[test]
    fn versions_sort_oldest_first() -> Result<()> {
        let mk = |version: &str, created: i64| -> Result<SecretVersion> {
            let mut v = version_of(
                "t",
                Some(format!("https://v/secrets/s/{version}")),
                None,
                None,
            )?;
            v.created = Timestamp::from_second(created).ok();
            Ok(v)
        };
        let mut list = vec![mk("b", 20)?, mk("a", 10)?, mk("c", 30)?];
        sort_versions_by_created(&mut list);
        let order: Vec<_> = list.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(order, ["a", "b", "c"]);
        Ok(())
    }
}
