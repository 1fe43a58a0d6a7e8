//! Wiring shared by the Azure examples: an [`ArmClient`] for the endpoint in
//! `FLEET_AZURE_ARM_ENDPOINT` (default `https://management.azure.com`; sovereign clouds and
//! Azure Stack Hub set it), a [`KeyVaultClient`] for a vault URL, and a [`TelemetryClient`] for an
//! Application Insights application (endpoint `FLEET_AZURE_APP_INSIGHTS_ENDPOINT`, default
//! `https://api.applicationinsights.io`), all trusting only the CA certificates in the PEM file
//! `FLEET_AZURE_CA_CERT` when it is set (a private CA), with a credential chain from the
//! environment as `fleet_azure::CredentialConfig::from_env_vars` documents; a long-running
//! operation confirmed from `--confirm` (or a terminal) and followed with its statuses on
//! stderr; and the exit code of an error.

use std::error::Error;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use fleet_azure::{
    ArmClient, ArmClientOptions, ArmOperation, AzureCloud, CredentialChain, CredentialConfig,
    KeyVaultClient, KeyVaultClientOptions, TelemetryClient, TelemetryClientOptions,
    TelemetrySource,
};
use fleet_guard::{ConfirmRequest, ConfirmWord, Confirmation, StepError, cli_confirm};
use serde::{Serialize, de::DeserializeOwned};

/// A long-running operation as a `begin_*` call starts it.
pub type Started<T> = fleet_azure::Result<fleet_azure::Poller<ArmOperation<T>>>;

/// An error that can cross threads (the procedure examples' `BoxError`).
pub type SyncError = Box<dyn std::error::Error + Send + Sync>;

/// The credential chain and its configuration, whose transport trusts the CA of
/// `FLEET_AZURE_CA_CERT` when it is set (the clients use the same transport).
fn credential() -> Result<(Arc<CredentialChain>, CredentialConfig), SyncError> {
    let mut config = CredentialConfig::from_env_vars(std::env::vars());
    if let Some(path) = std::env::var_os("FLEET_AZURE_CA_CERT") {
        let transport = fleet_azure::transport_trusting(&std::fs::read(path)?)?;
        config.client_options.transport = Some(transport);
    }
    Ok((Arc::new(CredentialChain::from_config(&config)?), config))
}

/// The ARM client the environment describes.
///
/// # Errors
/// The CA file cannot be read or holds no certificate, no credential source is configured, or
/// the endpoint is not an `https` URL.
pub fn arm_client() -> Result<ArmClient, Box<dyn std::error::Error>> {
    let endpoint = std::env::var("FLEET_AZURE_ARM_ENDPOINT")
        .unwrap_or_else(|_| fleet_azure::AzureCloud::public().resource_manager);
    let (credential, config) = credential().map_err(|e| -> Box<dyn std::error::Error> { e })?;
    let mut options = ArmClientOptions::default();
    options.client_options.transport = config.client_options.transport;
    Ok(ArmClient::new(&endpoint, credential, Some(options))?)
}

/// The Key Vault at `vault_url` (`https://<vault>.vault.azure.net`) with the environment's
/// credential. `check_challenge` keeps the SDK's check that the vault's authentication
/// challenge names a resource under the vault's host; turn it off only for a vault reached
/// through a name the challenge cannot match (a private alias, a local stand-in).
///
/// # Errors
/// As [`arm_client`], or a vault URL that is not a plain `https` URL.
pub fn vault_client(vault_url: &str, check_challenge: bool) -> Result<KeyVaultClient, SyncError> {
    let (credential, config) = credential()?;
    let mut options = KeyVaultClientOptions {
        verify_challenge_resource: check_challenge,
        ..KeyVaultClientOptions::default()
    };
    options.client_options.transport = config.client_options.transport;
    Ok(KeyVaultClient::new(vault_url, credential, Some(options))?)
}

/// The classic Application Insights query API for `app_id` (a GUID) with the environment's
/// credential, at `FLEET_AZURE_APP_INSIGHTS_ENDPOINT` or the public cloud's endpoint.
///
/// # Errors
/// As [`arm_client`], or an application id that is not a GUID.
pub fn app_insights_client(app_id: &str) -> Result<TelemetryClient, SyncError> {
    let mut cloud = AzureCloud::public();
    if let Ok(endpoint) = std::env::var("FLEET_AZURE_APP_INSIGHTS_ENDPOINT") {
        cloud.app_insights = endpoint;
    }
    let source = TelemetrySource::AppInsights {
        app_id: app_id.to_owned(),
    };
    let (credential, config) = credential()?;
    let mut options = TelemetryClientOptions::default();
    options.client_options.transport = config.client_options.transport;
    Ok(TelemetryClient::new(
        &source.endpoint(&cloud),
        credential,
        Some(options),
    )?)
}

/// Runs the operation `start` begins: a destructive one (`word` given, not a dry run) only once
/// `--confirm` (`token`) or the terminal gives `word`; every status it passes through goes to
/// stderr as JSON. Returns the final resource as JSON and as text.
///
/// # Errors
/// A refused confirmation ([`StepError::Refused`]), or the operation's [`fleet_azure::Error`].
#[allow(clippy::print_stderr)] // the binaries' edge: statuses go to stderr
pub async fn apply<T>(
    procedure: &str,
    target: &str,
    word: Option<String>,
    token: Option<String>,
    start: impl Future<Output = Started<T>>,
) -> Result<(String, String), Box<dyn Error>>
where
    T: Serialize + DeserializeOwned + Display + Send + Sync + 'static,
{
    if let Some(word) = word {
        let request = ConfirmRequest {
            procedure: procedure.to_owned(),
            step: word.clone(),
            summary: format!("{word}: a destructive change on {target}"),
            word: ConfirmWord::new(&word)?,
        };
        if let Confirmation::Refused { reason } = cli_confirm(token).confirm(&request).await {
            let step = word;
            return Err(StepError::<fleet_azure::Error>::Refused { step, reason }.into());
        }
    }
    let status = |s: &ArmOperation<T>| eprintln!("{}", serde_json::json!(s));
    let outcome = fleet_azure::follow(start.await?, status).await?;
    Ok((serde_json::to_string(&outcome)?, outcome.to_string()))
}

/// The exit code of an Azure example's error: 2 for unusable input (an invalid request, a file
/// that cannot be read, a bad policy) and refused confirmations, 1 for failures and the
/// policy's refusals.
pub fn exit_code(e: &(dyn Error + 'static)) -> u8 {
    let azure_input = e
        .downcast_ref::<fleet_azure::Error>()
        .is_some_and(|a| a.is_invalid_input());
    let refused = e.is::<StepError<fleet_azure::Error>>();
    let input = e.is::<std::io::Error>() || e.is::<fleet_policy::Error>();
    if azure_input || refused || input {
        2
    } else {
        1
    }
}
