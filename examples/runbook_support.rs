//! Wiring shared by the release examples (`rollback_production`, `production_preflight_check`,
//! `deploy_to_production`, ...): the common flags, the clients built from the kubeconfig, the
//! database and the Azure server, the executor with its guards, and printing a report.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use fleet_guard::{
    AuditSink, Executor, FileAuditSink, Guards, MemoryAuditSink, Mode, Progress, ProgressEvent,
    RunContext, cli_confirm,
};
use fleet_k8s::{ClusterOptions, KubeCluster};
use fleet_policy::deploy::Approval;
use fleet_runbook::{
    AzureDatabase, Channel, Db, Kube, Notifier, PreflightOptions, Report, SecretUrl, Signals,
    SlackNotifier, SmokeCheck,
};

/// How a report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// The report's JSON (schema `fleet-runbook/report`).
    Json,
}

/// The flags every release example takes.
#[derive(Args, Debug)]
pub struct Common {
    /// Namespace of the deployment.
    #[arg(short, long, default_value = "fleet-management")]
    pub namespace: String,
    /// Plan and read only; every write is skipped (or sent with dryRun=All).
    #[arg(long)]
    pub dry_run: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// The confirmation word for destructive steps (automation); a terminal is asked otherwise.
    #[arg(long)]
    pub confirm: Option<String>,
    /// Append-only audit log (JSON lines); in memory when not given.
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// Who acts.
    #[arg(long, env = "USER", default_value = "unknown")]
    pub actor: String,
    /// Why (an incident or change ticket).
    #[arg(long, default_value = "runbook")]
    pub reason: String,
    /// A smoke check of a critical path, `NAME=URL` (repeatable), e.g. `login flow=https://...`.
    #[arg(long = "smoke", value_parser = parse_smoke)]
    pub smoke: Vec<SmokeCheck>,
}

fn parse_smoke(s: &str) -> Result<SmokeCheck, String> {
    let (name, url) = s.split_once('=').ok_or("expected NAME=URL")?;
    Ok(SmokeCheck::get(name.trim(), url.trim()))
}

impl Common {
    /// The cluster clients, from the kubeconfig kube infers.
    ///
    /// # Errors
    /// The kubeconfig or client error.
    pub async fn kube(&self) -> Result<Kube, Box<dyn std::error::Error>> {
        let config = kube::Config::infer().await?;
        let options = ClusterOptions::default().with_namespace(self.namespace.clone());
        Ok(Kube::from_cluster(KubeCluster::from_config(
            config, options,
        )?))
    }

    /// The executor for `procedure` with the audit sink, confirmation and mode the flags say.
    ///
    /// # Errors
    /// An unusable actor or reason, or an audit log that cannot be opened.
    pub fn executor(&self, procedure: &str) -> Result<Executor, Box<dyn std::error::Error>> {
        let audit = self.audit_sink()?;
        let mode = if self.dry_run {
            Mode::DryRun
        } else {
            Mode::Execute
        };
        let context = RunContext::new(procedure, &self.actor, &self.reason, mode)?;
        let guards = Guards::new(audit)
            .with_confirm(cli_confirm(self.confirm.clone()))
            .with_progress(Arc::new(StderrProgress));
        Ok(Executor::new(context, guards))
    }

    /// The audit sink `--audit-log` names (append-only file), or one in memory.
    ///
    /// # Errors
    /// The audit log cannot be opened.
    pub fn audit_sink(&self) -> Result<Arc<dyn AuditSink>, Box<dyn std::error::Error>> {
        Ok(match &self.audit_log {
            Some(path) => Arc::new(FileAuditSink::open(path)?),
            None => Arc::new(MemoryAuditSink::new()),
        })
    }

    /// Prints `report` and returns its exit code.
    pub fn finish(&self, report: &Report) -> std::process::ExitCode {
        let text = match self.output {
            Output::Text => report.to_text(),
            Output::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
        };
        #[allow(clippy::print_stdout)]
        {
            println!("{text}");
        }
        std::process::ExitCode::from(report.exit_code)
    }
}

/// Progress on standard error while a procedure runs: each step as it starts and ends, and the
/// lines passed on while waiting (the new pods' log, warning events).
struct StderrProgress;

impl Progress for StderrProgress {
    #[allow(clippy::print_stderr)] // the binaries' edge
    fn event(&self, event: ProgressEvent) {
        match event {
            ProgressEvent::Started { step, summary } => eprintln!("{step}: {summary}"),
            ProgressEvent::Note { step, message } => eprintln!("{step}: {message}"),
            ProgressEvent::Finished { step, outcome } => eprintln!("{step}: {outcome}"),
            _ => {}
        }
    }
}

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
    pub fn signals(&self) -> Result<Signals, Box<dyn std::error::Error>> {
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
    pub fn db(&self) -> Result<Option<Db>, Box<dyn std::error::Error>> {
        let Some(url) = &self.database_url else {
            return Ok(None);
        };
        Ok(Some(crate::database(url, None)?))
    }

    /// The Azure server, when subscription, resource group and server were all given.
    ///
    /// # Errors
    /// No credential configured, or an unusable endpoint or name.
    pub fn azure(&self) -> Result<Option<AzureDatabase>, Box<dyn std::error::Error>> {
        let (Some(sub), Some(rg), Some(server)) =
            (&self.subscription, &self.resource_group, &self.server)
        else {
            return Ok(None);
        };
        let client = crate::azure::arm_client()?.flexible_server_client(sub, rg, server)?;
        Ok(Some(AzureDatabase::from_client(client)))
    }
}
