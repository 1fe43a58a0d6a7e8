//! [`ServerBackups`]: the runbook's `az postgres flexible-server backup list|show|create|delete`.

use super::FlexibleServerClient;
use super::models::{RestorePoints, ServerBackup, backup_from_arm, backup_page};
use crate::error::{Error, Result};
use crate::http::ArmRequest;
use crate::lro::{ArmOperation, Finish, begin};
use crate::names::validate_backup_name;
use crate::options::{BeginOptions, ListOptions, ReadOptions};
use crate::outcome::Deletion;
use crate::pager::{ListPage, pager};
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

impl FlexibleServerClient {
    fn backup_request(&self, method: Method, name: &str, operation: String) -> Result<ArmRequest> {
        validate_backup_name(name)?;
        let url = self.url(&self.server_name, &["backups", name])?;
        Ok(ArmRequest::new(operation, method, url))
    }
}

#[async_trait]
impl ServerBackups for FlexibleServerClient {
    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group))]
    fn list_backups<'a>(
        &self,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<ServerBackup>>> {
        let url = self.url(&self.server_name, &["backups"])?;
        pager(
            &self.http,
            format!("list backups of {}", self.server_name),
            url,
            backup_page,
            options.unwrap_or_default(),
        )
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, backup = name))]
    async fn get_backup<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<ServerBackup> {
        let options = options.unwrap_or_default();
        let request = self.backup_request(
            Method::Get,
            name,
            format!("get backup {name} of {}", self.server_name),
        )?;
        let reply = self
            .http
            .send_ok(&options.method_options.context, &request)
            .await?;
        backup_from_arm(&request.operation, &reply.body)
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, backup = name))]
    async fn begin_create_backup<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerBackup>>> {
        let operation = format!("on-demand backup {name} of {}", self.server_name);
        // The spec's create has no body.
        let request = self.backup_request(Method::Put, name, operation.clone())?;
        let read = self.backup_request(Method::Get, name, format!("get backup {name}"))?;
        let resource = read.url.to_string();
        begin(
            &self.http,
            request,
            Finish::Read {
                request: Box::new(read),
                convert: backup_from_arm,
            },
            Some(resource),
            None,
            options.unwrap_or_default(),
            &self.polling,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, backup = name))]
    async fn begin_delete_backup<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<Deletion>>> {
        let request = self.backup_request(
            Method::Delete,
            name,
            format!("delete backup {name} of {}", self.server_name),
        )?;
        begin(
            &self.http,
            request,
            Finish::Value(Deletion::Deleted),
            None,
            Some(Deletion::AlreadyAbsent),
            options.unwrap_or_default(),
            &self.polling,
        )
        .await
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
