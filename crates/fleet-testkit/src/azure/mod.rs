//! `AzureReplay`: Azure's REST surface for the fleet runbook, served over local HTTPS from
//! Microsoft's official REST examples.
//!
//! The server listens on `127.0.0.1` with a certificate generated for each run. Only the client
//! returned by [`AzureReplay::http_client`] trusts it, and azure_core's bearer-token policy
//! refuses plain HTTP, so the whole authenticated path runs as it would against Azure.
//!
//! What it serves (one host stands in for every Azure endpoint, so point the client's
//! management, Log Analytics, Application Insights and Key Vault endpoints at
//! [`AzureReplay::base_url`]):
//! - ARM `Microsoft.DBforPostgreSQL/flexibleServers` (api-version `2025-08-01`): get and
//!   update (`PATCH`) a server, point-in-time restore into a new server, list/get/create/delete
//!   backups and firewall rules, get and update server parameters. Seeded from the examples
//!   `ServersGet.json`, `BackupsAutomaticAndOnDemandListByServer.json`,
//!   `FirewallRulesListByServer.json`, `FirewallRulesGet.json` and `ConfigurationsGet.json`; a
//!   second server `examplesourceserver` (the source named in
//!   `ServersCreatePointInTimeRestore.json`) is a copy of `exampleserver`, and the parameter
//!   `constraint_exclusion` (the update examples' target) is derived from `array_nulls`.
//! - ARM `Microsoft.Network/dnsZones` (api-version `2018-05-01`): get the zone, get, put and
//!   delete `A` and `CNAME` record sets with `If-Match` / `If-None-Match: *` (a failed
//!   precondition answers 412, which the spec does not document), seeded from `GetZone.json`,
//!   `GetARecordset.json` and `GetCNAMERecordset.json` under the examples' `subid`/`rg1`.
//! - The activity log (`Microsoft.Insights/eventtypes/management/values`, api-version
//!   `2015-04-01`) with the API's one `$filter` grammar checked strictly (a bad filter answers
//!   400 with the activity log's top-level `{code, message}`), seeded from
//!   `GetActivityLogsFiltered.json`.
//! - An Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`) for client-secret and
//!   client-assertion credentials, so a real credential chain runs against the replay.
//! - Long-running operations in ARM's shape: `202` with `Azure-AsyncOperation`, `Location` and
//!   `Retry-After`; the status URLs have the examples' path and query (including their
//!   `api-version=2025-06-01-preview`, which a client must keep verbatim). Each operation
//!   answers `InProgress` for [`OperationPlan::in_progress_polls`] polls, then ends as planned.
//! - Log Analytics `POST /v1/workspaces/{id}/query` and Application Insights
//!   `POST /v1/apps/{id}/query`, answering with the examples' tables unless a test registered
//!   a result with [`AzureReplay::set_query_result`].
//! - Key Vault secrets: `PUT /secrets/{name}`, `GET /secrets/{name}[/{version}]`,
//!   `GET /secrets/{name}/versions`, `PATCH /secrets/{name}/{version}` (a disabled version
//!   answers 403 `SecretDisabled` when read, which no example shows), with the vault's
//!   challenge-based authentication (the first request without a token gets `401` and
//!   `WWW-Authenticate`). Seeded with the example secrets.
//!
//! Lists page when [`AzureReplay::set_page_size`] asks for it, with `nextLink`s shaped like the
//! examples' (a preview api-version, `$skiptoken`, and for PostgreSQL the examples' `//`).
//! Faults are injected per path with [`AzureReplay::inject`]: throttling with `Retry-After`,
//! arbitrary `Retry-After` values, 5xx bursts, 401, 403, arbitrary status codes, malformed
//! JSON bodies and large (optionally gzip-compressed) bodies; [`OperationPlan`] can also move a
//! long-running operation's monitor to another host. Every request is recorded
//! ([`AzureReplay::requests`]) with the `Authorization` value redacted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fleet_testkit::azure::{AzureReplay, OperationOutcome, OperationPlan};
//! let replay = AzureReplay::start().await?;
//! replay.set_operation_plan(OperationPlan {
//!     in_progress_polls: 3,
//!     outcome: OperationOutcome::Succeeded,
//!     retry_after_secs: Some(0),
//!     ..OperationPlan::default()
//! });
//! let transport = replay.transport();
//! let credential = replay.credential();
//! # let _ = (transport, credential);
//! # Ok(()) }
//! ```

mod activity;
mod credential;
mod dns;
mod entra;
mod examples;
mod keyvault;
mod postgres;
mod server;
mod state;

pub use credential::ReplayCredential;
pub use examples::example;

use azure_core::http::{HttpClient, Transport};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::task::JoinHandle;

/// The subscription id used by every example.
pub const SUBSCRIPTION_ID: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";
/// The resource group used by every example.
pub const RESOURCE_GROUP: &str = "exampleresourcegroup";
/// The server of `ServersGet.json` and the backup examples.
pub const SERVER: &str = "exampleserver";
/// The source server named in `ServersCreatePointInTimeRestore.json`.
pub const SOURCE_SERVER: &str = "examplesourceserver";
/// The ARM api-version the replay accepts for PostgreSQL flexible-server resources.
pub const ARM_API_VERSION: &str = "2025-08-01";
/// The api-version carried by the examples' status-monitor URLs and `nextLink`s.
pub const STATUS_API_VERSION: &str = "2025-06-01-preview";
/// The ARM api-version the replay accepts for DNS zones.
pub const DNS_API_VERSION: &str = "2018-05-01";
/// The subscription of the DNS examples.
pub const DNS_SUBSCRIPTION_ID: &str = "subid";
/// The resource group of the DNS examples.
pub const DNS_RESOURCE_GROUP: &str = "rg1";
/// The zone of the DNS examples.
pub const DNS_ZONE: &str = "zone1";
/// The ARM api-version the replay accepts for the activity log.
pub const ACTIVITY_LOG_API_VERSION: &str = "2015-04-01";
/// The subscription of the activity-log example.
pub const ACTIVITY_SUBSCRIPTION_ID: &str = "089bd33f-d4ec-47fe-8ba5-0753aa5c5b33";

/// How the next long-running operations behave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationPlan {
    /// How many status polls answer `InProgress` before the outcome.
    pub in_progress_polls: u32,
    /// How the operation ends.
    pub outcome: OperationOutcome,
    /// `Retry-After` seconds sent on the `202` and on in-progress polls; `None` sends none.
    pub retry_after_secs: Option<u32>,
    /// When set (a base URL such as `https://elsewhere.example`), in-progress polls name a new
    /// monitor URL on that host (`Azure-AsyncOperation` or `Location`, as polled), which a
    /// client must refuse to follow with its token.
    pub relocate_monitor_to: Option<String>,
}

impl Default for OperationPlan {
    fn default() -> Self {
        Self {
            in_progress_polls: 2,
            outcome: OperationOutcome::Succeeded,
            retry_after_secs: Some(0),
            relocate_monitor_to: None,
        }
    }
}

/// The end state of a planned long-running operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationOutcome {
    /// `status: Succeeded`; the operation's effect is applied.
    Succeeded,
    /// `status: Failed` with this ARM error code and message; nothing is applied.
    Failed {
        /// ARM error code, e.g. `AggregateException`.
        code: String,
        /// ARM error message.
        message: String,
    },
    /// `status: Canceled`; nothing is applied.
    Canceled,
    /// Never finishes: every poll answers `InProgress`.
    Never,
}

/// A fault served instead of the normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `429` with `Retry-After: secs` and an ARM `TooManyRequests` error body.
    Throttle {
        /// Seconds in `Retry-After`.
        retry_after_secs: u32,
    },
    /// A 5xx (or any) status with an ARM error body `{"error":{"code","message"}}`.
    Status {
        /// HTTP status.
        status: u16,
        /// ARM error code.
        code: String,
    },
    /// `401` with `AuthenticationFailed` (and a `WWW-Authenticate` header).
    Unauthorized,
    /// `403` with `AuthorizationFailed`.
    Forbidden,
    /// `200` with a truncated JSON body.
    MalformedBody,
    /// `status` (429 or 503 to be retried) with this exact `Retry-After` value.
    RetryAfter {
        /// HTTP status.
        status: u16,
        /// The header value, as sent (seconds, an HTTP date, or garbage).
        value: String,
    },
    /// `200` with a JSON body of about `bytes` bytes, gzip-compressed (with
    /// `Content-Encoding: gzip`) when `gzip` is set.
    LargeBody {
        /// Uncompressed size.
        bytes: usize,
        /// Compress it.
        gzip: bool,
    },
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultTarget {
    /// Only this method (upper case) when set.
    pub method: Option<String>,
    /// Only paths containing this text (case-insensitive) when set.
    pub path_contains: Option<String>,
}

impl FaultTarget {
    /// Every request.
    pub fn any() -> Self {
        Self {
            method: None,
            path_contains: None,
        }
    }

    /// Requests whose path contains `text` (case-insensitive).
    pub fn path(text: &str) -> Self {
        Self {
            method: None,
            path_contains: Some(text.to_ascii_lowercase()),
        }
    }

    /// Requests with `method` whose path contains `text`.
    pub fn method_path(method: &str, text: &str) -> Self {
        Self {
            method: Some(method.to_ascii_uppercase()),
            path_contains: Some(text.to_ascii_lowercase()),
        }
    }
}

/// One request as the replay received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path, as sent.
    pub path: String,
    /// Raw query string, as sent.
    pub query: Option<String>,
    /// Headers, names lower case; `authorization` values are redacted to `Bearer <redacted>`.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// The status the replay answered with.
    pub status: u16,
}

impl RecordedRequest {
    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        azure_core::http::Url::parse(&format!("https://x/?{query}"))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Errors starting the replay.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "starting AzureReplay: {}", self.0)
    }
}

impl std::error::Error for StartError {}

/// A running replay server; it stops when dropped.
pub struct AzureReplay {
    base_url: String,
    ca_pem: String,
    state: Arc<Mutex<state::State>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for AzureReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureReplay")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AzureReplay {
    /// Generates a certificate for `127.0.0.1`, binds an ephemeral port and starts serving on
    /// the current tokio runtime.
    pub async fn start() -> Result<Self, StartError> {
        let state = Arc::new(Mutex::new(state::State::seeded()));
        let (base_url, ca_pem, task) = server::spawn(Arc::clone(&state)).await?;
        Ok(Self {
            base_url,
            ca_pem,
            state,
            task,
        })
    }

    /// `https://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The server certificate (PEM); trust it to talk to the replay with your own client.
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A `reqwest` client that trusts only this replay's certificate and never follows
    /// redirects (like azure_core's default client).
    pub fn http_client(&self) -> Arc<dyn HttpClient> {
        // The PEM was produced by rcgen in `start` and the builder options are static, so a
        // failure here is a bug in this module, not a condition a test can cause.
        #[allow(clippy::expect_used)]
        let client = reqwest::Client::builder()
            .gzip(true)
            .tls_certs_only(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes())
                    .into_iter()
                    .collect::<Vec<_>>(),
            )
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("a reqwest client with one root certificate builds");
        Arc::new(client)
    }

    /// [`Self::http_client`] wrapped as an azure_core transport.
    pub fn transport(&self) -> Transport {
        Transport::new(self.http_client())
    }

    /// A stand-in credential whose tokens this replay accepts.
    pub fn credential(&self) -> Arc<ReplayCredential> {
        Arc::new(ReplayCredential::new())
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Sets how long-running operations started from now on behave.
    pub fn set_operation_plan(&self, plan: OperationPlan) {
        self.lock().plan = plan;
    }

    /// Serves `kind` instead of the normal answer for the next `times` authenticated requests
    /// matching `target`. Faults queue in the order injected.
    pub fn inject(&self, target: FaultTarget, kind: FaultKind, times: u32) {
        self.lock().faults.push(state::Fault {
            target,
            kind,
            remaining: times,
        });
    }

    /// Answers queries whose KQL contains `needle` with `body`
    /// (`{"tables":[{"name","columns","rows"}]}`) instead of the example's result.
    pub fn set_query_result(&self, needle: &str, body: serde_json::Value) {
        self.lock().query_results.push((needle.to_owned(), body));
    }

    /// Lists answer at most `size` items per page (with a `nextLink`); `None` (the default)
    /// answers whole lists.
    pub fn set_page_size(&self, size: Option<usize>) {
        self.lock().page_size = size.filter(|s| *s > 0);
    }

    /// The current JSON of a server the replay knows (`None` when it does not exist).
    pub fn server(&self, name: &str) -> Option<serde_json::Value> {
        self.lock().servers.get(&name.to_ascii_lowercase()).cloned()
    }

    /// Names of the backups the replay holds for `server`.
    pub fn backup_names(&self, server: &str) -> Vec<String> {
        self.lock()
            .backups
            .get(&server.to_ascii_lowercase())
            .map(|list| names(list))
            .unwrap_or_default()
    }

    /// Names of the firewall rules of `server`.
    pub fn firewall_rule_names(&self, server: &str) -> Vec<String> {
        self.lock()
            .firewall_rules
            .get(&server.to_ascii_lowercase())
            .map(|list| names(list))
            .unwrap_or_default()
    }

    /// The current JSON of server parameter `name` of `server`.
    pub fn configuration(&self, server: &str, name: &str) -> Option<serde_json::Value> {
        self.lock()
            .configurations
            .get(&server.to_ascii_lowercase())
            .and_then(|list| find_named(list, name))
    }

    /// The current JSON of record set `record_type`/`name` in a DNS zone.
    pub fn dns_record_set(
        &self,
        subscription_id: &str,
        resource_group: &str,
        zone: &str,
        record_type: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        self.lock()
            .dns_zones
            .get(&dns::zone_key(subscription_id, resource_group, zone))
            .and_then(|z| {
                z.record_sets
                    .get(&dns::record_key(record_type, name))
                    .cloned()
            })
    }

    /// Adds an activity-log event (`EventData` JSON) to `subscription_id`.
    pub fn add_activity_event(&self, subscription_id: &str, event: serde_json::Value) {
        self.lock()
            .activity
            .entry(subscription_id.to_ascii_lowercase())
            .or_default()
            .push(event);
    }

    /// The stored versions of Key Vault secret `name` (bundles with values), oldest first.
    pub fn secret_versions(&self, name: &str) -> Vec<serde_json::Value> {
        self.lock().secrets.get(name).cloned().unwrap_or_default()
    }

    /// How many tokens the replay's Entra ID endpoint issued.
    pub fn tokens_issued(&self) -> u32 {
        self.lock().tokens_issued
    }

    /// Adds a backup record to `server` (for tests of naming collisions and listings).
    pub fn add_backup(&self, server: &str, backup: serde_json::Value) {
        self.lock()
            .backups
            .entry(server.to_ascii_lowercase())
            .or_default()
            .push(backup);
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        // A panic while holding the lock can only come from a bug in this module; recover the
        // data rather than poisoning every later test step.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn names(list: &[serde_json::Value]) -> Vec<String> {
    list.iter()
        .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .collect()
}

fn find_named(list: &[serde_json::Value], name: &str) -> Option<serde_json::Value> {
    list.iter()
        .find(|v| {
            v.get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .cloned()
}

impl Drop for AzureReplay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
