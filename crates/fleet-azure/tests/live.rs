//! Opt-in tests against a real Azure subscription. They are `#[ignore]`d; run them with
//!
//! ```text
//! az login   # or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET, or workload identity
//! FLEET_AZURE_SUBSCRIPTION_ID=... FLEET_AZURE_RESOURCE_GROUP=... FLEET_AZURE_SERVER=... \
//! FLEET_AZURE_WORKSPACE_ID=... FLEET_AZURE_VAULT_URL=https://<vault>.vault.azure.net \
//! FLEET_AZURE_SECRET_NAME=... \
//!   cargo test -p fleet-azure --test live -- --ignored
//! ```
//!
//! Each test fails (it does not skip) when a variable it needs is missing, naming it. All
//! tests only read, except `live_backup_create_and_delete`, which also needs
//! `FLEET_AZURE_LIVE_MUTATE=1` and takes and deletes one on-demand backup named
//! `fleet-live-<unix seconds>`. Roles needed: Reader on the server (plus Contributor for the
//! mutating test), Log Analytics Reader on the workspace, Key Vault Secrets User on the vault.

use fleet_azure::credential::{CredentialChain, CredentialConfig};
use fleet_azure::{
    FlexibleServerClient, FlexibleServerOptions, KeyVaultSecrets, Secrets, SecretsOptions,
    ServerBackups, ServerRestore, Telemetry, TelemetryClient, TelemetryOptions, TimeWindow,
};
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name} to run this test"))
}

fn credential() -> Result<Arc<CredentialChain>, Box<dyn std::error::Error>> {
    let config = CredentialConfig::from_env_vars(std::env::vars());
    Ok(Arc::new(CredentialChain::from_config(&config)?))
}

fn server_client() -> Result<FlexibleServerClient, Box<dyn std::error::Error>> {
    let options = FlexibleServerOptions::new(
        &var("FLEET_AZURE_SUBSCRIPTION_ID")?,
        &var("FLEET_AZURE_RESOURCE_GROUP")?,
        &var("FLEET_AZURE_SERVER")?,
    );
    Ok(FlexibleServerClient::new(credential()?, options))
}

#[tokio::test]
#[ignore = "needs Azure"]
async fn live_server_backups_and_restore_points() -> TestResult {
    let client = server_client()?;
    let server = client.get_server(&var("FLEET_AZURE_SERVER")?).await?;
    assert!(server.fqdn.is_some());
    let backups = client.list_backups().await?;
    assert!(
        !backups.is_empty(),
        "a server with backups enabled lists at least one"
    );
    let points = client.restore_points().await?;
    assert!(points.earliest <= points.latest);
    Ok(())
}

#[tokio::test]
#[ignore = "needs Azure"]
async fn live_backup_create_and_delete() -> TestResult {
    if var("FLEET_AZURE_LIVE_MUTATE")? != "1" {
        return Err("set FLEET_AZURE_LIVE_MUTATE=1 to allow this test to take a backup".into());
    }
    let client = server_client()?;
    let name = format!("fleet-live-{}", Timestamp::now().as_second());
    let backup = client.create_backup(Some(name.clone())).await?;
    assert_eq!(backup.name, name);
    assert_eq!(
        client.delete_backup(&name).await?,
        fleet_azure::DeleteOutcome::Deleted
    );
    assert_eq!(
        client.delete_backup(&name).await?,
        fleet_azure::DeleteOutcome::AlreadyAbsent
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs Azure"]
async fn live_request_stats_last_hour() -> TestResult {
    let options = TelemetryOptions::workspace(&var("FLEET_AZURE_WORKSPACE_ID")?);
    let client = TelemetryClient::new(credential()?, &options)?;
    let end = Timestamp::now();
    let window = TimeWindow::new(end - SignedDuration::from_hours(1), end)?;
    let baseline = TimeWindow::new(
        end - SignedDuration::from_hours(25),
        end - SignedDuration::from_hours(24),
    )?;
    let report = client.report(window, Some(baseline), 5).await?;
    assert!(report.current.requests.failed <= report.current.requests.total);
    Ok(())
}

#[tokio::test]
#[ignore = "needs Azure"]
async fn live_secret_read() -> TestResult {
    let options = SecretsOptions::new(&var("FLEET_AZURE_VAULT_URL")?);
    let secrets = KeyVaultSecrets::new(credential()?, &options)?;
    let name = var("FLEET_AZURE_SECRET_NAME")?;
    let secret = secrets.get_secret(&name, None).await?;
    let versions = secrets.list_versions(&name).await?;
    assert!(versions.iter().any(|v| v.version == secret.version.version));
    Ok(())
}
