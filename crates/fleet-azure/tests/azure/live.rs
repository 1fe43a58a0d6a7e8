//! Opt-in tests against a real Azure subscription. They are `#[ignore]`d; run them with
//!
//! ```text
//! az login && export FLEET_AZURE_DEVELOPER_TOOLS=1  # or a service principal, workload identity...
//! FLEET_AZURE_SUBSCRIPTION_ID=... FLEET_AZURE_RESOURCE_GROUP=... FLEET_AZURE_SERVER=... \
//! FLEET_AZURE_WORKSPACE_ID=... FLEET_AZURE_VAULT_URL=https://<vault>.vault.azure.net \
//! FLEET_AZURE_SECRET_NAME=... \
//!   cargo test -p fleet-azure --test azure live_ -- --ignored
//! ```
//!
//! Each test fails (it does not skip) when a variable it needs is missing, naming it. All
//! tests only read, except `live_backup_create_and_delete`, which also needs
//! `FLEET_AZURE_LIVE_MUTATE=1` and takes and deletes one on-demand backup named
//! `fleet-live-<unix seconds>`. Roles needed: Reader on the server (plus Contributor for the
//! mutating test), Log Analytics Reader on the workspace, Key Vault Secrets User on the vault.

use crate::TestResult;
use fleet_azure::{
    ArmClient, AzureCloud, CredentialChain, CredentialConfig, Deletion, FlexibleServerClient,
    KeyVaultClient, Outcome, Secrets, ServerBackup, ServerBackups, ServerRestore, Telemetry,
    TelemetryClient, TelemetrySource, TimeWindow,
};
use futures::TryStreamExt;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name} to run this test"))
}

fn credential() -> Result<Arc<CredentialChain>, Box<dyn std::error::Error>> {
    let config = CredentialConfig::from_env_vars(std::env::vars());
    Ok(Arc::new(CredentialChain::from_config(&config)?))
}

fn server_client() -> Result<FlexibleServerClient, Box<dyn std::error::Error>> {
    let arm = ArmClient::new(&AzureCloud::public().resource_manager, credential()?, None)?;
    Ok(arm.flexible_server_client(
        &var("FLEET_AZURE_SUBSCRIPTION_ID")?,
        &var("FLEET_AZURE_RESOURCE_GROUP")?,
        &var("FLEET_AZURE_SERVER")?,
    )?)
}

#[tokio::test]
#[ignore = "needs Azure"]
async fn live_server_backups_and_restore_points() -> TestResult {
    let client = server_client()?;
    let server = client.get_server(&var("FLEET_AZURE_SERVER")?, None).await?;
    assert!(server.fqdn.is_some());
    let backups: Vec<ServerBackup> = client.list_backups(None)?.try_collect().await?;
    assert!(
        !backups.is_empty(),
        "a server with backups enabled lists at least one"
    );
    let points = client.restore_points(None).await?;
    assert!(points.earliest.is_none_or(|e| e <= points.latest));
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
    let created = client
        .begin_create_backup(&name, None)
        .await?
        .await?
        .into_model()?;
    let Outcome::Applied(backup) = created else {
        return Err("not applied".into());
    };
    assert_eq!(backup.name, name);
    let deleted = client
        .begin_delete_backup(&name, None)
        .await?
        .await?
        .into_model()?;
    assert_eq!(deleted.applied(), Some(Deletion::Deleted));
    let again = client
        .begin_delete_backup(&name, None)
        .await?
        .await?
        .into_model()?;
    assert_eq!(again.applied(), Some(Deletion::AlreadyAbsent));
    Ok(())
}

#[tokio::test]
#[ignore = "needs Azure"]
async fn live_request_stats_last_hour() -> TestResult {
    let endpoint = TelemetrySource::Workspace {
        workspace_id: var("FLEET_AZURE_WORKSPACE_ID")?,
    }
    .endpoint(&AzureCloud::public());
    let client = TelemetryClient::new(&endpoint, credential()?, None)?;
    let end = Timestamp::now();
    let window = TimeWindow::new(end - SignedDuration::from_hours(1), end)?;
    let baseline = TimeWindow::new(
        end - SignedDuration::from_hours(25),
        end - SignedDuration::from_hours(24),
    )?;
    let report = client.report(window, Some(baseline), 5, None).await?;
    assert!(report.current.requests.failed <= report.current.requests.total);
    Ok(())
}

#[tokio::test]
#[ignore = "needs Azure"]
async fn live_secret_read() -> TestResult {
    let secrets = KeyVaultClient::new(&var("FLEET_AZURE_VAULT_URL")?, credential()?, None)?;
    let name = var("FLEET_AZURE_SECRET_NAME")?;
    let secret = secrets.get_secret(&name, None).await?;
    let versions: Vec<_> = secrets.list_versions(&name, None)?.try_collect().await?;
    assert!(versions.iter().any(|v| v.version == secret.version.version));
    Ok(())
}
