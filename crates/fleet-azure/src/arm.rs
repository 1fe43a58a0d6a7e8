//! [`ArmClient`]: the Azure Resource Manager endpoint, one pipeline, and the sub-clients for
//! the resources the runbook touches.

use crate::activity::ActivityLogClient;
use crate::dns::DnsZoneClient;
use crate::error::{Error, Result};
use crate::http::Http;
use crate::names::{
    validate_dns_zone_name, validate_resource_group, validate_server_name, validate_subscription_id,
};
use crate::options::{
    ACTIVITY_LOG_API_VERSION, DNS_API_VERSION, Limits, POSTGRES_API_VERSION, PollSettings,
    RetrySettings, Service, token_scope,
};
use crate::postgres::FlexibleServerClient;
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Url};
use std::sync::Arc;

/// Options of an [`ArmClient`]. Plain data; the default retries with [`RetrySettings`]'
/// defaults, polls with [`PollSettings`]' and keeps [`Limits`]'.
#[derive(Clone, Debug)]
pub struct ArmClientOptions {
    /// azure_core's client options: retry, transport, logging and tracing, and the cloud
    /// (whose ARM audience decides the token scope).
    pub client_options: ClientOptions,
    /// The token audience (e.g. `https://management.azure.com`) instead of the cloud's.
    pub audience: Option<String>,
    /// Deadlines and caps.
    pub limits: Limits,
    /// Long-running operation polling.
    pub polling: PollSettings,
    /// api-version for `Microsoft.DBforPostgreSQL/flexibleServers`.
    pub postgres_api_version: String,
    /// api-version for `Microsoft.Network/dnsZones`.
    pub dns_api_version: String,
    /// api-version for the activity log.
    pub activity_log_api_version: String,
}

impl Default for ArmClientOptions {
    fn default() -> Self {
        Self {
            client_options: ClientOptions {
                retry: RetrySettings::default().into(),
                ..Default::default()
            },
            audience: None,
            limits: Limits::default(),
            polling: PollSettings::default(),
            postgres_api_version: POSTGRES_API_VERSION.to_owned(),
            dns_api_version: DNS_API_VERSION.to_owned(),
            activity_log_api_version: ACTIVITY_LOG_API_VERSION.to_owned(),
        }
    }
}

/// Azure Resource Manager, authenticated with one credential. Cheap to clone; the
/// resource clients it hands out share its pipeline.
///
/// ```no_run
/// # async fn demo(credential: std::sync::Arc<dyn azure_core::credentials::TokenCredential>) -> fleet_azure::Result<()> {
/// use fleet_azure::{ArmClient, ServerRestore};
/// let arm = ArmClient::new("https://management.azure.com", credential, None)?;
/// let server = arm.flexible_server_client(
///     "ffffffff-ffff-ffff-ffff-ffffffffffff",
///     "fleet-prod",
///     "fleet-db",
/// )?;
/// let info = server.get_server("fleet-db", None).await?;
/// # let _ = info; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ArmClient {
    pub(crate) http: Http,
    pub(crate) polling: PollSettings,
    postgres_api_version: String,
    dns_api_version: String,
    activity_log_api_version: String,
}

impl ArmClient {
    /// A client for the ARM `endpoint` (`https://management.azure.com` in the public cloud).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `endpoint` is not an `https` URL without query or
    /// fragment, or the cloud in the options names no ARM audience.
    pub fn new(
        endpoint: &str,
        credential: Arc<dyn TokenCredential>,
        options: Option<ArmClientOptions>,
    ) -> Result<Self> {
        let options = options.unwrap_or_default();
        let endpoint = parse_endpoint(endpoint)?;
        let scope = token_scope(
            Service::Arm,
            options.audience.as_deref(),
            options.client_options.cloud.as_deref(),
        )?;
        Ok(Self {
            http: Http::new(
                endpoint,
                credential,
                scope,
                options.client_options,
                options.limits,
            ),
            polling: options.polling,
            postgres_api_version: options.postgres_api_version,
            dns_api_version: options.dns_api_version,
            activity_log_api_version: options.activity_log_api_version,
        })
    }

    /// The ARM endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.http.endpoint
    }

    /// The PostgreSQL flexible server `server_name` in `resource_group` of `subscription_id`
    /// (restored servers are created in the same group).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a name Azure would not accept.
    pub fn flexible_server_client(
        &self,
        subscription_id: &str,
        resource_group: &str,
        server_name: &str,
    ) -> Result<FlexibleServerClient> {
        validate_subscription_id(subscription_id)?;
        validate_resource_group(resource_group)?;
        validate_server_name(server_name)?;
        Ok(FlexibleServerClient {
            http: self.http.clone(),
            subscription_id: subscription_id.to_owned(),
            resource_group: resource_group.to_owned(),
            server_name: server_name.to_owned(),
            api_version: self.postgres_api_version.clone(),
            polling: self.polling.clone(),
        })
    }

    /// The public Azure DNS zone `zone_name` in `resource_group` of `subscription_id`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a name Azure would not accept.
    pub fn dns_zone_client(
        &self,
        subscription_id: &str,
        resource_group: &str,
        zone_name: &str,
    ) -> Result<DnsZoneClient> {
        validate_subscription_id(subscription_id)?;
        validate_resource_group(resource_group)?;
        validate_dns_zone_name(zone_name)?;
        Ok(DnsZoneClient {
            http: self.http.clone(),
            subscription_id: subscription_id.to_owned(),
            resource_group: resource_group.to_owned(),
            zone_name: zone_name.to_owned(),
            api_version: self.dns_api_version.clone(),
        })
    }

    /// The activity log of `subscription_id`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an id Azure would not accept.
    pub fn activity_log_client(&self, subscription_id: &str) -> Result<ActivityLogClient> {
        validate_subscription_id(subscription_id)?;
        Ok(ActivityLogClient {
            http: self.http.clone(),
            subscription_id: subscription_id.to_owned(),
            api_version: self.activity_log_api_version.clone(),
        })
    }
}

/// An endpoint URL: `https`, no query or fragment.
pub(crate) fn parse_endpoint(endpoint: &str) -> Result<Url> {
    let url = Url::parse(endpoint)
        .map_err(|e| Error::invalid("endpoint", format!("{endpoint:?} is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(Error::invalid(
            "endpoint",
            format!("{endpoint:?} must be an https URL: tokens are never sent in the clear"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || url.host_str().is_none() {
        return Err(Error::invalid(
            "endpoint",
            format!("{endpoint:?} must be a plain https URL with a host and no query"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_plain_https() {
        assert!(parse_endpoint("https://management.azure.com").is_ok());
        assert!(parse_endpoint("https://127.0.0.1:8443/").is_ok());
        for bad in [
            "http://management.azure.com",
            "https://management.azure.com/?x=1",
            "management.azure.com",
            "https://h/#f",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
