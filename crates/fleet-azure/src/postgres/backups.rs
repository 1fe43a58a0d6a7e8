//! [`ServerBackups`]: the runbook's `az postgres flexible-server backup list|show|create|delete`.

use super::FlexibleServerClient;
use super::children::Children;
use super::models::{RestorePoints, ServerBackup, backup_from_arm, backup_page};
use crate::error::{Error, Result};
use crate::lro::ArmOperation;
use crate::names::validate_backup_name;
use crate::options::{BeginOptions, ListOptions, ReadOptions};
use crate::outcome::Deletion;
use crate::pager::ListPage;
use async_trait::async_trait;
use azure_core::http::{Method, Pager, Poller};
use futures::TryStreamExt;
use jiff::Timestamp;

/// Backups of one flexible server.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ServerBackups: Send + Sync {
    /// Every backup, automatic and on-demand, page by page.
    fn list_backups<'a>(
        &self,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<ServerBackup>>>;

    /// One backup by name.
    async fn get_backup<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<ServerBackup>;

    /// Takes an on-demand backup named `name` (choose it with
    /// `fleet_policy::backup::on_demand_name`). The poller's result is the backup as Azure
    /// lists it afterwards; a dry run returns the `PUT` instead.
    async fn begin_create_backup<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerBackup>>>;

    /// Deletes an on-demand backup; deleting a missing one ends [`Deletion::AlreadyAbsent`].
    async fn begin_delete_backup<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<Deletion>>>;

    /// The earliest and latest restore points and the newest backup.
    async fn restore_points<'a>(&self, options: Option<ReadOptions<'a>>) -> Result<RestorePoints>;
}

/// The server's `backups` collection.
const BACKUPS: Children<ServerBackup> = Children {
    collection: "backups",
    noun: "backup",
    validate: validate_backup_name,
    convert: backup_from_arm,
    page: backup_page,
};

#[async_trait]
impl ServerBackups for FlexibleServerClient {
    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group))]
    fn list_backups<'a>(
        &self,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<ServerBackup>>> {
        BACKUPS.list(self, options)
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, backup = name))]
    async fn get_backup<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<ServerBackup> {
        BACKUPS.get(self, name, options).await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, backup = name))]
    async fn begin_create_backup<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerBackup>>> {
        // The spec's create has no body.
        let put = BACKUPS.request(
            self,
            Method::Put,
            name,
            format!("on-demand backup {name} of {}", self.server_name),
        )?;
        BACKUPS.begin_put(self, name, put, options).await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, backup = name))]
    async fn begin_delete_backup<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<Deletion>>> {
        BACKUPS.begin_delete(self, name, options).await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group))]
    async fn restore_points<'a>(&self, options: Option<ReadOptions<'a>>) -> Result<RestorePoints> {
        let options = options.unwrap_or_default();
        let now = Timestamp::now();
        let server = super::ServerRestore::get_server(
            self,
            &self.server_name,
            Some(ReadOptions {
                method_options: options.method_options.clone(),
            }),
        )
        .await?;
        let backups: Vec<ServerBackup> = self
            .list_backups(Some(ListOptions {
                method_options: options.method_options,
                continuation: None,
            }))?
            .try_collect()
            .await
            .map_err(|e| Error::from_azure("list backups", e))?;
        Ok(RestorePoints {
            earliest: server.earliest_restore,
            latest: now,
            retention_days: server.retention_days,
            newest_backup: backups.iter().filter_map(|b| b.completed_at).max(),
        })
    }
}
