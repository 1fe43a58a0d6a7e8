//! fleet-azure behind the [`ManagedServer`] seam: the only module of this crate that names
//! fleet-azure's types, so that a change of its API (pollers, names) is adapted here.

use std::sync::Arc;

use async_trait::async_trait;
use fleet_azure::{
    BackupKind, Error as AzureError, FlexibleServerClient, OperationState as AzureState, Outcome,
    RestoreRequest, ResumeToken, ServerBackup, ServerBackups, ServerRestore, ServerState,
};
use futures::TryStreamExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::managed::{
    ManagedBackup, ManagedBackupKind, ManagedServer, ManagedServerInfo, OperationState,
    RestoreWindow,
};

/// A PostgreSQL flexible server through fleet-azure: the source of managed backups and
/// point-in-time restores.
#[derive(Clone)]
pub struct AzureFlexibleServer {
    backups: Arc<dyn ServerBackups>,
    restore: Arc<dyn ServerRestore>,
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
        let server = client.server_name().to_owned();
        let client = Arc::new(client);
        Self {
            backups: client.clone(),
            restore: client,
            server,
        }
    }

    /// The server `server` through fleet-azure's traits (a client per trait, a stand-in, or a
    /// mock); `backups` and `restore` must address that server.
    pub fn from_traits(
        server: impl Into<String>,
        backups: Arc<dyn ServerBackups>,
        restore: Arc<dyn ServerRestore>,
    ) -> Self {
        Self {
            backups,
            restore,
            server: server.into(),
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
        let op = || format!("list backups of {}", self.server);
        let list: Vec<ServerBackup> = self
            .backups
            .list_backups(None)
            .map_err(|e| azure(op(), e))?
            .try_collect()
            .await
            .map_err(|e| azure(op(), AzureError::from_azure(&op(), e)))?;
        Ok(list.into_iter().map(backup).collect())
    }

    async fn restore_window(&self) -> Result<RestoreWindow> {
        let p = self
            .backups
            .restore_points(None)
            .await
            .map_err(|e| azure(format!("restore window of {}", self.server), e))?;
        Ok(RestoreWindow {
            earliest: p.earliest,
            latest: p.latest,
        })
    }

    async fn create_backup(&self, name: &str) -> Result<ManagedBackup> {
        let op = || format!("on-demand backup {name} of {}", self.server);
        let poller = self
            .backups
            .begin_create_backup(name, None)
            .await
            .map_err(|e| azure(op(), e))?;
        match fleet_azure::follow(poller, |_| {})
            .await
            .map_err(|e| azure(op(), e))?
        {
            Outcome::Applied(b) => Ok(backup(b)),
            // This client is never a dry-run client; say so rather than invent a backup.
            _ => Err(Error::Refused {
                reason: format!("{}: the Azure client is in dry-run mode", op()),
            }),
        }
    }

    async fn begin_restore(&self, target: &str, point_in_time: Timestamp) -> Result<String> {
        let op = || format!("restore {} into {target}", self.server);
        let request = RestoreRequest::new(target, point_in_time);
        let mut poller = self
            .restore
            .begin_point_in_time_restore(&request, None)
            .await
            .map_err(|e| azure(op(), e))?;
        // The first status carries the token to resume from; an operation that finished in its
        // first answer has none, and is kept as finished.
        let stored = match poller.try_next().await {
            Ok(Some(status)) => {
                let status = status
                    .into_model()
                    .map_err(|e| azure(op(), AzureError::from_azure(&op(), e)))?;
                match (status.resume_token, status.status) {
                    (Some(token), AzureState::InProgress(_)) => StoredOperation::Running(token),
                    (_, AzureState::InProgress(_)) => {
                        return Err(Error::Refused {
                            reason: format!("{}: running without a status URL to follow", op()),
                        });
                    }
                    (_, AzureState::Succeeded) => StoredOperation::Finished,
                    (_, other) => StoredOperation::Ended(format!("{}: {other:?}", op())),
                }
            }
            Ok(None) => StoredOperation::Finished,
            Err(e) => {
                let e = AzureError::from_azure(&op(), e);
                if e.kind() != fleet_azure::ErrorKind::OperationFailed {
                    return Err(azure(op(), e));
                }
                // Started, then failed at its first status: kept so that the caller records
                // the failure (and never starts it twice).
                StoredOperation::Ended(e.to_string())
            }
        };
        serde_json::to_string(&stored).map_err(|e| Error::invalid("resume token", e.to_string()))
    }

    async fn poll(&self, resume_token: &str) -> Result<OperationState> {
        let stored: StoredOperation = serde_json::from_str(resume_token)
            .map_err(|e| Error::invalid("resume token", e.to_string()))?;
        let token = match stored {
            StoredOperation::Finished => return Ok(OperationState::Succeeded),
            StoredOperation::Ended(message) => return Ok(OperationState::Failed { message }),
            StoredOperation::Running(token) => token,
        };
        let op = "poll the restore";
        let mut poller = self
            .restore
            .resume_point_in_time_restore(&token, None)
            .map_err(|e| azure(op, e))?;
        let status = match poller.try_next().await {
            Ok(Some(status)) => status
                .into_model()
                .map_err(|e| azure(op, AzureError::from_azure(op, e)))?,
            Ok(None) => return Ok(OperationState::Succeeded),
            Err(e) => {
                let e = AzureError::from_azure(op, e);
                if e.kind() == fleet_azure::ErrorKind::OperationFailed {
                    return Ok(OperationState::Failed {
                        message: e.to_string(),
                    });
                }
                return Err(azure(op, e));
            }
        };
        Ok(match status.status {
            AzureState::Succeeded => OperationState::Succeeded,
            AzureState::InProgress(_) => OperationState::Running {
                percent: status.percent_complete,
                retry_after: None,
            },
            other => OperationState::Failed {
                message: format!("{}: {other:?}", status.operation),
            },
        })
    }

    async fn server(&self, name: &str) -> Result<Option<ManagedServerInfo>> {
        match self.restore.get_server(name, None).await {
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

/// What [`ManagedServer::begin_restore`] hands back as opaque text: the operation's resume
/// token while it runs, or how it ended when it ended at its first status.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredOperation {
    Running(ResumeToken),
    Finished,
    Ended(String),
}
