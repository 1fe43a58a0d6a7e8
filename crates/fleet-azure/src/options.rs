//! Plain-data settings shared by every client (clouds, retries, polling, limits) and the
//! per-call options structs.
//!
//! Nothing here reads the environment or files; a binary fills these structs from its own
//! configuration. Every default is finite: retries have a budget, waits a deadline, reads a
//! byte cap.

use azure_core::cloud::{Audiences, CloudConfiguration, CustomConfiguration};
use azure_core::http::{ClientMethodOptions, RetryOptions};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// ARM api-version for `Microsoft.DBforPostgreSQL/flexibleServers` (latest stable).
pub const POSTGRES_API_VERSION: &str = "2025-08-01";
/// ARM api-version for `Microsoft.Network/dnsZones` (latest stable).
pub const DNS_API_VERSION: &str = "2018-05-01";
/// ARM api-version for the activity log (`Microsoft.Insights/eventtypes`, the only stable one).
pub const ACTIVITY_LOG_API_VERSION: &str = "2015-04-01";
/// Key Vault data-plane api-version (the default of `azure_security_keyvault_secrets` 1.0).
pub const KEY_VAULT_API_VERSION: &str = "2025-07-01";

/// Marks the Azure Resource Manager audience in a custom cloud's
/// [`azure_core::cloud::Audiences`].
#[derive(Debug)]
pub struct ArmAudience;
/// Marks the Log Analytics query audience in a custom cloud's audiences.
#[derive(Debug)]
pub struct LogAnalyticsAudience;
/// Marks the Application Insights query audience in a custom cloud's audiences.
#[derive(Debug)]
pub struct AppInsightsAudience;

/// The endpoints of one Azure cloud, for binaries that build clients for it.
///
/// [`AzureCloud::public`] is the default; [`AzureCloud::us_government`] and
/// [`AzureCloud::china`] carry the sovereign clouds' endpoints; [`AzureCloud::custom_at`] points
/// every endpoint at one base URL (local stand-ins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureCloud {
    /// Which cloud this is.
    pub kind: CloudKind,
    /// Azure Resource Manager endpoint, e.g. `https://management.azure.com`.
    pub resource_manager: String,
    /// Log Analytics query endpoint, e.g. `https://api.loganalytics.azure.com`.
    pub log_analytics: String,
    /// Classic Application Insights query endpoint, e.g. `https://api.applicationinsights.io`.
    pub app_insights: String,
    /// Microsoft Entra authority host for credentials, e.g. `https://login.microsoftonline.com`.
    pub authority_host: String,
}

/// Which Azure cloud.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CloudKind {
    /// Azure public cloud.
    #[default]
    Public,
    /// Azure Government (US).
    UsGovernment,
    /// Azure operated by 21Vianet (China).
    China,
    /// Anything else (Azure Stack, tests): endpoints come from the fields and the audiences
    /// of the public cloud are used.
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
            log_analytics: "https://api.loganalytics.azure.com".into(),
            app_insights: "https://api.applicationinsights.io".into(),
            authority_host: "https://login.microsoftonline.com".into(),
        }
    }

    /// Azure Government.
    pub fn us_government() -> Self {
        Self {
            kind: CloudKind::UsGovernment,
            resource_manager: "https://management.usgovcloudapi.net".into(),
            log_analytics: "https://api.loganalytics.us".into(),
            app_insights: "https://api.applicationinsights.us".into(),
            authority_host: "https://login.microsoftonline.us".into(),
        }
    }

    /// Azure operated by 21Vianet.
    pub fn china() -> Self {
        Self {
            kind: CloudKind::China,
            resource_manager: "https://management.chinacloudapi.cn".into(),
            log_analytics: "https://api.loganalytics.azure.cn".into(),
            app_insights: "https://api.applicationinsights.azure.cn".into(),
            authority_host: "https://login.chinacloudapi.cn".into(),
        }
    }

    /// Every endpoint replaced by `base` (for local stand-ins); tokens are still requested for
    /// the public cloud's audiences.
    pub fn custom_at(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            kind: CloudKind::Custom,
            resource_manager: base.clone(),
            log_analytics: base.clone(),
            app_insights: base.clone(),
            authority_host: base,
        }
    }

    /// The azure_core cloud configuration (authority host and audiences), for credentials and
    /// for [`azure_core::http::ClientOptions::cloud`].
    pub fn cloud_configuration(&self) -> CloudConfiguration {
        match self.kind {
            CloudKind::Public => CloudConfiguration::AzurePublic,
            CloudKind::UsGovernment => CloudConfiguration::AzureGovernment,
            CloudKind::China => CloudConfiguration::AzureChina,
            CloudKind::Custom => {
                let mut custom = CustomConfiguration::default();
                custom.authority_host = self.authority_host.clone();
                custom.audiences = Audiences::new()
                    .with::<ArmAudience>(PUBLIC_AUDIENCES.arm.to_owned())
                    .with::<LogAnalyticsAudience>(PUBLIC_AUDIENCES.log_analytics.to_owned())
                    .with::<AppInsightsAudience>(PUBLIC_AUDIENCES.app_insights.to_owned());
                CloudConfiguration::Custom(custom)
            }
        }
    }
}

struct KnownAudiences {
    arm: &'static str,
    log_analytics: &'static str,
    app_insights: &'static str,
}

const PUBLIC_AUDIENCES: KnownAudiences = KnownAudiences {
    arm: "https://management.azure.com",
    log_analytics: "https://api.loganalytics.io",
    app_insights: "https://api.applicationinsights.io",
};
const GOVERNMENT_AUDIENCES: KnownAudiences = KnownAudiences {
    arm: "https://management.usgovcloudapi.net",
    log_analytics: "https://api.loganalytics.us",
    app_insights: "https://api.applicationinsights.us",
};
const CHINA_AUDIENCES: KnownAudiences = KnownAudiences {
    arm: "https://management.chinacloudapi.cn",
    log_analytics: "https://api.loganalytics.azure.cn",
    app_insights: "https://api.applicationinsights.azure.cn",
};

/// Which service a token is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Service {
    Arm,
    LogAnalytics,
    AppInsights,
}

/// The token scope (`<audience>/.default`) for `service`: `explicit` when given, else the
/// audience of the cloud in `cloud` (the public cloud when `None`).
pub(crate) fn token_scope(
    service: Service,
    explicit: Option<&str>,
    cloud: Option<&CloudConfiguration>,
) -> Result<String> {
    let audience = match explicit {
        Some(a) => a.to_owned(),
        None => {
            let known = match cloud {
                None | Some(CloudConfiguration::AzurePublic) => Some(&PUBLIC_AUDIENCES),
                Some(CloudConfiguration::AzureGovernment) => Some(&GOVERNMENT_AUDIENCES),
                Some(CloudConfiguration::AzureChina) => Some(&CHINA_AUDIENCES),
                Some(_) => None,
            };
            match (known, cloud) {
                (Some(k), _) => match service {
                    Service::Arm => k.arm,
                    Service::LogAnalytics => k.log_analytics,
                    Service::AppInsights => k.app_insights,
                }
                .to_owned(),
                (None, Some(CloudConfiguration::Custom(custom))) => match service {
                    Service::Arm => custom.audiences.get::<ArmAudience>(),
                    Service::LogAnalytics => custom.audiences.get::<LogAnalyticsAudience>(),
                    Service::AppInsights => custom.audiences.get::<AppInsightsAudience>(),
                }
                .ok_or_else(|| {
                    Error::invalid(
                        "client_options.cloud",
                        format!("the custom cloud names no audience for {service:?}; set one or the client's audience"),
                    )
                })?
                .to_owned(),
                _ => {
                    return Err(Error::invalid(
                        "client_options.cloud",
                        "an unknown cloud configuration",
                    ));
                }
            }
        }
    };
    Ok(format!("{}/.default", audience.trim_end_matches('/')))
}

/// How requests are retried. Only what Azure calls retryable is retried (408, 429, 500, 502,
/// 503, 504 and connection errors: azure_core's list); for 429 and 503 the wait is at least
/// the server's `Retry-After`, which is capped by [`Limits::max_retry_after`] and the
/// operation's remaining time. Convert it into azure_core's [`RetryOptions`] with
/// [`RetrySettings::to_retry_options`] (the clients' default options already do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First back-off; doubles each retry.
    pub initial_delay: Duration,
    /// Cap on one back-off.
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

    /// These settings as azure_core retry options (a custom policy that logs every retry).
    pub fn to_retry_options(&self) -> RetryOptions {
        RetryOptions::custom(Arc::new(crate::http::ScheduledRetry::new(self.clone())))
    }
}

impl From<RetrySettings> for RetryOptions {
    fn from(settings: RetrySettings) -> Self {
        settings.to_retry_options()
    }
}

/// How long-running operations are polled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollSettings {
    /// Wait between polls when Azure sends no `Retry-After`.
    pub default_interval: Duration,
    /// Never poll faster than this, whatever `Retry-After` says.
    pub min_interval: Duration,
    /// Never wait longer than this between polls, whatever `Retry-After` says.
    pub max_interval: Duration,
    /// Give up waiting (the operation keeps running in Azure and can be resumed) after this
    /// long. Pass your recovery-time objective here; the default is not a runbook number.
    pub timeout: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(10),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(2 * 3600),
        }
    }
}

impl PollSettings {
    /// Polls as fast as a local stand-in allows, with `timeout` as the deadline.
    pub fn fast_for_tests(timeout: Duration) -> Self {
        Self {
            default_interval: Duration::ZERO,
            min_interval: Duration::ZERO,
            max_interval: Duration::from_secs(1),
            timeout,
        }
    }
}

/// Bounds every client keeps, whatever the server does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deadline for one operation (one request with its retries, or one page of a list).
    pub operation_timeout: Duration,
    /// Deadline for one token fetch (a hung metadata endpoint or CLI cannot stall a call).
    pub token_timeout: Duration,
    /// Largest response body read, after decompression; a larger one is
    /// [`crate::ErrorKind::ResponseTooLarge`].
    pub max_response_bytes: u64,
    /// Longest `Retry-After` honoured before a retry; longer ones are cut to this (and to the
    /// operation's remaining time).
    pub max_retry_after: Duration,
    /// Most pages a list follows before it reports an error (a `nextLink` loop).
    pub max_pages: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            operation_timeout: Duration::from_secs(300),
            token_timeout: Duration::from_secs(30),
            max_response_bytes: 16 * 1024 * 1024,
            max_retry_after: Duration::from_secs(30),
            max_pages: 1000,
        }
    }
}

/// Per-call options of a read.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions<'a> {
    /// azure_core's per-call options (a [`azure_core::http::Context`]).
    pub method_options: ClientMethodOptions<'a>,
}

/// Per-call options of a list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions<'a> {
    /// azure_core's per-call options.
    pub method_options: ClientMethodOptions<'a>,
    /// Resume from this `nextLink` (saved from [`azure_core::http::Pager::continuation`])
    /// instead of the first page. It must point at the client's own endpoint.
    pub continuation: Option<String>,
}

/// Per-call options of a change that completes in one request.
#[derive(Clone, Debug, Default)]
pub struct ChangeOptions<'a> {
    /// azure_core's per-call options.
    pub method_options: ClientMethodOptions<'a>,
    /// Validate and return the exact request instead of sending it.
    pub dry_run: bool,
}

impl ChangeOptions<'_> {
    /// Options for a dry run.
    pub fn dry_run() -> Self {
        Self {
            dry_run: true,
            ..Default::default()
        }
    }

    /// These options with `dry_run`.
    pub fn with_dry_run(self, dry_run: bool) -> Self {
        Self { dry_run, ..self }
    }
}

/// Per-call options of a long-running operation (`begin_*`).
#[derive(Clone, Debug, Default)]
pub struct BeginOptions<'a> {
    /// azure_core's per-call options.
    pub method_options: ClientMethodOptions<'a>,
    /// Validate and return the exact request instead of sending it.
    pub dry_run: bool,
    /// Polling for this operation instead of the client's.
    pub polling: Option<PollSettings>,
}

impl BeginOptions<'_> {
    /// Options for a dry run.
    pub fn dry_run() -> Self {
        Self {
            dry_run: true,
            ..Default::default()
        }
    }

    /// These options with `dry_run`.
    pub fn with_dry_run(self, dry_run: bool) -> Self {
        Self { dry_run, ..self }
    }

    /// These options with `polling`.
    pub fn with_polling(self, polling: PollSettings) -> Self {
        Self {
            polling: Some(polling),
            ..self
        }
    }
}

/// Per-call options of picking a long-running operation up again from its resume token.
#[derive(Clone, Debug, Default)]
pub struct ResumeOptions<'a> {
    /// azure_core's per-call options.
    pub method_options: ClientMethodOptions<'a>,
    /// Polling for this operation instead of the client's.
    pub polling: Option<PollSettings>,
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
    }

    #[test]
    fn scopes_follow_the_cloud() -> Result<()> {
        assert_eq!(
            token_scope(Service::Arm, None, None)?,
            "https://management.azure.com/.default"
        );
        assert_eq!(
            token_scope(
                Service::Arm,
                None,
                Some(&CloudConfiguration::AzureGovernment)
            )?,
            "https://management.usgovcloudapi.net/.default"
        );
        let custom = AzureCloud::custom_at("https://127.0.0.1:9").cloud_configuration();
        assert_eq!(
            token_scope(Service::LogAnalytics, None, Some(&custom))?,
            "https://api.loganalytics.io/.default"
        );
        assert_eq!(
            token_scope(Service::Arm, Some("https://x.example/"), None)?,
            "https://x.example/.default"
        );
        let bare = CloudConfiguration::Custom(CustomConfiguration::default());
        assert!(token_scope(Service::Arm, None, Some(&bare)).is_err());
        Ok(())
    }

    #[test]
    fn every_default_is_finite() {
        let l = Limits::default();
        assert!(l.operation_timeout < Duration::from_secs(3600));
        assert!(l.max_response_bytes > 0);
        assert!(PollSettings::default().timeout < Duration::from_secs(24 * 3600));
        assert!(RetrySettings::default().max_total_elapsed < Duration::from_secs(3600));
    }
}
