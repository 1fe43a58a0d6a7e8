//! PostgreSQL flexible server over ARM: backups ([`ServerBackups`], the runbook's
//! `az postgres flexible-server backup ...`) and point-in-time restore ([`ServerRestore`], the
//! runbook's `az postgres flexible-server restore`), implemented by [`FlexibleServerClient`].

use crate::error::{AzureError, Result};
use crate::http::Http;
use crate::lro::{LroPoller, ResumeToken};
use crate::names::{
    default_backup_name, unique_backup_name, validate_backup_name, validate_resource_group,
    validate_server_name, validate_subscription_id,
};
use crate::options::FlexibleServerOptions;
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::{Method, Transport, Url};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// A source of "now", so that naming and restore-window checks can be tested.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How a backup was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// The range a point-in-time restore may target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestorePoints {
    /// Earliest restorable instant (`backup.earliestRestoreDate`, or now minus the retention
    /// when Azure does not say).
    pub earliest: Timestamp,
    /// Latest restorable instant: now (flexible server restores continuously from WAL).
    pub latest: Timestamp,
    /// Retention in days as the server reports it.
    pub retention_days: Option<u32>,
    /// Completion time of the newest backup listed.
    pub newest_backup: Option<Timestamp>,
}

/// The lifecycle state of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerState {
    /// `Ready`.
    Ready,
    /// `Provisioning` (a restore in progress).
    Provisioning,
    /// `Stopped`.
    Stopped,
    /// `Disabled`.
    Disabled,
    /// Any other state, as Azure named it.
    Other(String),
}

/// What the runbook reads about a server.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// `backup.earliestRestoreDate`.
    pub earliest_restore: Option<Timestamp>,
    /// `backup.backupRetentionDays`.
    pub retention_days: Option<u32>,
}

/// Whether a delete removed something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The backup existed and is gone.
    Deleted,
    /// There was nothing to delete.
    AlreadyAbsent,
}

/// A point-in-time restore into a new server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreRequest {
    /// Name of the new server (3-63 lower-case letters, digits, hyphens).
    pub target_server_name: String,
    /// The instant to restore to (inside the retention window, not in the future).
    pub point_in_time: Timestamp,
    /// Restore from this server instead of the configured one.
    pub source_server_name: Option<String>,
}

/// Backups of one flexible server.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ServerBackups: Send + Sync {
    /// Every backup, automatic and on-demand.
    async fn list_backups(&self) -> Result<Vec<ServerBackup>>;
    /// One backup by name.
    async fn get_backup(&self, name: &str) -> Result<ServerBackup>;
    /// Takes an on-demand backup and waits for it. `None` names it
    /// `manual-backup-YYYYMMDD` (UTC), with `-2`, `-3`, ... when that day's name is taken.
    async fn create_backup(&self, name: Option<String>) -> Result<ServerBackup>;
    /// Deletes an on-demand backup and waits; deleting a missing one succeeds.
    async fn delete_backup(&self, name: &str) -> Result<DeleteOutcome>;
    /// The earliest and latest restore points.
    async fn restore_points(&self) -> Result<RestorePoints>;
}

/// Point-in-time restore and server reads.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ServerRestore: Send + Sync {
    /// Validates the request (target name, time inside the retention window and not in the
    /// future) before any request, then starts the restore and returns its poller.
    async fn begin_point_in_time_restore(&self, request: RestoreRequest) -> Result<LroPoller>;
    /// Picks up an operation from its status URL (e.g. after a restart).
    fn resume_operation(&self, token: ResumeToken) -> Result<LroPoller>;
    /// Reads a server's state, version and FQDN.
    async fn get_server(&self, name: &str) -> Result<ServerInfo>;
}

/// [`ServerBackups`] and [`ServerRestore`] over ARM.
#[derive(Clone)]
pub struct FlexibleServerClient {
    http: Http,
    options: FlexibleServerOptions,
    clock: Clock,
}

impl std::fmt::Debug for FlexibleServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlexibleServerClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ArmBackup {
    name: String,
    id: Option<String>,
    properties: Option<ArmBackupProperties>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArmBackupProperties {
    backup_type: Option<String>,
    completed_time: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
struct ArmList<T> {
    value: Vec<T>,
    #[serde(rename = "nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct ArmServer {
    name: String,
    id: Option<String>,
    location: Option<String>,
    properties: Option<ArmServerProperties>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArmServerProperties {
    state: Option<String>,
    version: Option<String>,
    fully_qualified_domain_name: Option<String>,
    backup: Option<ArmServerBackup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArmServerBackup {
    earliest_restore_date: Option<String>,
    backup_retention_days: Option<u32>,
}

fn parse_time(operation: &str, field: &str, text: Option<String>) -> Result<Option<Timestamp>> {
    text.map(|t| {
        t.parse::<Timestamp>().map_err(|e| {
            AzureError::response(
                operation,
                format!("{field} {t:?} is not an RFC 3339 time: {e}"),
            )
        })
    })
    .transpose()
}

impl ArmBackup {
    fn into_domain(self, operation: &str) -> Result<ServerBackup> {
        let props = self.properties.unwrap_or(ArmBackupProperties {
            backup_type: None,
            completed_time: None,
            source: None,
        });
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
    fn into_domain(self, operation: &str) -> Result<ServerInfo> {
        let props = self.properties.unwrap_or(ArmServerProperties {
            state: None,
            version: None,
            fully_qualified_domain_name: None,
            backup: None,
        });
        let state = match props.state.as_deref() {
            Some("Ready") => ServerState::Ready,
            Some("Provisioning") => ServerState::Provisioning,
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
        })
    }
}

/// Checks a restore time against the window `[now - retention_days, now]` and, when known, the
/// server's earliest restore date. Pure; used before any request.
pub fn check_restore_time(
    point: Timestamp,
    now: Timestamp,
    retention_days: u32,
    earliest: Option<Timestamp>,
) -> Result<()> {
    if point > now {
        return Err(AzureError::invalid(
            "point_in_time",
            format!("{point} is in the future (now is {now})"),
        ));
    }
    let window_start = now
        .checked_sub(SignedDuration::from_hours(24 * i64::from(retention_days)))
        .unwrap_or(Timestamp::MIN);
    if point < window_start {
        return Err(AzureError::invalid(
            "point_in_time",
            format!(
                "{point} is older than the {retention_days}-day retention window (starts {window_start})"
            ),
        ));
    }
    if let Some(earliest) = earliest
        && point < earliest
    {
        return Err(AzureError::invalid(
            "point_in_time",
            format!("{point} is before the server's earliest restore point {earliest}"),
        ));
    }
    Ok(())
}

impl FlexibleServerClient {
    /// A client for the server in `options`, authenticating with `credential`, over azure_core's
    /// default HTTP client.
    pub fn new(credential: Arc<dyn TokenCredential>, options: FlexibleServerOptions) -> Self {
        Self::with_transport(credential, options, None)
    }

    /// Like [`Self::new`] with a custom transport (e.g. one that trusts a test server).
    pub fn with_transport(
        credential: Arc<dyn TokenCredential>,
        options: FlexibleServerOptions,
        transport: Option<Transport>,
    ) -> Self {
        let http = Http::new(
            credential,
            &options.cloud.resource_manager_scope,
            &options.retry,
            transport,
        );
        Self {
            http,
            options,
            clock: Arc::new(Timestamp::now),
        }
    }

    /// Replaces the clock (tests, simulations).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The options in use.
    pub fn options(&self) -> &FlexibleServerOptions {
        &self.options
    }

    fn server_path(&self, server: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{}",
            self.options.subscription_id, self.options.resource_group, server
        )
    }

    /// Every URL is built from validated parts, so no option can change a path's shape.
    fn url(&self, path: &str) -> Result<Url> {
        validate_subscription_id(&self.options.subscription_id)?;
        validate_resource_group(&self.options.resource_group)?;
        validate_server_name(&self.options.server_name)?;
        let mut url = Url::parse(&format!(
            "{}{}",
            self.options.cloud.resource_manager.trim_end_matches('/'),
            path
        ))
        .map_err(|e| AzureError::invalid("resource_manager", format!("cannot form a URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("api-version", &self.options.api_version);
        Ok(url)
    }

    /// Status URLs carry the ARM token, so they must be HTTPS on the configured ARM host.
    fn check_status_url(&self, status_url: &str) -> Result<()> {
        let arm = Url::parse(&self.options.cloud.resource_manager)
            .map_err(|e| AzureError::invalid("resource_manager", e.to_string()))?;
        let url = Url::parse(status_url)
            .map_err(|e| AzureError::invalid("status_url", format!("{status_url:?}: {e}")))?;
        if url.scheme() != "https"
            || url.host_str() != arm.host_str()
            || url.port_or_known_default() != arm.port_or_known_default()
        {
            return Err(AzureError::invalid(
                "status_url",
                format!("{status_url:?} is not an HTTPS URL on the ARM endpoint {arm}"),
            ));
        }
        Ok(())
    }

    /// PUT an on-demand backup (no body, as the spec says), wait for it, read it back.
    async fn put_backup(&self, name: &str) -> Result<ServerBackup> {
        let operation = format!("on-demand backup {name} of {}", self.options.server_name);
        let url = self.url(&format!(
            "{}/backups/{name}",
            self.server_path(&self.options.server_name)
        ))?;
        if let Some(poller) = self.begin(&operation, Method::Put, url, None).await? {
            poller.wait().await?;
        }
        self.get_backup(name).await
    }

    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    async fn begin(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<LroPoller>> {
        let reply = self.http.send(operation, method, url, body).await?;
        match reply.status {
            201 | 202
                if reply.header("azure-asyncoperation").is_some()
                    || reply.header("location").is_some() =>
            {
                let poller = LroPoller::from_accepted(
                    self.http.clone(),
                    operation,
                    &reply,
                    self.options.polling.clone(),
                )?;
                self.check_status_url(poller.status_url())?;
                Ok(Some(poller))
            }
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl ServerBackups for FlexibleServerClient {
    async fn list_backups(&self) -> Result<Vec<ServerBackup>> {
        let operation = format!("list backups of {}", self.options.server_name);
        let mut url = self.url(&format!(
            "{}/backups",
            self.server_path(&self.options.server_name)
        ))?;
        let mut out = Vec::new();
        // ARM pages with nextLink; follow it as given, at most 1000 pages.
        for _ in 0..1000 {
            let reply = self.http.send(&operation, Method::Get, url, None).await?;
            let page: ArmList<ArmBackup> = reply.json(&operation)?;
            for b in page.value {
                out.push(b.into_domain(&operation)?);
            }
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => {
                    self.check_status_url(&next)?;
                    url = Url::parse(&next)
                        .map_err(|e| AzureError::response(&operation, format!("nextLink: {e}")))?;
                }
                None => return Ok(out),
            }
        }
        Err(AzureError::response(&operation, "more than 1000 pages"))
    }

    async fn get_backup(&self, name: &str) -> Result<ServerBackup> {
        validate_backup_name(name)?;
        let operation = format!("get backup {name}");
        let url = self.url(&format!(
            "{}/backups/{name}",
            self.server_path(&self.options.server_name)
        ))?;
        let reply = self.http.send(&operation, Method::Get, url, None).await?;
        reply.json::<ArmBackup>(&operation)?.into_domain(&operation)
    }

    async fn create_backup(&self, name: Option<String>) -> Result<ServerBackup> {
        if let Some(name) = name {
            validate_backup_name(&name)?;
            return self.put_backup(&name).await;
        }
        let base = default_backup_name(self.now());
        let mut taken: Vec<String> = self
            .list_backups()
            .await?
            .into_iter()
            .map(|b| b.name)
            .collect();
        // Another tool may take the day's name between our list and our PUT; Azure answers
        // 409 and the next suffix is tried (a few times, then the conflict is returned).
        let mut conflicts = 0;
        loop {
            let name = unique_backup_name(&base, taken.iter().map(String::as_str));
            match self.put_backup(&name).await {
                Err(e) if e.is_conflict() && conflicts < 4 => {
                    tracing::info!(backup = %name, "backup name taken meanwhile; trying the next suffix");
                    conflicts += 1;
                    taken.push(name);
                }
                other => return other,
            }
        }
    }

    async fn delete_backup(&self, name: &str) -> Result<DeleteOutcome> {
        validate_backup_name(name)?;
        let operation = format!("delete backup {name} of {}", self.options.server_name);
        let url = self.url(&format!(
            "{}/backups/{name}",
            self.server_path(&self.options.server_name)
        ))?;
        match self.begin(&operation, Method::Delete, url, None).await {
            Ok(Some(poller)) => {
                poller.wait().await?;
                Ok(DeleteOutcome::Deleted)
            }
            Ok(None) => Ok(DeleteOutcome::AlreadyAbsent),
            Err(e) if e.is_not_found() => Ok(DeleteOutcome::AlreadyAbsent),
            Err(e) => Err(e),
        }
    }

    async fn restore_points(&self) -> Result<RestorePoints> {
        let now = self.now();
        let server = self.get_server(&self.options.server_name).await?;
        let backups = self.list_backups().await?;
        let retention = server
            .retention_days
            .unwrap_or(self.options.backup_retention_days);
        let by_retention = now
            .checked_sub(SignedDuration::from_hours(24 * i64::from(retention)))
            .unwrap_or(Timestamp::MIN);
        Ok(RestorePoints {
            earliest: server.earliest_restore.unwrap_or(by_retention),
            latest: now,
            retention_days: server.retention_days,
            newest_backup: backups.iter().filter_map(|b| b.completed_at).max(),
        })
    }
}

#[async_trait]
impl ServerRestore for FlexibleServerClient {
    async fn begin_point_in_time_restore(&self, request: RestoreRequest) -> Result<LroPoller> {
        validate_server_name(&request.target_server_name)?;
        let source = request
            .source_server_name
            .clone()
            .unwrap_or_else(|| self.options.server_name.clone());
        if source == request.target_server_name {
            return Err(AzureError::invalid(
                "target_server_name",
                "a point-in-time restore goes into a new server, not the source",
            ));
        }
        let now = self.now();
        check_restore_time(
            request.point_in_time,
            now,
            self.options.backup_retention_days,
            None,
        )?;
        let source_info = self.get_server(&source).await?;
        check_restore_time(
            request.point_in_time,
            now,
            source_info
                .retention_days
                .unwrap_or(self.options.backup_retention_days),
            source_info.earliest_restore,
        )?;
        let body = json!({
            "location": source_info.location,
            "properties": {
                "createMode": "PointInTimeRestore",
                "sourceServerResourceId": self.server_path(&source),
                "pointInTimeUTC": request.point_in_time.to_string(),
            }
        });
        let operation = format!(
            "point-in-time restore of {source} at {} into {}",
            request.point_in_time, request.target_server_name
        );
        let url = self.url(&self.server_path(&request.target_server_name))?;
        match self
            .begin(&operation, Method::Put, url, Some(&body))
            .await?
        {
            Some(poller) => Ok(poller),
            None => Err(AzureError::response(
                &operation,
                "Azure accepted the restore without a status URL to follow",
            )),
        }
    }

    fn resume_operation(&self, token: ResumeToken) -> Result<LroPoller> {
        self.check_status_url(&token.status_url)?;
        Ok(LroPoller::new(
            self.http.clone(),
            token,
            self.options.polling.clone(),
            None,
        ))
    }

    async fn get_server(&self, name: &str) -> Result<ServerInfo> {
        validate_server_name(name)?;
        let operation = format!("get server {name}");
        let url = self.url(&self.server_path(name))?;
        let reply = self.http.send(&operation, Method::Get, url, None).await?;
        reply.json::<ArmServer>(&operation)?.into_domain(&operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn restore_window() {
        let now = ts("2025-06-08T00:00:00Z");
        assert!(check_restore_time(ts("2025-06-07T00:00:00Z"), now, 7, None).is_ok());
        assert!(check_restore_time(now, now, 7, None).is_ok());
        assert!(check_restore_time(ts("2025-06-01T00:00:00Z"), now, 7, None).is_ok());
        let e = check_restore_time(ts("2025-05-31T23:59:59Z"), now, 7, None).err();
        assert!(e.is_some_and(|e| e.to_string().contains("retention")));
        let e = check_restore_time(ts("2025-06-08T00:00:01Z"), now, 7, None).err();
        assert!(e.is_some_and(|e| e.to_string().contains("future")));
        let e = check_restore_time(
            ts("2025-06-02T00:00:00Z"),
            now,
            7,
            Some(ts("2025-06-03T00:00:00Z")),
        )
        .err();
        assert!(e.is_some_and(|e| e.to_string().contains("earliest")));
    }
}
