//! fleet-azure against `fleet_testkit::azure::AzureReplay`: real HTTPS, real azure_core
//! pipeline (bearer-token policy, retry loop), Microsoft's REST examples as the server's data.

mod arm;
mod faults;
mod secrets;
mod server;
mod telemetry;

use fleet_azure::{
    AzureCloud, FlexibleServerClient, FlexibleServerOptions, PollSettings, RetrySettings,
};
use fleet_testkit::azure::{AzureReplay, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// "Now" for the ARM tests: the day after the examples' backups.
pub(crate) const NOW: &str = "2025-06-02T00:00:00Z";

pub(crate) fn fast_polling() -> PollSettings {
    PollSettings {
        default_interval: Duration::from_millis(1),
        min_interval: Duration::ZERO,
        timeout: Duration::from_secs(20),
    }
}

pub(crate) fn arm_options(replay: &AzureReplay) -> FlexibleServerOptions {
    FlexibleServerOptions {
        cloud: AzureCloud::custom_at(replay.base_url()),
        retry: RetrySettings::fast_for_tests(3),
        polling: fast_polling(),
        ..FlexibleServerOptions::new(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)
    }
}

pub(crate) async fn arm_client()
-> Result<(AzureReplay, FlexibleServerClient), Box<dyn std::error::Error>> {
    let replay = AzureReplay::start().await?;
    let now: Timestamp = NOW.parse()?;
    let client = FlexibleServerClient::with_transport(
        replay.credential(),
        arm_options(&replay),
        Some(replay.transport()),
    )
    .with_clock(Arc::new(move || now));
    Ok((replay, client))
}

/// The path prefix of the example server.
pub(crate) fn server_path(server: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{server}"
    )
}

/// The traits are object safe and their mocks (feature `test-util`) stand in for them.
#[cfg(feature = "test-util")]
#[tokio::test]
async fn traits_are_object_safe_and_mockable() -> TestResult {
    use fleet_azure::{MockServerBackups, ServerBackups};
    let mut mock = MockServerBackups::new();
    mock.expect_list_backups().returning(|| Ok(Vec::new()));
    let backups: Arc<dyn ServerBackups> = Arc::new(mock);
    assert!(backups.list_backups().await?.is_empty());
    let _: Option<Arc<dyn fleet_azure::ServerRestore>> = None;
    let _: Option<Arc<dyn fleet_azure::Telemetry>> = None;
    let _: Option<Arc<dyn fleet_azure::Secrets>> = None;
    Ok(())
}

/// Each client asks its credential for its own service's scope; Key Vault's comes from the
/// vault's challenge.
#[tokio::test]
async fn each_service_gets_a_token_for_its_scope() -> TestResult {
    use fleet_azure::{
        KeyVaultSecrets, Secrets, SecretsOptions, ServerBackups, Telemetry, TelemetryClient,
        TelemetryOptions, TimeWindow,
    };
    let replay = AzureReplay::start().await?;
    let credential = replay.credential();
    let arm = FlexibleServerClient::with_transport(
        credential.clone(),
        arm_options(&replay),
        Some(replay.transport()),
    );
    arm.list_backups().await?;
    arm.list_backups().await?;
    assert_eq!(credential.issued(), 1, "the bearer policy caches the token");
    assert_eq!(
        credential.scopes(),
        ["https://management.azure.com/.default"]
    );

    let credential = replay.credential();
    let mut options = TelemetryOptions::workspace("63613592-b6f7-4c3d-a390-22ba13102111");
    options.cloud = AzureCloud::custom_at(replay.base_url());
    let telemetry =
        TelemetryClient::with_transport(credential.clone(), &options, Some(replay.transport()))?;
    let w = TimeWindow::new(
        "2025-06-01T00:00:00Z".parse()?,
        "2025-06-02T00:00:00Z".parse()?,
    )?;
    let _ = telemetry.request_stats(w).await;
    assert_eq!(
        credential.scopes(),
        ["https://api.loganalytics.io/.default"]
    );

    let credential = replay.credential();
    let options = SecretsOptions {
        verify_challenge_resource: false,
        ..SecretsOptions::new(replay.base_url())
    };
    let vault =
        KeyVaultSecrets::with_transport(credential.clone(), &options, Some(replay.transport()))?;
    vault.get_secret("mysecretname", None).await?;
    assert_eq!(credential.scopes(), ["https://vault.azure.net/.default"]);
    Ok(())
}

/// With the challenge check on (the default), a vault whose challenge names another host is
/// refused before any token is sent.
#[tokio::test]
async fn key_vault_challenge_host_is_verified_by_default() -> TestResult {
    use fleet_azure::{KeyVaultSecrets, Secrets, SecretsOptions};
    let replay = AzureReplay::start().await?;
    let credential = replay.credential();
    let vault = KeyVaultSecrets::with_transport(
        credential.clone(),
        &SecretsOptions::new(replay.base_url()),
        Some(replay.transport()),
    )?;
    let e = vault
        .get_secret("mysecretname", None)
        .await
        .err()
        .ok_or("accepted")?;
    assert!(
        e.to_string().contains("doesn't match the requested domain"),
        "{e}"
    );
    assert_eq!(credential.issued(), 0);
    Ok(())
}
