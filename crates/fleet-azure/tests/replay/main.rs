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
