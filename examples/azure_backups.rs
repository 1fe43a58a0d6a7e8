//! `azure_backups`: the runbook's `az postgres flexible-server backup list|create|delete` and
//! `az postgres flexible-server restore` over fleet-azure, with the policy's backup naming and
//! restore-window rule. `--help` lists the flags and the environment it reads.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use clap::{Parser, Subcommand};
use fleet_azure::{ArmOperation, BeginOptions, RestoreRequest, ServerBackups, ServerRestore};
use fleet_guard::{ConfirmRequest, ConfirmWord, Confirmation, StepError, cli_confirm};
use fleet_policy::{Outcome, Policy, backup};
use futures::TryStreamExt;
use jiff::{Timestamp, tz::TimeZone};
use serde::{Serialize, de::DeserializeOwned};
use std::{error::Error, fmt::Display, future::Future, path::PathBuf, process::ExitCode};

type Started<T> = fleet_azure::Result<fleet_azure::Poller<ArmOperation<T>>>;

/// Backups and point-in-time restore of a PostgreSQL flexible server (runbook: "Database
/// backups", Disaster Recovery step 1). Credentials: AZURE_TENANT_ID and AZURE_CLIENT_ID with
/// AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, an Azure Pipelines connection
/// (AZURESUBSCRIPTION_SERVICE_CONNECTION_ID, SYSTEM_ACCESSTOKEN) or AZURE_FEDERATED_TOKEN_FILE;
/// a managed identity (FLEET_AZURE_MANAGED_IDENTITY); or `az login` with
/// FLEET_AZURE_DEVELOPER_TOOLS=1. FLEET_AZURE_ARM_ENDPOINT and FLEET_AZURE_CA_CERT select
/// another cloud. Statuses, with a restore's resume token, go to stderr (RUST_LOG for more).
/// Exit codes: 0 done, 1 failed or refused by the policy, 2 usage, input or no confirmation.
#[derive(Parser)]
struct Cli {
    #[arg(long, env = "AZURE_SUBSCRIPTION_ID")]
    subscription: String,
    #[arg(long, env = "FLEET_RESOURCE_GROUP")]
    resource_group: String,
    #[arg(long, env = "FLEET_PG_SERVER")]
    server: String,
    /// Policy file (backup naming, retention); the runbook's defaults otherwise.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Check everything and print the exact request; send nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// The word a destructive step asks for, for automation (else a prompt on a terminal).
    #[arg(long, global = true)]
    confirm: Option<String>,
    #[arg(long, default_value = "text", value_parser = ["text", "json"], global = true)]
    output: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List backups and the restore window (`backup list`).
    List,
    /// Take an on-demand backup, named by the policy unless NAME is given (`backup create`).
    Create { name: Option<String> },
    /// Delete an on-demand backup; confirm with its name (`backup delete`).
    Delete { name: String },
    /// Restore into the new server TARGET at TIME; confirm with TARGET (`restore`).
    Restore { target: String, time: Timestamp },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::from_default_env();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(&cli).await {
        Ok((json, text)) => println!("{}", if cli.output == "json" { json } else { text }),
        Err(e) => {
            eprintln!("azure_backups: {e}");
            return ExitCode::from(exit_code(&*e));
        }
    }
    ExitCode::SUCCESS
}

/// 2 for input and refused confirmations, 1 for failures and the policy's refusals.
fn exit_code(e: &(dyn Error + 'static)) -> u8 {
    let azure_input = e
        .downcast_ref::<fleet_azure::Error>()
        .is_some_and(|a| a.is_invalid_input());
    let refused = e.is::<StepError<fleet_azure::Error>>();
    let input = e.is::<std::io::Error>() || e.is::<fleet_policy::Error>();
    if azure_input || refused || input {
        2
    } else {
        1
    }
}

async fn run(cli: &Cli) -> Result<(String, String), Box<dyn Error>> {
    let policy = match &cli.policy {
        Some(path) => Policy::from_toml_bytes(&std::fs::read(path)?)?,
        None => Policy::default(),
    };
    let arm = fleet_examples::azure::arm_client()?;
    let server = arm.flexible_server_client(&cli.subscription, &cli.resource_group, &cli.server)?;
    let begin = || Some(BeginOptions::default().with_dry_run(cli.dry_run));
    match &cli.command {
        Command::List => {
            let backups: Vec<_> = server.list_backups(None)?.try_collect().await?;
            let points = server.restore_points(None).await?;
            let text: String = backups.iter().map(|b| format!("{b}\n")).collect();
            let json = serde_json::json!({ "backups": backups, "restore_points": points });
            Ok((json.to_string(), format!("{text}{points}")))
        }
        Command::Create { name } => {
            let existing: Vec<_> = server.list_backups(None)?.try_collect().await?;
            let names: Vec<&str> = existing.iter().map(|b| b.name.as_str()).collect();
            let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
            let planned = backup::on_demand_name(&policy, today, &names);
            let name = name.clone().unwrap_or(planned);
            apply(cli, None, server.begin_create_backup(&name, begin())).await
        }
        Command::Delete { name } => {
            apply(cli, Some(name), server.begin_delete_backup(name, begin())).await
        }
        Command::Restore { target, time } => {
            let earliest = server.restore_points(None).await?.earliest;
            let now = Timestamp::now();
            let verdict = backup::check_restore_target(&policy, *time, earliest, now, &cli.server);
            if verdict.outcome == Outcome::Fail {
                return Err(format!("{}: {}", verdict.rule, verdict.message).into());
            }
            let request = RestoreRequest::new(target, *time);
            let start = server.begin_point_in_time_restore(&request, begin());
            apply(cli, Some(target), start).await
        }
    }
}

/// Confirms a destructive step by its `word` (a dry run changes nothing and needs none),
/// starts it, and follows it to its end with every status on stderr.
async fn apply<T>(
    cli: &Cli,
    word: Option<&str>,
    start: impl Future<Output = Started<T>>,
) -> Result<(String, String), Box<dyn Error>>
where
    T: Serialize + DeserializeOwned + Display + Send + Sync + 'static,
{
    if let (Some(word), false) = (word, cli.dry_run) {
        let summary = format!("{word}: a destructive change on server {}", cli.server);
        let (procedure, step) = ("azure_backups".to_owned(), word.to_owned());
        let request = ConfirmRequest {
            procedure,
            step,
            summary,
            word: ConfirmWord::new(word)?,
        };
        if let Confirmation::Refused { reason } =
            cli_confirm(cli.confirm.clone()).confirm(&request).await
        {
            return Err(StepError::<fleet_azure::Error>::Refused {
                step: word.into(),
                reason,
            }
            .into());
        }
    }
    let status = |s: &ArmOperation<T>| eprintln!("{}", serde_json::json!(s));
    let outcome = fleet_azure::follow(start.await?, status).await?;
    Ok((serde_json::to_string(&outcome)?, outcome.to_string()))
}
