//! Wiring shared by the Azure examples: an [`ArmClient`] for the endpoint in
//! `FLEET_AZURE_ARM_ENDPOINT` (default `https://management.azure.com`; sovereign clouds and
//! Azure Stack Hub set it), trusting only the CA certificates in the PEM file
//! `FLEET_AZURE_CA_CERT` when it is set (a private CA), with a credential chain from the
//! environment as `fleet_azure::CredentialConfig::from_env_vars` documents.

use fleet_azure::{ArmClient, ArmClientOptions, CredentialChain, CredentialConfig};
use std::sync::Arc;

/// The ARM client the environment describes.
///
/// # Errors
/// The CA file cannot be read or holds no certificate, no credential source is configured, or
/// the endpoint is not an `https` URL.
pub fn arm_client() -> Result<ArmClient, Box<dyn std::error::Error>> {
    let endpoint = std::env::var("FLEET_AZURE_ARM_ENDPOINT")
        .unwrap_or_else(|_| fleet_azure::AzureCloud::public().resource_manager);
    let mut config = CredentialConfig::from_env_vars(std::env::vars());
    let mut options = ArmClientOptions::default();
    if let Some(path) = std::env::var_os("FLEET_AZURE_CA_CERT") {
        let transport = fleet_azure::transport_trusting(&std::fs::read(path)?)?;
        config.client_options.transport = Some(transport.clone());
        options.client_options.transport = Some(transport);
    }
    let credential = Arc::new(CredentialChain::from_config(&config)?);
    Ok(ArmClient::new(&endpoint, credential, Some(options))?)
}
