//! Plain-data options: clouds and their endpoints, pinned api-versions, retry and polling.
//!
//! Nothing here reads the environment or files; a binary fills these structs from its own
//! configuration.

use azure_core::cloud::CloudConfiguration;
use std::time::Duration;

/// ARM api-version for `Microsoft.DBforPostgreSQL/flexibleServers` (latest stable).
pub const POSTGRES_API_VERSION: &str = "2025-08-01";
/// Key Vault data-plane api-version (the default of `azure_security_keyvault_secrets` 1.0).
pub const KEY_VAULT_API_VERSION: &str = "2025-07-01";

/// The endpoints and token scopes of one Azure cloud.
///
/// [`AzureCloud::public`] is the default; [`AzureCloud::us_government`] and
/// [`AzureCloud::china`] carry the sovereign clouds' endpoints, and every field can be
/// overridden (tests point all of them at a local replay server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureCloud {
    /// Which cloud this is; decides the credential's authority host.
    pub kind: CloudKind,
    /// Azure Resource Manager endpoint, e.g. `https://management.azure.com`.
    pub resource_manager: String,
    /// Token scope for ARM.
    pub resource_manager_scope: String,
    /// Log Analytics query endpoint, e.g. `https://api.loganalytics.azure.com`.
    pub log_analytics: String,
    /// Token scope for Log Analytics.
    pub log_analytics_scope: String,
    /// Classic Application Insights query endpoint, e.g. `https://api.applicationinsights.io`.
    pub app_insights: String,
    /// Token scope for the Application Insights API.
    pub app_insights_scope: String,
    /// Microsoft Entra authority host for credentials, e.g. `https://login.microsoftonline.com`.
    pub authority_host: String,
}

/// Which Azure cloud.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CloudKind {
    /// Azure public cloud.
    #[default]
    Public,
    /// Azure Government (US).
    UsGovernment,
    /// Azure operated by 21Vianet (China).
    China,
    /// Anything else (Azure Stack, tests); endpoints come from the fields.
    Custom,
}

impl Default for AzureCloud {
    fn default() -> Self {
        Self::public()
    }
}

impl AzureCloud {
    /// Azure public cloud.
    pub fn public() -> Self {
        Self {
            kind: CloudKind::Public,
            resource_manager: "https://management.azure.com".into(),
            resource_manager_scope: "https://management.azure.com/.default".into(),
            log_analytics: "https://api.loganalytics.azure.com".into(),
            log_analytics_scope: "https://api.loganalytics.io/.default".into(),
            app_insights: "https://api.applicationinsights.io".into(),
            app_insights_scope: "https://api.applicationinsights.io/.default".into(),
            authority_host: "https://login.microsoftonline.com".into(),
        }
    }

    /// Azure Government.
    pub fn us_government() -> Self {
        Self {
            kind: CloudKind::UsGovernment,
            resource_manager: "https://management.usgovcloudapi.net".into(),
            resource_manager_scope: "https://management.usgovcloudapi.net/.default".into(),
            log_analytics: "https://api.loganalytics.us".into(),
            log_analytics_scope: "https://api.loganalytics.us/.default".into(),
            app_insights: "https://api.applicationinsights.us".into(),
            app_insights_scope: "https://api.applicationinsights.us/.default".into(),
            authority_host: "https://login.microsoftonline.us".into(),
        }
    }

    /// Azure operated by 21Vianet.
    pub fn china() -> Self {
        Self {
            kind: CloudKind::China,
            resource_manager: "https://management.chinacloudapi.cn".into(),
            resource_manager_scope: "https://management.chinacloudapi.cn/.default".into(),
            log_analytics: "https://api.loganalytics.azure.cn".into(),
            log_analytics_scope: "https://api.loganalytics.azure.cn/.default".into(),
            app_insights: "https://api.applicationinsights.azure.cn".into(),
            app_insights_scope: "https://api.applicationinsights.azure.cn/.default".into(),
            authority_host: "https://login.chinacloudapi.cn".into(),
        }
    }

    /// Every endpoint of this cloud replaced by `base` (scopes kept); for local stand-ins.
    pub fn custom_at(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            kind: CloudKind::Custom,
            resource_manager: base.clone(),
            log_analytics: base.clone(),
            app_insights: base.clone(),
            authority_host: base,
            ..Self::public()
        }
    }

    /// The azure_core cloud configuration for credentials.
    pub fn cloud_configuration(&self) -> CloudConfiguration {
        match self.kind {
            CloudKind::Public => CloudConfiguration::AzurePublic,
            CloudKind::UsGovernment => CloudConfiguration::AzureGovernment,
            CloudKind::China => CloudConfiguration::AzureChina,
            CloudKind::Custom => {
                let mut custom = azure_core::cloud::CustomConfiguration::default();
                custom.authority_host = self.authority_host.clone();
                CloudConfiguration::Custom(custom)
            }
        }
    }
}

/// How requests are retried. Only what Azure calls retryable is retried (408, 429, 500, 502,
/// 503, 504 and connection errors: azure_core's list); for 429 and 503 the wait is at least
/// the server's `Retry-After` (`x-ms-retry-after-ms`, `retry-after-ms` or `Retry-After`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First back-off; doubles each retry.
    pub initial_delay: Duration,
    /// Cap on one back-off (a longer `Retry-After` still wins).
    pub max_delay: Duration,
    /// Stop retrying once this much time has passed since the first answer.
    pub max_total_elapsed: Duration,
    /// Add up to 25 % random jitter to each back-off.
    pub jitter: bool,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_delay: Duration::from_millis(800),
            max_delay: Duration::from_secs(30),
            max_total_elapsed: Duration::from_secs(120),
            jitter: true,
        }
    }
}

impl RetrySettings {
    /// Tiny, jitter-free delays for tests against a local server.
    pub fn fast_for_tests(max_retries: u32) -> Self {
        Self {
            max_retries,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_total_elapsed: Duration::from_secs(30),
            jitter: false,
        }
    }
}

/// How long-running operations are polled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollSettings {
    /// Wait between polls when Azure sends no `Retry-After`.
    pub default_interval: Duration,
    /// Never poll faster than this, whatever `Retry-After` says.
    pub min_interval: Duration,
    /// Give up waiting (the operation keeps running in Azure) after this long.
    pub timeout: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(10),
            min_interval: Duration::from_secs(1),
            // The runbook's RTO is 4 h; a restore that takes longer has already failed it.
            timeout: Duration::from_secs(4 * 3600),
        }
    }
}

/// Where the PostgreSQL flexible server lives and how to talk to ARM about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlexibleServerOptions {
    /// Subscription id.
    pub subscription_id: String,
    /// Resource group of the server (restored servers go into the same group).
    pub resource_group: String,
    /// The server whose backups are managed and which restores start from.
    pub server_name: String,
    /// ARM api-version; default [`POSTGRES_API_VERSION`].
    pub api_version: String,
    /// Backup retention in days, for checks before any request (the runbook's 7).
    pub backup_retention_days: u32,
    /// Cloud endpoints.
    pub cloud: AzureCloud,
    /// Retries.
    pub retry: RetrySettings,
    /// Long-running operation polling.
    pub polling: PollSettings,
}

impl FlexibleServerOptions {
    /// Options for `server_name` in `resource_group` of `subscription_id`, public cloud,
    /// defaults elsewhere.
    pub fn new(subscription_id: &str, resource_group: &str, server_name: &str) -> Self {
        Self {
            subscription_id: subscription_id.to_owned(),
            resource_group: resource_group.to_owned(),
            server_name: server_name.to_owned(),
            api_version: POSTGRES_API_VERSION.to_owned(),
            backup_retention_days: 7,
            cloud: AzureCloud::default(),
            retry: RetrySettings::default(),
            polling: PollSettings::default(),
        }
    }
}

/// Which query API serves Application Insights data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TelemetrySource {
    /// Workspace-based Application Insights through the Log Analytics query API
    /// (`/v1/workspaces/{id}/query`, tables `AppRequests`, `AppExceptions`, `AppDependencies`).
    Workspace {
        /// Log Analytics workspace id (a GUID).
        workspace_id: String,
    },
    /// The classic Application Insights API (`/v1/apps/{id}/query`, tables `requests`,
    /// `exceptions`, `dependencies`).
    AppInsights {
        /// Application Insights application id (a GUID).
        app_id: String,
    },
}

/// Options for [`crate::TelemetryClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryOptions {
    /// Where the data is queried.
    pub source: TelemetrySource,
    /// Only this cloud role (`AppRoleName` / `cloud_RoleName`), when a workspace holds several
    /// applications. Checked by [`crate::telemetry::RoleName`] rules before use.
    pub role_name: Option<String>,
    /// Cloud endpoints.
    pub cloud: AzureCloud,
    /// Retries.
    pub retry: RetrySettings,
}

impl TelemetryOptions {
    /// Workspace-based options for `workspace_id`, public cloud.
    pub fn workspace(workspace_id: &str) -> Self {
        Self {
            source: TelemetrySource::Workspace {
                workspace_id: workspace_id.to_owned(),
            },
            role_name: None,
            cloud: AzureCloud::default(),
            retry: RetrySettings::default(),
        }
    }

    /// Classic Application Insights options for `app_id`, public cloud.
    pub fn app_insights(app_id: &str) -> Self {
        Self {
            source: TelemetrySource::AppInsights {
                app_id: app_id.to_owned(),
            },
            ..Self::workspace("")
        }
    }
}

/// Options for [`crate::KeyVaultSecrets`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretsOptions {
    /// Vault URL, e.g. `https://myvault.vault.azure.net`.
    pub vault_url: String,
    /// Key Vault api-version; default [`KEY_VAULT_API_VERSION`].
    pub api_version: String,
    /// Check that the vault's authentication challenge names a resource whose host is a
    /// suffix of the vault's host (keep `true` outside tests).
    pub verify_challenge_resource: bool,
    /// Retries.
    pub retry: RetrySettings,
}

impl SecretsOptions {
    /// Options for the vault at `vault_url`.
    pub fn new(vault_url: &str) -> Self {
        Self {
            vault_url: vault_url.to_owned(),
            api_version: KEY_VAULT_API_VERSION.to_owned(),
            verify_challenge_resource: true,
            retry: RetrySettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_is_default_and_sovereign_clouds_differ() {
        assert_eq!(AzureCloud::default(), AzureCloud::public());
        assert_ne!(
            AzureCloud::us_government().resource_manager,
            AzureCloud::public().resource_manager
        );
        assert_eq!(
            AzureCloud::china().cloud_configuration(),
            CloudConfiguration::AzureChina
        );
        let local = AzureCloud::custom_at("https://127.0.0.1:1/");
        assert_eq!(local.resource_manager, "https://127.0.0.1:1");
        assert_eq!(
            local.resource_manager_scope,
            AzureCloud::public().resource_manager_scope
        );
    }

    #[test]
    fn pinned_versions() {
        let o = FlexibleServerOptions::new("s", "g", "n");
        assert_eq!(o.api_version, "2025-08-01");
        assert_eq!(o.backup_retention_days, 7);
    }
}
