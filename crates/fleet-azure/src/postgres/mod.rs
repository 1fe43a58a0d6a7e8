//! PostgreSQL flexible server over ARM ([`FlexibleServerClient`]): backups
//! ([`ServerBackups`]), point-in-time restore ([`ServerRestore`]), firewall rules
//! ([`FirewallRules`]), server parameters ([`ServerParameters`]) and the administrator
//! password ([`ServerAdmin`]).

mod admin;
mod backups;
mod children;
mod firewall;
mod models;
mod parameters;
mod restore;

pub use admin::ServerAdmin;
pub use backups::ServerBackups;
pub use firewall::FirewallRules;
pub(crate) use models::parse_time;
pub use models::{
    BackupKind, BackupSource, FirewallRule, RestorePoints, RestoreRequest, ServerBackup,
    ServerInfo, ServerParameter, ServerState,
};
pub use parameters::ServerParameters;
pub use restore::ServerRestore;

#[cfg(any(test, feature = "test-util"))]
pub use admin::MockServerAdmin;
#[cfg(any(test, feature = "test-util"))]
pub use backups::MockServerBackups;
#[cfg(any(test, feature = "test-util"))]
pub use firewall::MockFirewallRules;
#[cfg(any(test, feature = "test-util"))]
pub use parameters::MockServerParameters;
#[cfg(any(test, feature = "test-util"))]
pub use restore::MockServerRestore;

use crate::error::Result;
use crate::http::{Http, resource_url};
use crate::options::PollSettings;
use azure_core::http::Url;

/// One flexible server (and its resource group, where restores create new servers), from
/// [`crate::ArmClient::flexible_server_client`]. Implements every trait of this module.
#[derive(Clone, Debug)]
pub struct FlexibleServerClient {
    pub(crate) http: Http,
    pub(crate) subscription_id: String,
    pub(crate) resource_group: String,
    pub(crate) server_name: String,
    pub(crate) api_version: String,
    pub(crate) polling: PollSettings,
}

impl FlexibleServerClient {
    /// The server this client manages.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Its resource group.
    pub fn resource_group(&self) -> &str {
        &self.resource_group
    }

    /// Its subscription.
    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }

    /// The URL of `server` (a validated name) followed by `tail`, with the api-version.
    pub(crate) fn url(&self, server: &str, tail: &[&str]) -> Result<Url> {
        let mut segments = vec![
            "subscriptions",
            self.subscription_id.as_str(),
            "resourceGroups",
            self.resource_group.as_str(),
            "providers",
            "Microsoft.DBforPostgreSQL",
            "flexibleServers",
            server,
        ];
        segments.extend_from_slice(tail);
        resource_url(
            &self.http.endpoint,
            &segments,
            &[("api-version", &self.api_version)],
        )
    }

    /// The ARM resource id of `server`.
    pub(crate) fn resource_id(&self, server: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{server}",
            self.subscription_id, self.resource_group
        )
    }
}
