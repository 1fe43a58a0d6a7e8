//! `azure_backups`: the runbook's `az postgres flexible-server backup list|create` and
//! `az postgres flexible-server restore`, over fleet-azure.
//!
//! ```text
//! cargo run -p fleet-examples --features azure --example azure_backups -- list
//! cargo run -p fleet-examples --features azure --example azure_backups -- create [--name NAME] [--execute]
//! cargo run -p fleet-examples --features azure --example azure_backups -- \
//!     restore --target NAME --time 2025-11-24T10:00:00Z [--execute]
//! cargo run -p fleet-examples --features azure --example azure_backups -- \
//!     resume --operation OPERATION --status-url URL
//! ```
//!
//! The server comes from `AZURE_SUBSCRIPTION_ID`, `FLEET_RESOURCE_GROUP` (default
//! `fleet-management-rg`) and `FLEET_PG_SERVER` (default `fleet-postgres-server`); credentials
//! from the environment as `fleet_azure::credential::CredentialConfig::from_env_vars` documents.
//! `create` and `restore` only print their plan unless `--execute` is given; a restore prints
//! its resume command first, so a restarted shell can pick it up. Exit codes: 0 done, 1 the
//! operation failed, 2 usage or configuration error.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use std::process::ExitCode;
use std::sync::Arc;

use fleet_azure::credential::{CredentialChain, CredentialConfig};
use fleet_azure::names::{default_backup_name, unique_backup_name};
use fleet_azure::{
    FlexibleServerClient, FlexibleServerOptions, RestoreRequest, ResumeToken, ServerBackups,
    ServerRestore,
};
use jiff::Timestamp;

fn usage() -> String {
    "usage: azure_backups list | create [--name NAME] [--execute] | \
     restore --target NAME --time RFC3339 [--execute] | resume --operation OP --status-url URL"
        .into()
}

/// `--flag VALUE` pairs and bare `--switch`es after the subcommand.
struct Flags(Vec<String>);

impl Flags {
    fn value(&self, name: &str) -> Result<Option<String>, String> {
        match self.0.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) => self
                .0
                .get(i + 1)
                .cloned()
                .map(Some)
                .ok_or(format!("{name} needs a value")),
        }
    }

    fn switch(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn client() -> Result<FlexibleServerClient, String> {
    let subscription = std::env::var("AZURE_SUBSCRIPTION_ID")
        .map_err(|_| "set AZURE_SUBSCRIPTION_ID".to_owned())?;
    let options = FlexibleServerOptions::new(
        &subscription,
        &env_or("FLEET_RESOURCE_GROUP", "fleet-management-rg"),
        &env_or("FLEET_PG_SERVER", "fleet-postgres-server"),
    );
    let config = CredentialConfig::from_env_vars(std::env::vars());
    let credential =
        CredentialChain::from_config(&config).map_err(|e| format!("credentials: {e}"))?;
    Ok(FlexibleServerClient::new(Arc::new(credential), options))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    };
    let flags = Flags(args.collect());
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("azure_backups: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&client, &command, &flags).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("azure_backups: {e}\n{}", usage());
            ExitCode::from(2)
        }
        Err(Failure::Azure(e)) => {
            eprintln!("azure_backups: {e}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Azure(fleet_azure::AzureError),
}

impl From<fleet_azure::AzureError> for Failure {
    fn from(e: fleet_azure::AzureError) -> Self {
        Failure::Azure(e)
    }
}

async fn run(client: &FlexibleServerClient, command: &str, flags: &Flags) -> Result<(), Failure> {
    match command {
        "list" => {
            for b in client.list_backups().await? {
                let at = b
                    .completed_at
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "-".into());
                println!("{:<40} {:<28} {:?} / {:?}", b.name, at, b.kind, b.source);
            }
            let points = client.restore_points().await?;
            println!("restore window: {} .. {}", points.earliest, points.latest);
        }
        "create" => {
            let name = match flags.value("--name").map_err(Failure::Usage)? {
                Some(n) => n,
                None => {
                    let existing = client.list_backups().await?;
                    unique_backup_name(
                        &default_backup_name(Timestamp::now()),
                        existing.iter().map(|b| b.name.as_str()),
                    )
                }
            };
            if !flags.switch("--execute") {
                println!("dry run: would create on-demand backup `{name}` (add --execute)");
                return Ok(());
            }
            let backup = client.create_backup(Some(name)).await?;
            println!("created {} at {:?}", backup.name, backup.completed_at);
        }
        "restore" => {
            let target = flags
                .value("--target")
                .map_err(Failure::Usage)?
                .ok_or_else(|| Failure::Usage("--target NAME is required".into()))?;
            let time = flags
                .value("--time")
                .map_err(Failure::Usage)?
                .ok_or_else(|| Failure::Usage("--time RFC3339 is required".into()))?;
            let point_in_time: Timestamp = time
                .parse()
                .map_err(|e| Failure::Usage(format!("--time `{time}`: {e}")))?;
            let points = client.restore_points().await?;
            if !flags.switch("--execute") {
                println!(
                    "dry run: would restore into new server `{target}` at {point_in_time} \
                     (window {} .. {}; add --execute)",
                    points.earliest, points.latest
                );
                return Ok(());
            }
            let request = RestoreRequest {
                target_server_name: target.clone(),
                point_in_time,
                source_server_name: None,
            };
            let poller = client.begin_point_in_time_restore(request).await?;
            println!(
                "to resume: azure_backups resume --operation restore --status-url '{}'",
                poller.status_url()
            );
            wait(poller).await?;
            let server = client.get_server(&target).await?;
            println!("{} is {:?} at {:?}", server.name, server.state, server.fqdn);
        }
        "resume" => {
            let operation = flags
                .value("--operation")
                .map_err(Failure::Usage)?
                .unwrap_or_else(|| "operation".into());
            let url = flags
                .value("--status-url")
                .map_err(Failure::Usage)?
                .ok_or_else(|| Failure::Usage("--status-url URL is required".into()))?;
            let poller = client.resume_operation(ResumeToken::from_status_url(&operation, &url))?;
            wait(poller).await?;
        }
        other => return Err(Failure::Usage(format!("unknown command `{other}`"))),
    }
    Ok(())
}

async fn wait(poller: fleet_azure::LroPoller) -> Result<(), Failure> {
    let done = poller
        .wait_with_progress(|p| match p.percent_complete {
            Some(pct) => eprintln!("{:?} {pct:.0} % after {} polls", p.status, p.polls),
            None => eprintln!("{:?} after {} polls", p.status, p.polls),
        })
        .await?;
    println!(
        "{} finished after {} polls ({:?})",
        done.operation, done.polls, done.elapsed
    );
    Ok(())
}
