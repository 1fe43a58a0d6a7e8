//! Wiring shared by every procedure example (the release scripts, `incident`, `perf_triage`,
//! `security_isolate`, `rotate_credentials`, `fleet_health`): one set of common flags, the
//! cluster from the kubeconfig, an executor from them (dry run, confirmation word, audit log,
//! actor, reason, progress lines on stderr), notifiers from webhook URLs, printing a report
//! with its exit code, and `main`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use fleet_guard::{
    AuditRecord, AuditSink, Executor, FileAuditSink, Guards, LineProgress, Mode, RunContext,
    TargetLock,
};
use fleet_k8s::{ClusterOptions, KubeCluster, LeaseLock, LeaseLockOptions};
use fleet_runbook::{Kube, Notifier, Report, SmokeCheck};
#[cfg(feature = "incident")]
use {
    fleet_guard::FileRecordStore,
    fleet_k8s::LabelSelector,
    fleet_policy::Policy,
    fleet_runbook::{IncidentBook, IncidentOptions, IncidentResponse, Signals},
};

/// The flags every procedure example takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The kubeconfig context (default: the current one); the kubeconfig is `$KUBECONFIG` or
    /// `~/.kube/config`. Repeatable only where a procedure reads many clusters (`fleet_health`).
    #[arg(long = "context", value_name = "NAME", global = true)]
    pub contexts: Vec<String>,
    /// Namespace.
    #[arg(short, long, default_value = "fleet-management", global = true)]
    pub namespace: String,
    /// Show what would change; change nothing (writes skipped or sent with dryRun=All).
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// The confirmation word for destructive steps (otherwise asked on a terminal).
    #[arg(long, value_name = "WORD", global = true)]
    pub confirm: Option<String>,
    /// Append-only audit log (JSON lines); in memory when not given.
    #[arg(long, value_name = "PATH", global = true)]
    pub audit_log: Option<PathBuf>,
    /// Who acts (default: $USER).
    #[arg(long, env = "USER", default_value = "unknown", global = true)]
    pub actor: String,
    /// Why (an incident or change ticket).
    #[arg(long, default_value = "runbook procedure", global = true)]
    pub reason: String,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
    /// Webhook receiving every notification as JSON (repeatable).
    #[arg(long, value_name = "URL", global = true)]
    pub webhook: Vec<String>,
    /// Change the target without holding its lock (a `coordination.k8s.io` Lease per target,
    /// which keeps two runs from deploying, rolling back or restoring it at once).
    #[arg(long, global = true)]
    pub no_lock: bool,
}

/// The smoke checks of the critical paths, for the procedures that validate a release.
#[derive(Args, Debug, Clone)]
pub struct Smoke {
    /// A smoke check of a critical path, `NAME=URL` (repeatable), e.g. `login flow=https://...`.
    #[arg(long = "smoke", value_name = "NAME=URL", value_parser = parse_smoke)]
    pub checks: Vec<SmokeCheck>,
}

fn parse_smoke(s: &str) -> Result<SmokeCheck, String> {
    let (name, url) = s.split_once('=').ok_or("expected NAME=URL")?;
    Ok(SmokeCheck::get(name.trim(), url.trim()))
}

#[cfg(feature = "incident")]
/// The incident example's flags: the record directory, the incident and what an assessment
/// reads (the cluster, and Application Insights when an application id is given).
#[derive(Args, Debug, Clone)]
pub struct Incident {
    /// Directory of incident records.
    #[arg(long, value_name = "DIR", default_value = "incidents")]
    pub records: PathBuf,
    /// The incident id.
    #[arg(long)]
    pub id: String,
    /// The service's deployments (state and rollout history).
    #[arg(long, default_value = "fleet-api")]
    pub deployment: Vec<String>,
    /// Pods whose last 100 log lines are read.
    #[arg(short = 'l', long, default_value = "app=fleet-api")]
    pub selector: String,
    /// Application Insights application id (a GUID): the assessment adds its failed requests,
    /// top exceptions and failing dependencies. Authenticated with Entra ID from the
    /// environment (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or the other
    /// sources `azure_backups --help` lists); FLEET_AZURE_APP_INSIGHTS_ENDPOINT and
    /// FLEET_AZURE_CA_CERT select another endpoint.
    #[arg(
        long,
        env = "FLEET_APP_INSIGHTS_APP_ID",
        value_name = "GUID",
        global = true
    )]
    pub app_insights_app_id: Option<String>,
}

#[cfg(feature = "incident")]
impl Incident {
    /// The procedure on the record directory, with the cluster and notifiers `common` names
    /// and the runbook's default policy.
    pub async fn response(&self, common: &Common) -> Result<IncidentResponse, BoxError> {
        let kube = common.kube().await?;
        let book = IncidentBook::new(Arc::new(FileRecordStore::open(&self.records)?));
        let options = IncidentOptions::default()
            .with_deployments(self.deployment.clone())
            .with_log_selector(LabelSelector::parse(&self.selector)?);
        let mut signals = Signals::new(common.notifiers()?, None);
        if let Some(app_id) = &self.app_insights_app_id {
            let telemetry = crate::azure::app_insights_client(app_id)?;
            signals = signals.with_telemetry(Arc::new(telemetry));
        }
        Ok(IncidentResponse::new(kube, signals, Policy::default(), book).with_options(options))
    }
}

/// Report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For programs (schema `fleet-runbook/report`).
    Json,
}

/// Any error, for `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Common {
    /// The cluster of `--context` (or the current kubeconfig context), in `--namespace`.
    ///
    /// # Errors
    /// More than one `--context`, or the kubeconfig or client error.
    pub async fn kube(&self) -> Result<Kube, BoxError> {
        Ok(Kube::from_cluster(self.cluster().await?))
    }

    /// The target lock (a Lease per target in `--namespace`), unless `--no-lock`.
    ///
    /// # Errors
    /// As [`Common::kube`].
    pub async fn lock(&self) -> Result<Option<Arc<dyn TargetLock>>, BoxError> {
        if self.no_lock {
            return Ok(None);
        }
        let lock = LeaseLock::new(&self.cluster().await?, LeaseLockOptions::default())?;
        Ok(Some(Arc::new(lock)))
    }

    /// The concrete client behind [`Common::kube`].
    ///
    /// # Errors
    /// As [`Common::kube`].
    pub async fn cluster(&self) -> Result<KubeCluster, BoxError> {
        let options = ClusterOptions::default().with_namespace(&self.namespace);
        Ok(match self.contexts.as_slice() {
            [] => KubeCluster::from_config(kube::Config::infer().await?, options)?,
            [context] => {
                let kubeconfig = kube::config::Kubeconfig::read()?;
                fleet_runbook::cluster_for_context(&kubeconfig, context, options).await?
            }
            _ => return Err("this procedure runs on one cluster: give one --context".into()),
        })
    }

    /// An executor for `procedure` with the flags' mode, confirmation and audit log, and
    /// progress lines on standard error; the audit sink it writes to.
    ///
    /// # Errors
    /// An unusable actor or reason, or an audit log that cannot be opened.
    pub fn executor(&self, procedure: &str) -> Result<(Executor, Arc<dyn AuditSink>), BoxError> {
        let mode = if self.dry_run {
            Mode::DryRun
        } else {
            Mode::Execute
        };
        let context = RunContext::new(procedure, &self.actor, &self.reason, mode)?;
        let progress = Arc::new(LineProgress::new(std::io::stderr()));
        let (guards, audit) =
            Guards::for_cli(self.audit_log.as_deref(), self.confirm.clone(), progress)?;
        Ok((Executor::new(context, guards), audit))
    }

    /// The audit sink `--audit-log` names (append-only file), or one in memory.
    ///
    /// # Errors
    /// The audit log cannot be opened.
    pub fn audit_sink(&self) -> Result<Arc<dyn AuditSink>, BoxError> {
        let progress = Arc::new(fleet_guard::NoProgress);
        Ok(Guards::for_cli(self.audit_log.as_deref(), None, progress)?.1)
    }

    /// The records of `--audit-log` (none when no log is given).
    ///
    /// # Errors
    /// The log cannot be read.
    pub fn audit_records(&self) -> Result<Vec<AuditRecord>, BoxError> {
        match &self.audit_log {
            Some(path) => Ok(FileAuditSink::read_all(path)?),
            None => Ok(Vec::new()),
        }
    }

    /// One webhook notifier per `--webhook`.
    ///
    /// # Errors
    /// An unusable URL (the error never shows it).
    pub fn notifiers(&self) -> Result<Vec<Arc<dyn Notifier>>, BoxError> {
        Ok(crate::webhook_notifiers(&self.webhook)?)
    }

    /// Prints the report in `--output`'s format; its exit code.
    #[allow(clippy::print_stdout)] // the binaries' edge
    pub fn finish(&self, report: &Report) -> ExitCode {
        match self.output {
            Output::Text => print!("{}", report.to_text()),
            Output::Json => print!("{}", report.to_json()),
        }
        ExitCode::from(report.exit_code)
    }
}

/// A procedure example's `main`: `tracing` to stderr (quiet unless `RUST_LOG` asks), then
/// `run`; an `Err` from it is printed and exits 2.
#[allow(clippy::print_stderr)] // the binaries' edge
pub async fn main(run: impl std::future::Future<Output = Result<ExitCode, BoxError>>) -> ExitCode {
    crate::init_tracing("off");
    match run.await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
