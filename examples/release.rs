//! The release scripts' flags (`production_preflight_check`, `deploy_to_production`): what a
//! release is, and what the pre-flight reads besides the cluster (the deploy window or the
//! hotfix approval, the database, the Azure server whose backups are checked, the release's
//! commits), turned into the procedures' options and clients.

use std::sync::Arc;

use clap::Args;
use fleet_policy::deploy::Approval;
use fleet_runbook::{
    AzureDatabase, Channel, Db, Notifier, PreflightOptions, SecretUrl, Signals, SlackNotifier,
};

use crate::runbook::BoxError;

/// What a release is and what the pre-flight reads besides the cluster: the deploy window or
/// the hotfix approval, the database, and the Azure server whose backups are checked.
#[derive(Args, Debug)]
pub struct Release {
    /// The deployment.
    #[arg(short, long, default_value = "fleet-api")]
    pub deployment: String,
    /// A hotfix: approved instead of waiting for the weekly window.
    #[arg(long)]
    pub hotfix: bool,
    /// The technical lead who approved the hotfix (approval recorded as given now).
    #[arg(long, requires = "hotfix")]
    pub approved_by: Option<String>,
    /// The branch the release was cut from.
    #[arg(long, default_value = "main")]
    pub base_branch: String,
    /// The application database (`postgres://...`, `sslmode` honoured); not checked when absent.
    #[arg(long, env = "FLEET_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Azure subscription of the database server (with --resource-group and --server).
    #[arg(long, env = "AZURE_SUBSCRIPTION_ID")]
    pub subscription: Option<String>,
    /// Resource group of the database server.
    #[arg(long, env = "FLEET_RESOURCE_GROUP")]
    pub resource_group: Option<String>,
    /// The PostgreSQL flexible server whose backups are checked; without it the backup check
    /// is reported as not run.
    #[arg(long, env = "FLEET_PG_SERVER")]
    pub server: Option<String>,
    /// Skip the CPU and memory headroom check (a cluster without metrics.k8s.io).
    #[arg(long)]
    pub no_headroom: bool,
    /// The release's local git repository: its commits not yet released are listed.
    #[arg(long, value_name = "PATH")]
    pub repo: Option<std::path::PathBuf>,
    /// What is already released, as git resolves it (with --repo).
    #[arg(long, default_value = "origin/main", requires = "repo")]
    pub upstream: String,
    /// The Slack incoming webhook for #deployments and #incidents (a secret: prefer the
    /// environment variable); nobody is notified without it.
    #[arg(long, env = "FLEET_SLACK_WEBHOOK", hide_env_values = true)]
    pub slack_webhook: Option<String>,
}

impl Release {
    /// The pre-flight's options for `version`.
    pub fn preflight(&self, version: &str) -> PreflightOptions {
        let mut options = PreflightOptions::new(self.deployment.clone(), version)
            .with_headroom(!self.no_headroom);
        if self.hotfix {
            let approvals = self
                .approved_by
                .iter()
                .map(|by| Approval {
                    role: "technical-lead".into(),
                    by: by.clone(),
                    at: jiff::Timestamp::now(),
                })
                .collect();
            options = options.hotfix(approvals, self.base_branch.clone());
        }
        if let Some(repo) = &self.repo {
            let changes = fleet_runbook::ChangesOptions {
                upstream: self.upstream.clone(),
                ..fleet_runbook::ChangesOptions::default()
            };
            options = options.with_changes(repo, changes);
        }
        options
    }

    /// Who is told: Slack's #deployments and #incidents through `--slack-webhook`, or nobody.
    ///
    /// # Errors
    /// An unusable webhook URL (the error never shows it).
    pub fn signals(&self) -> Result<Signals, BoxError> {
        let Some(url) = &self.slack_webhook else {
            return Ok(Signals::default());
        };
        let url = SecretUrl::parse("slack", url)?;
        let hooks = [Channel::deployments(), Channel::incidents()]
            .into_iter()
            .map(|c| (c, url.clone()))
            .collect();
        let slack: Arc<dyn Notifier> = Arc::new(SlackNotifier::new(hooks, None)?);
        Ok(Signals::new(vec![slack], None))
    }

    /// The database, when a URL was given.
    ///
    /// # Errors
    /// An unusable URL.
    pub fn db(&self) -> Result<Option<Db>, BoxError> {
        let Some(url) = &self.database_url else {
            return Ok(None);
        };
        Ok(Some(crate::database(url, None)?))
    }

    /// The Azure server, when subscription, resource group and server were all given.
    ///
    /// # Errors
    /// No credential configured, or an unusable endpoint or name.
    pub fn azure(&self) -> Result<Option<AzureDatabase>, BoxError> {
        let (Some(sub), Some(rg), Some(server)) =
            (&self.subscription, &self.resource_group, &self.server)
        else {
            return Ok(None);
        };
        let client = crate::azure::arm_client()
            .map_err(|e| e.to_string())?
            .flexible_server_client(sub, rg, server)?;
        Ok(Some(AzureDatabase::from_client(client)))
    }
}
