//! fleet-azure behind the [`ManagedServer`] seam: the only module of this crate that names
//! fleet-azure's types, so that a change of its API (pollers, names) is adapted here.

use std::sync::Arc;

use async_trait::async_trait;
use fleet_azure::{
    AzureError, BackupKind, FlexibleServerClient, OperationStatus, RestoreRequest, ResumeToken,
    ServerBackups, ServerRestore, ServerState,
};
use jiff::Timestamp;

use crate::error::{Error, ErrorKind, Result};
use crate::managed::{
    ManagedBackup, ManagedBackupKind, ManagedServer, ManagedServerInfo, OperationState,
    RestoreWindow,
};

/// A PostgreSQL flexible server through fleet-azure: the source of managed backups and
/// point-in-time restores.
#[derive(Clone)]
pub struct AzureFlexibleServer {
    client: Arc<FlexibleServerClient>,
    server: String,
}

impl std::fmt::Debug for AzureFlexibleServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureFlexibleServer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl AzureFlexibleServer {
    /// The server the client is configured for.
    pub fn new(client: FlexibleServerClient) -> Self {
        let server = client.options().server_name.clone();
        Self {
            client: Arc::new(client),
            server,
        }
    }
}

fn azure(op: impl Into<String>, e: AzureError) -> Error {
    let kind = if e.is_not_found() {
        ErrorKind::NotFound
    } else if e.is_conflict() {
        ErrorKind::Conflict
    } else if e.is_auth() {
        ErrorKind::Auth
    } else if e.is_transient() {
        ErrorKind::Transient
    } else {
        match e.kind() {
            fleet_azure::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
            fleet_azure::ErrorKind::OperationFailed => ErrorKind::Refused,
            fleet_azure::ErrorKind::Timeout | fleet_azure::ErrorKind::Throttled => {
                ErrorKind::Transient
            }
            _ => ErrorKind::Other,
        }
    };
    Error::Azure {
        op: op.into(),
        kind,
        source: Box::new(e),
    }
}

fn backup(b: fleet_azure::ServerBackup) -> ManagedBackup {
    ManagedBackup {
        name: b.name,
        kind: match b.kind {
            BackupKind::OnDemand => ManagedBackupKind::OnDemand,
            _ => ManagedBackupKind::Automatic,
        },
        completed_at: b.completed_at,
    }
}

#[async_trait]
impl ManagedServer for AzureFlexibleServer {
    fn server_name(&self) -> &str {
        &self.server
    }

    async fn backups(&self) -> Result<Vec<ManagedBackup>> {
        let list = self
            .client
            .list_backups()
            .await
            .map_err(|e| azure(format!("list backups of {}", self.server), e))?;
        Ok(list.into_iter().map(backup).collect())
    }

    async fn restore_window(&self) -> Result<RestoreWindow> {
        let p = self
            .client
            .restore_points()
            .await
            .map_err(|e| azure(format!("restore window of {}", self.server), e))?;
        Ok(RestoreWindow {
            earliest: p.earliest,
            latest: p.latest,
        })
    }

    async fn create_backup(&self, name: &str) -> Result<ManagedBackup> {
        self.client
            .create_backup(Some(name.to_owned()))
            .await
            .map(backup)
            .map_err(|e| azure(format!("on-demand backup {name} of {}", self.server), e))
    }

    async fn begin_restore(&self, target: &str, point_in_time: Timestamp) -> Result<String> {
        let poller = self
            .client
            .begin_point_in_time_restore(RestoreRequest {
                target_server_name: target.to_owned(),
                point_in_time,
                source_server_name: None,
            })
            .await
            .map_err(|e| azure(format!("restore {} into {target}", self.server), e))?;
        serde_json::to_string(&poller.resume_token())
            .map_err(|e| Error::invalid("resume token", e.to_string()))
    }

    async fn poll(&self, resume_token: &str) -> Result<OperationState> {
        let token: ResumeToken = serde_json::from_str(resume_token)
            .map_err(|e| Error::invalid("resume token", e.to_string()))?;
        let mut poller = self
            .client
            .resume_operation(token)
            .map_err(|e| azure("resume the restore", e))?;
        match poller.poll_once().await {
            Ok((OperationStatus::Succeeded, _, _)) => Ok(OperationState::Succeeded),
            Ok((OperationStatus::InProgress(_), percent, retry_after)) => {
                Ok(OperationState::Running {
                    percent,
                    retry_after,
                })
            }
            Ok((other, _, _)) => Ok(OperationState::Failed {
                message: format!("{other:?}"),
            }),
            Err(e) if e.kind() == fleet_azure::ErrorKind::OperationFailed => {
                Ok(OperationState::Failed {
                    message: e.to_string(),
                })
            }
            Err(e) => Err(azure("poll the restore", e)),
        }
    }

    async fn server(&self, name: &str) -> Result<Option<ManagedServerInfo>> {
        match self.client.get_server(name).await {
            Ok(s) => Ok(Some(ManagedServerInfo {
                name: s.name,
                ready: s.state == ServerState::Ready,
                state: match s.state {
                    ServerState::Ready => "Ready".into(),
                    ServerState::Provisioning => "Provisioning".into(),
                    ServerState::Stopped => "Stopped".into(),
                    ServerState::Disabled => "Disabled".into(),
                    ServerState::Other(o) => o,
                    other => format!("{other:?}"),
                },
                fqdn: s.fqdn,
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(azure(format!("get server {name}"), e)),
        }
    }
}
