//! Key Vault secrets ([`Secrets`], implemented by [`KeyVaultSecrets`] over
//! `azure_security_keyvault_secrets`): get, set a new version, list versions, and rotate to a
//! freshly generated value. Values live in [`SecretValue`], which never prints.

use crate::error::{AzureError, Result, kind_for_status};
use crate::http::client_options;
use crate::options::SecretsOptions;
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::Transport;
use azure_security_keyvault_secrets::models::{
    Secret as KvSecret, SecretAttributes, SecretProperties, SetSecretParameters,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::TryStreamExt;
use jiff::Timestamp;
use std::sync::Arc;

/// A secret value. `Debug` and `Display` print `<redacted>`; read it with [`Self::expose`].
/// It is not `Serialize`, so it cannot end up in JSON output by accident. Equality compares
/// in time independent of where the values differ.
#[derive(Clone)]
pub struct SecretValue(String);

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for SecretValue {}

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Call only where it must leave the process (e.g. a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in characters.
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    /// `true` for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl std::fmt::Display for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Metadata of one secret version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretVersion {
    /// Secret name.
    pub name: String,
    /// Version id.
    pub version: String,
    /// Full id, `{vault}/secrets/{name}/{version}`.
    pub id: String,
    /// Enabled flag.
    pub enabled: Option<bool>,
    /// Created.
    pub created: Option<Timestamp>,
    /// Last updated.
    pub updated: Option<Timestamp>,
    /// Content type.
    pub content_type: Option<String>,
}

/// A secret with its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretBundle {
    /// Metadata.
    pub version: SecretVersion,
    /// The value (redacted in `Debug`).
    pub value: SecretValue,
}

/// The shape of a generated secret value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretForm {
    /// `length` characters from `A-Z a-z 0-9`.
    Alphanumeric {
        /// Characters.
        length: usize,
    },
    /// `length` characters from letters, digits and `!#%+-.:=?@^_~` (no quotes, backslash,
    /// `$` or spaces, so the value survives shells and connection strings), with at least one
    /// of each class.
    Password {
        /// Characters (at least 4).
        length: usize,
    },
    /// `bytes` random bytes as lower-case hex.
    Hex {
        /// Random bytes.
        bytes: usize,
    },
    /// `bytes` random bytes as unpadded base64url.
    Base64Url {
        /// Random bytes.
        bytes: usize,
    },
}

impl Default for SecretForm {
    fn default() -> Self {
        Self::Password { length: 32 }
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SYMBOLS: &[u8] = b"!#%+-.:=?@^_~";

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| AzureError::InvalidResponse {
        operation: "generate secret".into(),
        reason: format!("the OS random source failed: {e}"),
    })?;
    Ok(buf)
}

/// Uniform choice from `alphabet` by rejection sampling (no modulo bias).
fn pick(alphabet: &[u8], count: usize) -> Result<Vec<u8>> {
    let limit = 256 - (256 % alphabet.len());
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        for b in random_bytes(count * 2)? {
            if (b as usize) < limit && out.len() < count {
                out.push(alphabet[b as usize % alphabet.len()]);
            }
        }
    }
    Ok(out)
}

impl SecretForm {
    /// Generates a value of this form from the operating system's CSPRNG.
    pub fn generate(&self) -> Result<SecretValue> {
        let text = match *self {
            Self::Alphanumeric { length } => {
                if length < 16 {
                    return Err(AzureError::invalid(
                        "secret_form",
                        "fewer than 16 characters is not strong",
                    ));
                }
                String::from_utf8_lossy(&pick(ALNUM, length)?).into_owned()
            }
            Self::Password { length } => {
                if length < 16 {
                    return Err(AzureError::invalid(
                        "secret_form",
                        "fewer than 16 characters is not strong",
                    ));
                }
                let all: Vec<u8> = [ALNUM, SYMBOLS].concat();
                loop {
                    let candidate = pick(&all, length)?;
                    let has = |f: fn(&u8) -> bool| candidate.iter().any(f);
                    if has(u8::is_ascii_uppercase)
                        && has(u8::is_ascii_lowercase)
                        && has(u8::is_ascii_digit)
                        && has(|c| SYMBOLS.contains(c))
                    {
                        break String::from_utf8_lossy(&candidate).into_owned();
                    }
                }
            }
            Self::Hex { bytes } => {
                if bytes < 16 {
                    return Err(AzureError::invalid(
                        "secret_form",
                        "fewer than 16 random bytes is not strong",
                    ));
                }
                random_bytes(bytes)?
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            }
            Self::Base64Url { bytes } => {
                if bytes < 16 {
                    return Err(AzureError::invalid(
                        "secret_form",
                        "fewer than 16 random bytes is not strong",
                    ));
                }
                azure_core::base64::encode_url_safe(random_bytes(bytes)?)
            }
        };
        Ok(SecretValue(text))
    }
}

/// Key Vault secrets.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The latest version, or `version`.
    async fn get_secret(&self, name: &str, version: Option<String>) -> Result<SecretBundle>;
    /// Stores `value` as a new version.
    async fn set_secret(
        &self,
        name: &str,
        value: SecretValue,
        content_type: Option<String>,
    ) -> Result<SecretVersion>;
    /// Every version's metadata.
    async fn list_versions(&self, name: &str) -> Result<Vec<SecretVersion>>;
    /// Generates a value of `form`, stores it as a new version, and returns that version.
    async fn rotate_secret(&self, name: &str, form: SecretForm) -> Result<SecretVersion>;
}

/// [`Secrets`] over `azure_security_keyvault_secrets::SecretClient`.
pub struct KeyVaultSecrets {
    client: SecretClient,
    vault_url: String,
}

impl std::fmt::Debug for KeyVaultSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVaultSecrets")
            .field("vault_url", &self.vault_url)
            .finish_non_exhaustive()
    }
}

/// Key Vault secret names: 1 to 127 letters, digits and hyphens.
pub fn validate_secret_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 127
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(AzureError::invalid(
            "secret_name",
            format!("{name:?}: Key Vault allows 1-127 letters, digits and '-'"),
        ));
    }
    Ok(())
}

fn map_error(operation: &str, e: azure_core::Error) -> AzureError {
    match e.kind() {
        azure_core::error::ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } => {
            let status = u16::from(*status);
            let message = raw_response
                .as_ref()
                .and_then(|r| serde_json::from_slice::<serde_json::Value>(r.body()).ok())
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| e.to_string());
            let retry_after = raw_response
                .as_ref()
                .and_then(|r| crate::http::parse_retry_after(r.headers()));
            AzureError::Service {
                operation: operation.to_owned(),
                kind: kind_for_status(status),
                status,
                code: error_code.clone(),
                message,
                retry_after,
            }
        }
        azure_core::error::ErrorKind::DataConversion => {
            AzureError::response(operation, e.to_string())
        }
        azure_core::error::ErrorKind::Credential => AzureError::Credential {
            operation: operation.to_owned(),
            source: e,
        },
        _ => AzureError::Transport {
            operation: operation.to_owned(),
            source: e,
        },
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
    let id = id.ok_or_else(|| AzureError::response(operation, "secret without an id"))?;
    // `{vault}/secrets/{name}/{version}`
    let mut parts = id.trim_end_matches('/').rsplit('/');
    let (version, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(v), Some(n), Some("secrets")) => (v.to_owned(), n.to_owned()),
        _ => {
            return Err(AzureError::response(
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

impl KeyVaultSecrets {
    /// A client for the vault in `options`, over azure_core's default HTTP client.
    pub fn new(credential: Arc<dyn TokenCredential>, options: &SecretsOptions) -> Result<Self> {
        Self::with_transport(credential, options, None)
    }

    /// Like [`Self::new`] with a custom transport.
    pub fn with_transport(
        credential: Arc<dyn TokenCredential>,
        options: &SecretsOptions,
        transport: Option<Transport>,
    ) -> Result<Self> {
        if !options.vault_url.starts_with("https://") {
            return Err(AzureError::invalid(
                "vault_url",
                format!("{:?} must be an https URL", options.vault_url),
            ));
        }
        let client = SecretClient::new(
            &options.vault_url,
            credential,
            Some(SecretClientOptions {
                api_version: options.api_version.clone(),
                client_options: client_options(&options.retry, transport),
                verify_challenge_resource: Some(options.verify_challenge_resource),
            }),
        )
        .map_err(|e| AzureError::invalid("vault_url", e.to_string()))?;
        Ok(Self {
            client,
            vault_url: options.vault_url.clone(),
        })
    }

    fn bundle(operation: &str, secret: KvSecret) -> Result<SecretBundle> {
        let value = secret
            .value
            .ok_or_else(|| AzureError::response(operation, "secret without a value"))?;
        Ok(SecretBundle {
            version: version_of(operation, secret.id, secret.attributes, secret.content_type)?,
            value: SecretValue(value),
        })
    }
}

#[async_trait]
impl Secrets for KeyVaultSecrets {
    async fn get_secret(&self, name: &str, version: Option<String>) -> Result<SecretBundle> {
        validate_secret_name(name)?;
        let operation = format!("get secret {name}");
        let options = azure_security_keyvault_secrets::models::SecretClientGetSecretOptions {
            secret_version: version,
            ..Default::default()
        };
        let response = self
            .client
            .get_secret(name, Some(options))
            .await
            .map_err(|e| map_error(&operation, e))?;
        let secret = response
            .into_model()
            .map_err(|e| map_error(&operation, e))?;
        Self::bundle(&operation, secret)
    }

    async fn set_secret(
        &self,
        name: &str,
        value: SecretValue,
        content_type: Option<String>,
    ) -> Result<SecretVersion> {
        validate_secret_name(name)?;
        let operation = format!("set secret {name}");
        let parameters = SetSecretParameters {
            value: Some(value.0),
            content_type,
            ..Default::default()
        };
        let content = parameters
            .try_into()
            .map_err(|e| map_error(&operation, e))?;
        let response = self
            .client
            .set_secret(name, content, None)
            .await
            .map_err(|e| map_error(&operation, e))?;
        let secret = response
            .into_model()
            .map_err(|e| map_error(&operation, e))?;
        tracing::info!(secret = name, "stored a new secret version");
        Ok(Self::bundle(&operation, secret)?.version)
    }

    async fn list_versions(&self, name: &str) -> Result<Vec<SecretVersion>> {
        validate_secret_name(name)?;
        let operation = format!("list versions of secret {name}");
        let mut pager = self
            .client
            .list_secret_properties_versions(name, None)
            .map_err(|e| map_error(&operation, e))?;
        let mut out = Vec::new();
        while let Some(item) = pager
            .try_next()
            .await
            .map_err(|e| map_error(&operation, e))?
        {
            let SecretProperties {
                id,
                attributes,
                content_type,
                ..
            } = item;
            out.push(version_of(&operation, id, attributes, content_type)?);
        }
        Ok(out)
    }

    async fn rotate_secret(&self, name: &str, form: SecretForm) -> Result<SecretVersion> {
        validate_secret_name(name)?;
        let value = form.generate()?;
        let version = self.set_secret(name, value, None).await?;
        tracing::info!(secret = name, version = %version.version, "rotated secret");
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_print() {
        let v = SecretValue::new("hunter2");
        assert_eq!(format!("{v:?}"), "SecretValue(<redacted>)");
        assert_eq!(format!("{v}"), "<redacted>");
        assert_eq!(v.expose(), "hunter2");
    }

    #[test]
    fn generated_values_have_their_form() -> Result<()> {
        let p = SecretForm::Password { length: 40 }.generate()?;
        assert_eq!(p.len(), 40);
        assert!(
            p.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#%+-.:=?@^_~".contains(c))
        );
        assert!(p.expose().chars().any(|c| "!#%+-.:=?@^_~".contains(c)));
        let a = SecretForm::Alphanumeric { length: 24 }.generate()?;
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        let h = SecretForm::Hex { bytes: 32 }.generate()?;
        assert_eq!(h.len(), 64);
        let b = SecretForm::Base64Url { bytes: 32 }.generate()?;
        assert_eq!(b.len(), 43);
        assert_ne!(
            SecretForm::default().generate()?,
            SecretForm::default().generate()?
        );
        assert!(SecretForm::Password { length: 8 }.generate().is_err());
        Ok(())
    }

    #[test]
    fn secret_names() {
        assert!(validate_secret_name("db-password").is_ok());
        assert!(validate_secret_name("db_password").is_err());
        assert!(validate_secret_name("").is_err());
    }

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
}
