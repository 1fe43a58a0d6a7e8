//! `azure_backups`: the runbook's `az postgres flexible-server backup list|create|delete` and
//! `az postgres flexible-server restore` over fleet-azure, with the policy's backup naming and
//! restore-window rule. `--help` lists the flags and the environment it reads.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use clap::{Parser, Subcommand};
use fleet_azure::{BeginOptions, RestoreRequest, ServerBackups, ServerRestore};
use fleet_examples::azure::{apply, exit_code};
use fleet_policy::{Outcome, backup};
use futures::TryStreamExt;
use jiff::{Timestamp, tz::TimeZone};
use std::{error::Error, path::PathBuf, process::ExitCode};

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
    fleet_examples::init_tracing("error");
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

async fn run(cli: &Cli) -> Result<(String, String), Box<dyn Error>> {
    let policy =
        fleet_examples::load_policy(cli.policy.as_deref()).map_err(std::io::Error::other)?;
    let arm = fleet_examples::azure::arm_client()?;
    let server = arm.flexible_server_client(&cli.subscription, &cli.resource_group, &cli.server)?;
    let begin = || Some(BeginOptions::default().with_dry_run(cli.dry_run));
    // A dry run changes nothing and needs no confirmation.
    let word = |w: &str| (!cli.dry_run).then(|| w.to_owned());
    let (name, target, token) = (
        "azure_backups",
        &format!("server {}", cli.server),
        &cli.confirm,
    );
    match &cli.command {
        Command::List => {
            let backups: Vec<_> = server.list_backups(None)?.try_collect().await?;
            let points = server.restore_points(None).await?;
            let text: String = backups.iter().map(|b| format!("{b}\n")).collect();
            let json = serde_json::json!({ "backups": backups, "restore_points": points });
            Ok((json.to_string(), format!("{text}{points}")))
        }
        Command::Create { name: wanted } => {
            let existing: Vec<_> = server.list_backups(None)?.try_collect().await?;
            let names: Vec<&str> = existing.iter().map(|b| b.name.as_str()).collect();
            let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
            let planned = backup::on_demand_name(&policy, today, &names);
            let chosen = wanted.clone().unwrap_or(planned);
            let start = server.begin_create_backup(&chosen, begin());
            apply(name, target, None, token.clone(), start).await
        }
        Command::Delete { name: backup } => {
            let start = server.begin_delete_backup(backup, begin());
            apply(name, target, word(backup), token.clone(), start).await
        }
        Command::Restore { target: new, time } => {
            let earliest = server.restore_points(None).await?.earliest;
            let now = Timestamp::now();
            let verdict = backup::check_restore_target(&policy, *time, earliest, now, &cli.server);
            if verdict.outcome == Outcome::Fail {
                return Err(format!("{}: {}", verdict.rule, verdict.message).into());
            }
            let request = RestoreRequest::new(new, *time);
            let start = server.begin_point_in_time_restore(&request, begin());
            apply(name, target, word(new), token.clone(), start).await
        }
    }
}
