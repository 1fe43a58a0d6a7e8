//! The runbook's `./scripts/rotate-credentials.sh` (Security Incident Response, isolate): a new
//! database password stored as a new Key Vault version, set on the role (confirmed with
//! `ROTATE`), written into the Kubernetes Secret, the deployments restarted, the new password
//! proven to log in and the old one to be refused, and only then the old version disabled. A
//! step that fails is undone so that the application keeps a working credential; the report
//! says where it stopped. No password is printed, logged or audited.
//!
//! ```text
//! FLEET_DATABASE_URL=postgres://admin@db.example.com/fleetdb?sslmode=require \
//! AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=... \
//! cargo run -p fleet-examples --features incident --example rotate_credentials -- \
//!     --vault-url https://fleet-kv.vault.azure.net --role fleet_app --confirm ROTATE \
//!     --audit-log rotation.jsonl
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use fleet_examples::runbook::{self, BoxError, Common};
use fleet_policy::Policy;
use fleet_runbook::{CredentialRotation, RotationTarget, Signals};

/// Rotates the application's database credential through Key Vault, PostgreSQL and the
/// cluster. Azure credentials come from the environment (see the `azure_backups` example's
/// help); `--dry-run` reads the current version and changes nothing.
#[derive(Parser)]
#[command(name = "rotate_credentials")]
struct Args {
    /// The Key Vault (`https://<vault>.vault.azure.net`).
    #[arg(long, env = "FLEET_KEYVAULT_URL")]
    vault_url: String,
    /// The Key Vault secret holding the password.
    #[arg(long, default_value = "fleet-db-password")]
    vault_secret: String,
    /// Do not check that the vault's authentication challenge names a resource under the
    /// vault's host (only for a vault reached through another name, e.g. a local stand-in).
    #[arg(long)]
    no_challenge_check: bool,
    /// The database role whose password is rotated.
    #[arg(long)]
    role: String,
    /// A connection allowed to change the role's password (`postgres://...`, `sslmode`
    /// honoured); read from the environment so that its password is never on a command line.
    #[arg(long, env = "FLEET_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The Kubernetes Secret the pods read the password from.
    #[arg(long, default_value = "fleet-db-credentials")]
    secret: String,
    /// The key in that Secret.
    #[arg(long, default_value = "password")]
    key: String,
    /// A deployment restarted to pick up the new password (repeatable).
    #[arg(long = "deployment", default_value = "fleet-api")]
    deployments: Vec<String>,
    #[command(flatten)]
    common: Common,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    runbook::main(run(&args)).await
}

async fn run(args: &Args) -> Result<ExitCode, BoxError> {
    let c = &args.common;
    let kube = c.kube().await?;
    let (run, audit) = c.executor("rotate-credentials")?;
    let db = fleet_examples::database(&args.database_url, Some(audit))?;
    let vault = fleet_examples::azure::vault_client(&args.vault_url, !args.no_challenge_check)?;
    let mut target = RotationTarget::new(
        &args.vault_secret,
        &args.role,
        &args.secret,
        args.deployments.clone(),
    );
    target.k8s_key.clone_from(&args.key);
    let signals = Signals::new(c.notifiers()?, None);
    let rotation = CredentialRotation::new(
        kube,
        db,
        Arc::new(vault),
        signals,
        Policy::default(),
        target,
    );
    let report = rotation.run(&run).await;
    Ok(c.finish(&report))
}
