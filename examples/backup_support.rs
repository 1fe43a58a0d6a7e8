//! What the backup examples share: the store named on the command line, keys, the policy, the
//! guards of a run (audit file, confirmation, dry run) and the progress display (a bar on a
//! terminal, plain lines otherwise). The binaries stay thin; the work is in fleet-backup.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fleet_backup::{
    AzureCredential, AzureStoreOptions, BackupStore, Identities, PgTools, Recipients,
    S3StoreOptions,
};
use fleet_guard::{
    ChannelProgress, Executor, FileAuditSink, Guards, Mode, ProgressEvent, RunContext, cli_confirm,
};
use fleet_policy::Policy;

/// Output formats of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

/// Arguments every backup example takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Where backups live: a directory; azure://ACCOUNT/CONTAINER[/PREFIX] (key in
    /// AZURE_STORAGE_KEY, AZURE_STORAGE_ENDPOINT for a private endpoint or an emulator; without
    /// a key, the managed identity); or s3://BUCKET[/PREFIX] (AWS_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY; without keys, the instance's role).
    #[arg(long, env = "FLEET_BACKUP_STORE")]
    pub store: String,
    /// The runbook policy (TOML): retention, RPO, RTO, on-demand names. Defaults when absent.
    #[arg(long, env = "FLEET_POLICY")]
    pub policy: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Who runs this (recorded in the audit log).
    #[arg(long, env = "FLEET_ACTOR", default_value = "unknown-operator")]
    pub actor: String,
    /// The append-only audit log of changes.
    #[arg(long, env = "FLEET_AUDIT_LOG", default_value = "fleet-audit.jsonl")]
    pub audit: PathBuf,
}

/// Where `pg_dump`/`pg_restore` are, when not on `PATH`.
#[derive(Debug, clap::Args)]
pub struct Tools {
    /// Directory of pg_dump and pg_restore (at least the server's major version).
    #[arg(long, env = "FLEET_PG_BIN")]
    pub pg_bin: Option<PathBuf>,
    /// Library directory those binaries need, if any.
    #[arg(long, env = "FLEET_PG_LIB")]
    pub pg_lib: Option<PathBuf>,
}

impl Tools {
    /// As fleet-backup's plain data.
    pub fn tools(&self) -> PgTools {
        let mut t = match &self.pg_bin {
            Some(b) => PgTools::in_dir(b),
            None => PgTools::default(),
        };
        if let Some(l) = &self.pg_lib {
            t = t.with_libdir(l);
        }
        t
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Opens the store named by `spec`.
pub fn open_store(spec: &str) -> Result<BackupStore, String> {
    let e = |e: fleet_backup::Error| e.to_string();
    if let Some(rest) = spec.strip_prefix("azure://") {
        let mut parts = rest.splitn(3, '/');
        let (Some(account), Some(container)) = (parts.next(), parts.next()) else {
            return Err("azure://ACCOUNT/CONTAINER[/PREFIX]".into());
        };
        let credential = match env("AZURE_STORAGE_KEY") {
            Some(key) => AzureCredential::AccessKey(key),
            None => AzureCredential::ManagedIdentity {
                client_id: env("AZURE_CLIENT_ID"),
            },
        };
        let mut o = AzureStoreOptions::new(account, container, credential)
            .with_prefix(parts.next().unwrap_or(""));
        if let Some(endpoint) = env("AZURE_STORAGE_ENDPOINT") {
            o = o
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        return BackupStore::azure(o).map_err(e);
    }
    if let Some(rest) = spec.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut o = S3StoreOptions::new(
            bucket,
            env("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
        );
        o.prefix = prefix.into();
        o.access_key_id = env("AWS_ACCESS_KEY_ID");
        o.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
        o.session_token = env("AWS_SESSION_TOKEN");
        o.endpoint = env("AWS_ENDPOINT_URL");
        return BackupStore::s3(o).map_err(e);
    }
    BackupStore::local(spec.strip_prefix("file://").unwrap_or(spec)).map_err(e)
}

/// The policy file, or the runbook's defaults.
pub fn policy(path: Option<&Path>) -> Result<Policy, String> {
    match path {
        None => Ok(Policy::default()),
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Policy::from_toml_bytes(&text).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

/// Reads an age identity file (its path, never the key, shows in errors).
pub fn identities(path: &Path) -> Result<Identities, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Identities::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Recipients from `age1...` values and recipients files.
pub fn recipients(keys: &[String], files: &[PathBuf]) -> Result<Recipients, String> {
    let mut all = keys.to_vec();
    for f in files {
        all.push(std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    Recipients::parse(&all).map_err(|e| e.to_string())
}

/// A run's executor and the task showing its progress.
pub struct Run {
    /// The executor.
    pub executor: Executor,
    display: tokio::task::JoinHandle<()>,
}

impl Run {
    /// Starts a run: audit to `common.audit`, confirmation from `token` (else a terminal
    /// prompt, else refusal), progress on stderr.
    pub fn start(
        procedure: &str,
        common: &Common,
        reason: &str,
        mode: Mode,
        token: Option<String>,
    ) -> Result<Self, String> {
        let audit = FileAuditSink::open(&common.audit).map_err(|e| e.to_string())?;
        let (progress, events) = ChannelProgress::new();
        let guards = Guards::new(Arc::new(audit))
            .with_confirm(cli_confirm(token))
            .with_progress(Arc::new(progress));
        let context =
            RunContext::new(procedure, &common.actor, reason, mode).map_err(|e| e.to_string())?;
        Ok(Self {
            executor: Executor::new(context, guards),
            display: tokio::spawn(show(events)),
        })
    }

    /// Waits for the display to finish its last line.
    pub async fn finish(self) {
        drop(self.executor);
        let _ = self.display.await;
    }
}

/// Shows progress: a bar per long step on a terminal, one line per event otherwise.
#[allow(clippy::print_stderr)] // the binaries' edge: progress goes to stderr
async fn show(mut events: tokio::sync::mpsc::UnboundedReceiver<ProgressEvent>) {
    let terminal = std::io::stderr().is_terminal();
    let mut bar: Option<(String, indicatif::ProgressBar)> = None;
    while let Some(event) = events.recv().await {
        match event {
            ProgressEvent::Advanced {
                step,
                done,
                total,
                unit,
                message,
            } if terminal => {
                let (_, b) = bar.get_or_insert_with(|| (step.clone(), new_bar(&unit)));
                b.set_length(total.unwrap_or(0).max(done));
                b.set_position(done);
                b.set_message(format!("{step}: {message}"));
            }
            ProgressEvent::Advanced {
                step,
                done,
                total,
                unit,
                message,
            } => {
                let of = total
                    .map(|t| format!(" of {}", amount(t, &unit)))
                    .unwrap_or_default();
                eprintln!("{step}: {message} {}{of}", amount(done, &unit));
            }
            ProgressEvent::Finished { step, outcome } => {
                if let Some((s, b)) = bar.take_if(|(s, _)| *s == step) {
                    b.finish_and_clear();
                    let _ = s;
                }
                eprintln!("{step}: {outcome}");
            }
            ProgressEvent::Started { step, summary } => eprintln!("{step}: {summary}"),
            ProgressEvent::Note { step, message } => eprintln!("{step}: {message}"),
            _ => {}
        }
    }
}

fn new_bar(unit: &str) -> indicatif::ProgressBar {
    let template = if unit == "bytes" {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
    } else {
        "{msg} [{bar:30}] {pos}/{len}"
    };
    let b = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        b.set_style(style.progress_chars("=> "));
    }
    b
}

fn amount(n: u64, unit: &str) -> String {
    if unit == "bytes" {
        format!("{:.1} MiB", n as f64 / 1_048_576.0)
    } else {
        format!("{n} {unit}")
    }
}

/// Dry run unless the caller confirmed (or asked to be asked).
pub fn mode(confirmed: bool) -> Mode {
    if confirmed {
        Mode::Execute
    } else {
        Mode::DryRun
    }
}

/// A cluster handle for `namespace`, from the kubeconfig or in-cluster settings.
pub async fn cluster(namespace: &str) -> Result<fleet_k8s::KubeCluster, String> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| format!("kubeconfig: {e}"))?;
    let options = fleet_k8s::ClusterOptions::default().with_namespace(namespace);
    fleet_k8s::KubeCluster::from_config(config, options).map_err(|e| e.to_string())
}

/// Shows a database restore's report.
#[allow(clippy::print_stderr)] // the binaries' edge
pub fn show_database_restore(output: Output, r: &fleet_backup::DatabaseRestoreReport) {
    let summary = if r.applied {
        format!(
            "database {} on {} restored from {} and validated: {} tables, {} rows as in the manifest ({:.1} s)",
            r.database, r.server, r.backup, r.tables_checked, r.rows_checked, r.elapsed_seconds
        )
    } else {
        format!(
            "dry run: {} on {} would be restored from {}",
            r.database, r.server, r.backup
        )
    };
    report(output, r, &summary);
    if !r.applied {
        eprintln!(
            "dry run: nothing restored (pass --confirm {} to restore)",
            r.database
        );
    }
}

/// Shows a configuration restore's report: one line per object that is not left as it is.
#[allow(clippy::print_stdout, clippy::print_stderr)] // the binaries' edge
pub fn show_config_restore(output: Output, r: &fleet_backup::ConfigRestoreReport) {
    if output == Output::Text {
        for i in &r.items {
            let outcome = match &i.outcome {
                fleet_backup::ApplyOutcome::Failed { error } => format!(" FAILED: {error}"),
                fleet_backup::ApplyOutcome::Applied => " done".into(),
                _ => String::new(),
            };
            let diff = if i.diff.is_empty() {
                String::new()
            } else {
                format!(" differs at {}", i.diff.join(", "))
            };
            println!(
                "{:<40} {:<30} {:?}{diff}{outcome}",
                i.resource, i.name, i.action
            );
        }
        for (d, state) in &r.rollouts {
            println!("rollout of {d}: {state}");
        }
    }
    let summary = format!(
        "namespace {} from backup {}: {:?}, {} failed",
        r.target_namespace,
        r.backup,
        r.counts(),
        r.failures().count()
    );
    report(output, r, &summary);
    if !r.applied {
        eprintln!(
            "dry run: nothing restored (pass --confirm {} to restore)",
            r.target_namespace
        );
    }
}

/// Prints a report: the JSON document, or one line for people.
#[allow(clippy::print_stdout)] // the binaries' edge: reports go to stdout
pub fn report<T: serde::Serialize>(output: Output, report: &T, summary: &str) {
    match output {
        Output::Json => match serde_json::to_string_pretty(report) {
            Ok(json) => println!("{json}"),
            Err(e) => println!("{{\"error\": \"{e}\"}}"),
        },
        Output::Text => println!("{summary}"),
    }
}

/// Logs to stderr at the level `RUST_LOG` asks for (warnings by default).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
