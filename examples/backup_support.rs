//! What the backup examples share: the flags (store, policy, output, actor, audit log, tools),
//! the guards of a run (audit file, confirmation, dry run), the progress display (a bar on a
//! terminal, plain lines otherwise) and printing a report (its JSON or its `Display`). Opening
//! the store, reading keys and the reports' text are fleet-backup's.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;

use fleet_backup::{BackupStore, PgTools};
use fleet_guard::{ChannelProgress, Executor, Guards, Mode, ProgressEvent, RunContext};
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
        PgTools::from_dirs(self.pg_bin.clone(), self.pg_lib.clone())
    }
}

impl Common {
    /// The store `--store` names, with credentials from the environment (see
    /// `fleet_backup::BackupStore::from_location`).
    pub fn store(&self) -> Result<BackupStore, String> {
        BackupStore::from_location(&self.store, std::env::vars()).map_err(|e| e.to_string())
    }

    /// The policy file, or the runbook's defaults.
    pub fn policy(&self) -> Result<Policy, String> {
        crate::load_policy(self.policy.as_deref())
    }
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
        let (progress, events) = ChannelProgress::new();
        let (guards, _) = Guards::for_cli(Some(&common.audit), token, Arc::new(progress))
            .map_err(|e| e.to_string())?;
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

/// Holds the Lease of `target` (kept in namespace `lock_namespace`, which must exist) for the
/// run, as its audited `take-lock` step (nothing in a dry run): a second restore into the same
/// target is refused with the holder and its reason.
pub async fn hold(
    run: &Run,
    cluster: &fleet_k8s::KubeCluster,
    lock_namespace: &str,
    target: &str,
) -> Result<fleet_guard::HeldLock, String> {
    let options = fleet_k8s::LeaseLockOptions::default().with_namespace(lock_namespace);
    let lock = fleet_k8s::LeaseLock::new(cluster, options).map_err(|e| e.to_string())?;
    let request = fleet_guard::LockRequest {
        target: target.to_owned(),
        holder: String::new(),
        reason: String::new(),
        ttl: std::time::Duration::from_secs(3600),
    };
    let step = fleet_guard::Step::change("take-lock", target, "hold the target's Lease");
    run.executor
        .take_lock(step, &lock, request)
        .await
        .map_err(|e| e.to_string())
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

/// Prints a restore's report (JSON, or its text), and on stderr how to restore when it was a
/// dry run.
#[allow(clippy::print_stderr)] // the binaries' edge
pub fn show_restore<T: serde::Serialize + std::fmt::Display>(
    output: Output,
    r: &T,
    applied: bool,
    target: &str,
) {
    report(output, r);
    if !applied {
        eprintln!("dry run: nothing restored (pass --confirm {target} to restore)");
    }
}

/// Prints a report: the JSON document, or its text for people.
#[allow(clippy::print_stdout)] // the binaries' edge: reports go to stdout
pub fn report<T: serde::Serialize + std::fmt::Display>(output: Output, report: &T) {
    match output {
        Output::Json => match serde_json::to_string_pretty(report) {
            Ok(json) => println!("{json}"),
            Err(e) => println!("{{\"error\": \"{e}\"}}"),
        },
        Output::Text => println!("{report}"),
    }
}

/// The exit of a run that failed: a refused confirmation is a usage error (`Err`, exit 2),
/// anything else is printed with the example's `name` and exits 1.
#[allow(clippy::print_stderr)] // the binaries' edge
pub fn failed(name: &str, e: fleet_backup::Error) -> Result<std::process::ExitCode, String> {
    if e.is_refused() {
        return Err(e.to_string());
    }
    eprintln!("{name}: {e}");
    Ok(std::process::ExitCode::from(1))
}

/// A backup example's `main`: logging set up, then `run`; an `Err` from it is a usage or
/// configuration error, printed with the example's `name`, exit code 2.
#[allow(clippy::print_stderr)] // the binaries' edge
pub async fn main(
    name: &str,
    run: impl std::future::Future<Output = Result<std::process::ExitCode, String>>,
) -> std::process::ExitCode {
    crate::init_tracing("warn");
    match run.await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
