//! fleet-azure against `fleet_testkit::azure::AzureReplay`: real HTTPS, real azure_core
//! pipeline (bearer-token policy, retry loop, azure_core's Poller and Pager), Microsoft's REST
//! examples as the server's data. `live` holds opt-in tests against a real subscription.

mod activity;
mod admin;
mod backups;
mod dns;
mod faults;
mod firewall;
mod hardening;
mod live;
mod parameters;
mod restore;
mod secrets;
mod server;
mod telemetry;

use azure_core::http::{ClientOptions, Poller};
use fleet_azure::{
    ArmClient, ArmClientOptions, ArmOperation, Error, FlexibleServerClient, Outcome, PollSettings,
    RetrySettings,
};
use fleet_testkit::azure::{AzureReplay, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// azure_core options for the replay: its transport, quick retries.
pub(crate) fn client_options(replay: &AzureReplay, retries: u32) -> ClientOptions {
    ClientOptions {
        transport: Some(replay.transport()),
        retry: RetrySettings::fast_for_tests(retries).into(),
        ..Default::default()
    }
}

/// Polls as fast as the replay answers (zero waits are polled through at once).
pub(crate) fn fast_polling() -> PollSettings {
    PollSettings::fast_for_tests(Duration::from_secs(20))
}

/// Polls with a 1 ms wait, so that every status reaches the poller's stream.
pub(crate) fn stepping_polling() -> PollSettings {
    PollSettings {
        default_interval: Duration::from_millis(1),
        min_interval: Duration::from_millis(1),
        max_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(20),
    }
}

pub(crate) fn arm_options(replay: &AzureReplay) -> ArmClientOptions {
    ArmClientOptions {
        client_options: client_options(replay, 3),
        polling: fast_polling(),
        ..Default::default()
    }
}

pub(crate) fn arm(replay: &AzureReplay, options: ArmClientOptions) -> Result<ArmClient, Error> {
    ArmClient::new(replay.base_url(), replay.credential(), Some(options))
}

pub(crate) async fn server_client()
-> Result<(AzureReplay, FlexibleServerClient), Box<dyn std::error::Error>> {
    let replay = AzureReplay::start().await?;
    let client = arm(&replay, arm_options(&replay))?.flexible_server_client(
        SUBSCRIPTION_ID,
        RESOURCE_GROUP,
        SERVER,
    )?;
    Ok((replay, client))
}

/// The path of a server of the examples' group.
pub(crate) fn server_path(server: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{server}"
    )
}

/// Every status a poller yields up to the terminal one, then its result.
pub(crate) async fn finish<T>(
    poller: Poller<ArmOperation<T>>,
) -> Result<(Vec<ArmOperation<T>>, Outcome<T>), Error>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let mut seen = Vec::new();
    let outcome = fleet_azure::follow(poller, |status| seen.push(status.clone())).await?;
    Ok((seen, outcome))
}

/// The applied value of a finished poller.
pub(crate) async fn applied<T>(
    poller: Poller<ArmOperation<T>>,
) -> Result<T, Box<dyn std::error::Error>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    match finish(poller).await?.1 {
        Outcome::Applied(t) => Ok(t),
        Outcome::DryRun(p) => Err(format!("a dry run: {p}").into()),
    }
}

/// Everything `tracing` writes while it is alive (all levels), for checks that a secret never
/// reaches the logs.
pub(crate) struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    pub(crate) fn start() -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = Arc::clone(&buffer);
            move || CaptureWriter(Arc::clone(&buffer))
        };
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        Self {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().map(|b| b.clone()).unwrap_or_default())
            .into_owned()
    }
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The traits are object safe and their mocks (feature `test-util`) stand in for them.
#[cfg(feature = "test-util")]
#[tokio::test]
async fn traits_are_object_safe_and_mockable() -> TestResult {
    use fleet_azure::{MockServerBackups, ServerBackups};
    let mut mock = MockServerBackups::new();
    mock.expect_get_backup().returning(|_, _| {
        Err(fleet_azure::Error::InvalidInput {
            field: "backup_name",
            reason: "mocked".into(),
        })
    });
    let backups: Arc<dyn ServerBackups> = Arc::new(mock);
    assert!(backups.get_backup("b", None).await.is_err());
    let _: Option<Arc<dyn fleet_azure::ServerRestore>> = None;
    let _: Option<Arc<dyn fleet_azure::FirewallRules>> = None;
    let _: Option<Arc<dyn fleet_azure::ServerParameters>> = None;
    let _: Option<Arc<dyn fleet_azure::ServerAdmin>> = None;
    let _: Option<Arc<dyn fleet_azure::DnsRecords>> = None;
    let _: Option<Arc<dyn fleet_azure::ActivityLog>> = None;
    let _: Option<Arc<dyn fleet_azure::Telemetry>> = None;
    let _: Option<Arc<dyn fleet_azure::Secrets>> = None;
    let _ = (
        fleet_azure::MockFirewallRules::new(),
        fleet_azure::MockServerParameters::new(),
        fleet_azure::MockServerAdmin::new(),
        fleet_azure::MockDnsRecords::new(),
        fleet_azure::MockActivityLog::new(),
        fleet_azure::MockSecrets::new(),
        fleet_azure::MockTelemetry::new(),
        fleet_azure::MockServerRestore::new(),
    );
    Ok(())
}

#[test]
fn clients_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<ArmClient>();
    check::<FlexibleServerClient>();
    check::<fleet_azure::DnsZoneClient>();
    check::<fleet_azure::ActivityLogClient>();
    check::<fleet_azure::KeyVaultClient>();
    check::<fleet_azure::TelemetryClient>();
    check::<fleet_azure::CredentialChain>();
    check::<Error>();
}

/// Each client asks its credential for its own service's scope; Key Vault's comes from the
/// vault's challenge.
#[tokio::test]
async fn each_service_gets_a_token_for_its_scope() -> TestResult {
    use fleet_azure::{
        KeyVaultClient, KeyVaultClientOptions, Secrets, Telemetry, TelemetryClient,
        TelemetryClientOptions, TelemetrySource, TimeWindow,
    };
    let replay = AzureReplay::start().await?;
    let credential = replay.credential();
    let server = ArmClient::new(
        replay.base_url(),
        credential.clone(),
        Some(arm_options(&replay)),
    )?
    .flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)?;
    use fleet_azure::ServerRestore;
    server.get_server(SERVER, None).await?;
    server.get_server(SERVER, None).await?;
    assert_eq!(credential.issued(), 1, "the bearer policy caches the token");
    assert_eq!(
        credential.scopes(),
        ["https://management.azure.com/.default"]
    );

    let credential = replay.credential();
    let endpoint = TelemetrySource::Workspace {
        workspace_id: "63613592-b6f7-4c3d-a390-22ba13102111".into(),
    }
    .endpoint(&fleet_azure::AzureCloud::custom_at(replay.base_url()));
    let telemetry = TelemetryClient::new(
        &endpoint,
        credential.clone(),
        Some(TelemetryClientOptions {
            client_options: client_options(&replay, 2),
            ..Default::default()
        }),
    )?;
    let w = TimeWindow::new(
        "2025-06-01T00:00:00Z".parse()?,
        "2025-06-02T00:00:00Z".parse()?,
    )?;
    let _ = telemetry.request_stats(w, None).await;
    assert_eq!(
        credential.scopes(),
        ["https://api.loganalytics.io/.default"]
    );

    let credential = replay.credential();
    let vault = KeyVaultClient::new(
        replay.base_url(),
        credential.clone(),
        Some(KeyVaultClientOptions {
            client_options: client_options(&replay, 2),
            verify_challenge_resource: false,
            ..Default::default()
        }),
    )?;
    vault.get_secret("mysecretname", None).await?;
    assert_eq!(credential.scopes(), ["https://vault.azure.net/.default"]);
    Ok(())
}

/// With the challenge check on (the default), a vault whose challenge names another host is
/// refused before any token is sent.
#[tokio::test]
async fn key_vault_challenge_host_is_verified_by_default() -> TestResult {
    use fleet_azure::{KeyVaultClient, KeyVaultClientOptions, Secrets};
    let replay = AzureReplay::start().await?;
    let credential = replay.credential();
    let vault = KeyVaultClient::new(
        replay.base_url(),
        credential.clone(),
        Some(KeyVaultClientOptions {
            client_options: client_options(&replay, 2),
            ..Default::default()
        }),
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

/// The credential chain gets its token from the replay's Entra endpoint with a client secret,
/// and the ARM call carries it.
#[tokio::test]
async fn a_client_secret_chain_gets_a_token_from_entra() -> TestResult {
    use fleet_azure::{AzureCloud, CredentialChain, CredentialConfig, SecretValue, ServerRestore};
    let replay = AzureReplay::start().await?;
    let mut config = CredentialConfig {
        tenant_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
        client_id: Some("00000000-0000-0000-0000-000000000001".into()),
        client_secret: Some(SecretValue::new("s3cret-value")),
        ..CredentialConfig::default()
    }
    .with_cloud(&AzureCloud::custom_at(replay.base_url()));
    config.client_options.transport = Some(replay.transport());
    let chain = Arc::new(CredentialChain::from_config(&config)?);
    let server = ArmClient::new(replay.base_url(), chain.clone(), Some(arm_options(&replay)))?
        .flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)?;
    server.get_server(SERVER, None).await?;
    assert_eq!(chain.chosen(), Some("client-secret"));
    assert_eq!(replay.tokens_issued(), 1);
    let token_request = replay
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .ok_or("no token request")?;
    assert!(
        token_request
            .body_text()
            .contains("grant_type=client_credentials")
    );
    assert!(
        token_request
            .body_text()
            .contains("scope=https%3A%2F%2Fmanagement.azure.com%2F.default")
    );
    Ok(())
}
