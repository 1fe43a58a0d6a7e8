//! What the runbook reads and writes about a flexible server, and how it is read from ARM's
//! JSON. Domain types serialise in their own shape (for reports and the pollers' results),
//! never in ARM's.

use crate::error::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// How a backup was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackupKind {
    /// Azure's scheduled backup (`backupType: "Full"`).
    Automatic,
    /// An on-demand backup (`backupType: "Customer On-Demand"`).
    OnDemand,
    /// A type this crate does not know, as Azure named it.
    Other(String),
}

/// Who started a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackupSource {
    /// `"Automatic"`.
    Automatic,
    /// `"Customer Initiated"`.
    CustomerInitiated,
    /// Anything else, as Azure named it.
    Other(String),
}

/// One backup of a flexible server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerBackup {
    /// Backup name.
    pub name: String,
    /// ARM resource id.
    pub id: String,
    /// Type.
    pub kind: BackupKind,
    /// Source.
    pub source: BackupSource,
    /// When it completed, if Azure says.
    pub completed_at: Option<Timestamp>,
}

impl fmt::Display for ServerBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self
            .completed_at
            .map_or_else(|| "-".to_owned(), |t| t.to_string());
        let kind = match &self.kind {
            BackupKind::Automatic => "automatic",
            BackupKind::OnDemand => "on-demand",
            BackupKind::Other(o) => o,
        };
        write!(f, "{:<40} {:<28} {kind}", self.name, at)
    }
}

/// The range a point-in-time restore may target, as Azure reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RestorePoints {
    /// Earliest restorable instant (`backup.earliestRestoreDate`), when Azure says.
    pub earliest: Option<Timestamp>,
    /// Latest restorable instant: now (a flexible server restores continuously from WAL).
    pub latest: Timestamp,
    /// Retention in days as the server reports it.
    pub retention_days: Option<u32>,
    /// Completion time of the newest backup listed.
    pub newest_backup: Option<Timestamp>,
}

impl fmt::Display for RestorePoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let earliest = self
            .earliest
            .map_or_else(|| "(not reported)".to_owned(), |t| t.to_string());
        write!(f, "restore window: {earliest} .. {}", self.latest)
    }
}

/// The lifecycle state of a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerState {
    /// `Ready`.
    Ready,
    /// `Provisioning` (a restore in progress).
    Provisioning,
    /// `Updating`.
    Updating,
    /// `Stopped`.
    Stopped,
    /// `Disabled`.
    Disabled,
    /// Any other state, as Azure named it.
    Other(String),
}

/// What the runbook reads about a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// ARM resource id.
    pub id: String,
    /// Region.
    pub location: String,
    /// Lifecycle state.
    pub state: ServerState,
    /// PostgreSQL major version (e.g. `17`).
    pub version: Option<String>,
    /// Fully qualified domain name to connect to.
    pub fqdn: Option<String>,
    /// The administrator login (its password is never returned by Azure).
    pub administrator_login: Option<String>,
    /// `backup.earliestRestoreDate`.
    pub earliest_restore: Option<Timestamp>,
    /// `backup.backupRetentionDays`.
    pub retention_days: Option<u32>,
}

impl fmt::Display for ServerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {:?} in {} at {}",
            self.name,
            self.state,
            self.location,
            self.fqdn.as_deref().unwrap_or("(no FQDN yet)")
        )
    }
}

/// A point-in-time restore into a new server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// Name of the new server (3-63 lower-case letters, digits, hyphens).
    pub target_server_name: String,
    /// The instant to restore to: not in the future and not before the source server's
    /// earliest restore point (Azure's facts, checked here). Whether it satisfies a recovery
    /// policy is the caller's decision (`fleet_policy::backup::check_restore_target`).
    pub point_in_time: Timestamp,
    /// Restore from this server instead of the client's.
    pub source_server_name: Option<String>,
}

impl RestoreRequest {
    /// A restore of the client's server into `target_server_name` at `point_in_time`.
    pub fn new(target_server_name: &str, point_in_time: Timestamp) -> Self {
        Self {
            target_server_name: target_server_name.to_owned(),
            point_in_time,
            source_server_name: None,
        }
    }
}

/// A flexible-server firewall rule: clients whose IPv4 address is in
/// `start_ip_address..=end_ip_address` may connect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FirewallRule {
    /// Rule name.
    pub name: String,
    /// First address of the range.
    pub start_ip_address: Ipv4Addr,
    /// Last address of the range.
    pub end_ip_address: Ipv4Addr,
}

impl FirewallRule {
    /// A rule for `start..=end`.
    pub fn new(name: &str, start_ip_address: Ipv4Addr, end_ip_address: Ipv4Addr) -> Self {
        Self {
            name: name.to_owned(),
            start_ip_address,
            end_ip_address,
        }
    }
}

/// A server parameter (configuration) and what Azure says about changing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerParameter {
    /// Parameter name (`max_connections`).
    pub name: String,
    /// Current value; always a string, even for numbers.
    pub value: Option<String>,
    /// Default value.
    pub default_value: Option<String>,
    /// `Boolean`, `Numeric`, `Integer`, `Enumeration`, `String` or `Set`.
    pub data_type: Option<String>,
    /// Allowed values (`"on,off"`, `"25-5000"`).
    pub allowed_values: Option<String>,
    /// `system-default` or `user-override`.
    pub source: Option<String>,
    /// `false` for a static parameter: a change takes effect after a restart.
    pub is_dynamic: Option<bool>,
    /// Cannot be changed.
    pub is_read_only: Option<bool>,
    /// A change is waiting for a restart.
    pub is_pending_restart: Option<bool>,
    /// Unit of the value.
    pub unit: Option<String>,
    /// Azure's description.
    pub description: Option<String>,
}

// ---- ARM shapes ----

#[derive(Deserialize)]
pub(crate) struct ArmBackup {
    name: String,
    id: Option<String>,
    properties: Option<ArmBackupProperties>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ArmBackupProperties {
    backup_type: Option<String>,
    completed_time: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ArmServer {
    name: String,
    id: Option<String>,
    location: Option<String>,
    properties: Option<ArmServerProperties>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ArmServerProperties {
    state: Option<String>,
    version: Option<String>,
    fully_qualified_domain_name: Option<String>,
    administrator_login: Option<String>,
    backup: Option<ArmServerBackup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArmServerBackup {
    earliest_restore_date: Option<String>,
    backup_retention_days: Option<u32>,
}

#[derive(Deserialize)]
pub(crate) struct ArmFirewallRule {
    name: String,
    properties: ArmFirewallProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArmFirewallProperties {
    start_ip_address: String,
    end_ip_address: String,
}

#[derive(Deserialize)]
pub(crate) struct ArmConfiguration {
    name: String,
    properties: Option<ArmConfigurationProperties>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ArmConfigurationProperties {
    value: Option<String>,
    default_value: Option<String>,
    data_type: Option<String>,
    allowed_values: Option<String>,
    source: Option<String>,
    is_dynamic_config: Option<bool>,
    is_read_only: Option<bool>,
    is_config_pending_restart: Option<bool>,
    unit: Option<String>,
    description: Option<String>,
}

pub(crate) fn parse_time(
    operation: &str,
    field: &str,
    text: Option<String>,
) -> Result<Option<Timestamp>> {
    text.map(|t| {
        t.parse::<Timestamp>().map_err(|e| {
            Error::response(
                operation,
                format!("{field} {t:?} is not an RFC 3339 time: {e}"),
            )
        })
    })
    .transpose()
}

fn json<A: serde::de::DeserializeOwned>(operation: &str, body: &[u8]) -> Result<A> {
    serde_json::from_slice(body)
        .map_err(|e| Error::response(operation, format!("body is not the expected JSON: {e}")))
}

impl ArmBackup {
    pub(crate) fn into_domain(self, operation: &str) -> Result<ServerBackup> {
        let props = self.properties.unwrap_or_default();
        let kind = match props.backup_type.as_deref() {
            Some("Full") => BackupKind::Automatic,
            Some("Customer On-Demand") => BackupKind::OnDemand,
            other => BackupKind::Other(other.unwrap_or_default().to_owned()),
        };
        let source = match props.source.as_deref() {
            Some("Automatic") => BackupSource::Automatic,
            Some("Customer Initiated") => BackupSource::CustomerInitiated,
            other => BackupSource::Other(other.unwrap_or_default().to_owned()),
        };
        Ok(ServerBackup {
            completed_at: parse_time(operation, "completedTime", props.completed_time)?,
            name: self.name,
            id: self.id.unwrap_or_default(),
            kind,
            source,
        })
    }
}

impl ArmServer {
    pub(crate) fn into_domain(self, operation: &str) -> Result<ServerInfo> {
        let props = self.properties.unwrap_or_default();
        let state = match props.state.as_deref() {
            Some("Ready") => ServerState::Ready,
            Some("Provisioning") => ServerState::Provisioning,
            Some("Updating") => ServerState::Updating,
            Some("Stopped") => ServerState::Stopped,
            Some("Disabled") => ServerState::Disabled,
            other => ServerState::Other(other.unwrap_or_default().to_owned()),
        };
        let (earliest, retention) = match props.backup {
            Some(b) => (b.earliest_restore_date, b.backup_retention_days),
            None => (None, None),
        };
        Ok(ServerInfo {
            earliest_restore: parse_time(operation, "backup.earliestRestoreDate", earliest)?,
            retention_days: retention,
            name: self.name,
            id: self.id.unwrap_or_default(),
            location: self.location.unwrap_or_default(),
            state,
            version: props.version,
            fqdn: props.fully_qualified_domain_name,
            administrator_login: props.administrator_login,
        })
    }
}

impl ArmFirewallRule {
    pub(crate) fn into_domain(self, operation: &str) -> Result<FirewallRule> {
        let ip = |field: &str, text: &str| {
            text.parse::<Ipv4Addr>().map_err(|_| {
                Error::response(
                    operation,
                    format!("{field} {text:?} is not an IPv4 address"),
                )
            })
        };
        Ok(FirewallRule {
            start_ip_address: ip("startIpAddress", &self.properties.start_ip_address)?,
            end_ip_address: ip("endIpAddress", &self.properties.end_ip_address)?,
            name: self.name,
        })
    }
}

impl ArmConfiguration {
    pub(crate) fn into_domain(self, _operation: &str) -> Result<ServerParameter> {
        let p = self.properties.unwrap_or_default();
        Ok(ServerParameter {
            name: self.name,
            value: p.value,
            default_value: p.default_value,
            data_type: p.data_type,
            allowed_values: p.allowed_values,
            source: p.source,
            is_dynamic: p.is_dynamic_config,
            is_read_only: p.is_read_only,
            is_pending_restart: p.is_config_pending_restart,
            unit: p.unit,
            description: p.description,
        })
    }
}

pub(crate) fn backup_from_arm(operation: &str, body: &[u8]) -> Result<ServerBackup> {
    json::<ArmBackup>(operation, body)?.into_domain(operation)
}

pub(crate) fn server_from_arm(operation: &str, body: &[u8]) -> Result<ServerInfo> {
    json::<ArmServer>(operation, body)?.into_domain(operation)
}

pub(crate) fn firewall_rule_from_arm(operation: &str, body: &[u8]) -> Result<FirewallRule> {
    json::<ArmFirewallRule>(operation, body)?.into_domain(operation)
}

pub(crate) fn parameter_from_arm(operation: &str, body: &[u8]) -> Result<ServerParameter> {
    json::<ArmConfiguration>(operation, body)?.into_domain(operation)
}

pub(crate) fn backup_page(
    operation: &str,
    body: &[u8],
) -> Result<(Vec<ServerBackup>, Option<String>)> {
    crate::pager::arm_page(operation, body, |op, a: ArmBackup| a.into_domain(op))
}

pub(crate) fn firewall_page(
    operation: &str,
    body: &[u8],
) -> Result<(Vec<FirewallRule>, Option<String>)> {
    crate::pager::arm_page(operation, body, |op, a: ArmFirewallRule| a.into_domain(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_rules_read_and_refuse_bad_addresses() -> Result<()> {
        let r = firewall_rule_from_arm(
            "t",
            br#"{"name":"r","properties":{"startIpAddress":"1.0.0.0","endIpAddress":"255.0.0.0"}}"#,
        )?;
        assert_eq!(r.start_ip_address, Ipv4Addr::new(1, 0, 0, 0));
        for bad in ["010.0.0.1", "1.2.3", "::1", "256.0.0.1"] {
            let body = format!(
                r#"{{"name":"r","properties":{{"startIpAddress":"{bad}","endIpAddress":"1.1.1.1"}}}}"#
            );
            assert!(
                firewall_rule_from_arm("t", body.as_bytes()).is_err(),
                "{bad}"
            );
        }
        Ok(())
    }

    #[test]
    fn unknown_states_and_kinds_are_kept() -> Result<()> {
        let s = server_from_arm("t", br#"{"name":"s","properties":{"state":"Starting"}}"#)?;
        assert_eq!(s.state, ServerState::Other("Starting".into()));
        let b = backup_from_arm(
            "t",
            br#"{"name":"b","properties":{"backupType":"Snapshot"}}"#,
        )?;
        assert_eq!(b.kind, BackupKind::Other("Snapshot".into()));
        assert!(
            backup_from_arm(
                "t",
                br#"{"name":"b","properties":{"completedTime":"yesterday"}}"#
            )
            .is_err()
        );
        Ok(())
    }
}
