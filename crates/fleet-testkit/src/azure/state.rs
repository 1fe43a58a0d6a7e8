//! The replay's state machine: routing, recording, faults, paging and long-running operations.
//! The services live in sibling modules (`postgres`, `dns`, `activity`, `keyvault`, `entra`),
//! each adding methods to [`State`].

use super::examples::at;
use super::{
    FaultKind, FaultTarget, OperationOutcome, OperationPlan, RESOURCE_GROUP, RecordedRequest,
    STATUS_API_VERSION, SUBSCRIPTION_ID,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

const CREATE_EXAMPLE: &str = "postgresql/BackupsAutomaticAndOnDemandCreate.json";
pub(super) const FIXTURE_ARM_HOST: &str = "https://management.azure.com";
pub(super) const FIXTURE_VAULT: &str = "https://myvault.vault.azure.net";
const KEY_VAULT_CHALLENGE: &str = "Bearer authorization=\"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000\", resource=\"https://vault.azure.net\"";

/// What the server sends back.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Reply {
    pub(super) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    pub(super) fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(super) fn arm_error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            &json!({"error": {"code": code, "message": message}}),
        )
    }

    pub(super) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// One request, as the services see it.
pub(super) struct Incoming<'a> {
    pub(super) method: &'a str,
    /// The path's segments, empty ones (from `//`) dropped.
    pub(super) segments: Vec<&'a str>,
    /// The same, lower case.
    pub(super) lower: Vec<String>,
    pub(super) query: Option<&'a str>,
    pub(super) headers: &'a [(String, String)],
    pub(super) body: &'a [u8],
}

impl Incoming<'_> {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query, name)
    }
}

/// A queued fault.
pub(super) struct Fault {
    pub(super) target: FaultTarget,
    pub(super) kind: FaultKind,
    pub(super) remaining: u32,
}

/// What a long-running operation does when it succeeds (or, for a restore, fails).
pub(super) enum Effect {
    AddBackup {
        server: String,
        backup: Value,
    },
    RemoveBackup {
        server: String,
        name: String,
    },
    ServerReady {
        server: String,
    },
    UpsertFirewallRule {
        server: String,
        rule: Value,
    },
    RemoveFirewallRule {
        server: String,
        name: String,
    },
    SetConfiguration {
        server: String,
        name: String,
        value: String,
        source: String,
    },
    UpdateServer {
        server: String,
        patch: Value,
    },
}

struct Operation {
    polls_left: u32,
    plan: OperationPlan,
    effect: Option<Effect>,
    status_path: String,
    started: String,
}

/// A DNS zone and its record sets (keyed by `TYPE/name`, lower case).
pub(super) struct DnsZoneState {
    pub(super) zone: Value,
    pub(super) record_sets: BTreeMap<String, Value>,
}

pub(super) struct State {
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) faults: Vec<Fault>,
    pub(super) plan: OperationPlan,
    pub(super) page_size: Option<usize>,
    pub(super) servers: BTreeMap<String, Value>,
    pub(super) backups: BTreeMap<String, Vec<Value>>,
    pub(super) firewall_rules: BTreeMap<String, Vec<Value>>,
    pub(super) configurations: BTreeMap<String, Vec<Value>>,
    pub(super) dns_zones: BTreeMap<String, DnsZoneState>,
    pub(super) activity: BTreeMap<String, Vec<Value>>,
    pub(super) query_results: Vec<(String, Value)>,
    pub(super) secrets: BTreeMap<String, Vec<Value>>,
    pub(super) tokens_issued: u32,
    operations: HashMap<String, Operation>,
    pub(super) counter: u64,
    pub(super) base: String,
}

impl State {
    pub(super) fn seeded() -> Self {
        let mut state = Self {
            requests: Vec::new(),
            faults: Vec::new(),
            plan: OperationPlan::default(),
            page_size: None,
            servers: BTreeMap::new(),
            backups: BTreeMap::new(),
            firewall_rules: BTreeMap::new(),
            configurations: BTreeMap::new(),
            dns_zones: BTreeMap::new(),
            activity: BTreeMap::new(),
            query_results: Vec::new(),
            secrets: BTreeMap::new(),
            tokens_issued: 0,
            operations: HashMap::new(),
            counter: 0,
            base: String::new(),
        };
        state.seed_postgres();
        state.seed_dns();
        state.seed_activity();
        state.seed_secrets();
        state
    }

    pub(super) fn handle(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &[(String, String)],
        body: Vec<u8>,
        base: &str,
    ) -> Reply {
        if self.base.is_empty() {
            self.base = base.to_owned();
            self.rebase_secrets(base);
        }
        let recorded_headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| {
                if n.eq_ignore_ascii_case("authorization") {
                    (n.to_ascii_lowercase(), "Bearer <redacted>".to_owned())
                } else {
                    (n.to_ascii_lowercase(), v.clone())
                }
            })
            .collect();
        let authorized = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("authorization") && v.starts_with("Bearer ") && v.len() > 7
        });
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let incoming = Incoming {
            method,
            lower: segments.iter().map(|s| s.to_ascii_lowercase()).collect(),
            segments,
            query,
            headers,
            body: &body,
        };
        let reply = self.route(path, &incoming, authorized);
        self.requests.push(RecordedRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            headers: recorded_headers,
            body,
            status: reply.status,
        });
        reply
    }

    fn route(&mut self, path: &str, req: &Incoming<'_>, authorized: bool) -> Reply {
        let l: Vec<&str> = req.lower.iter().map(String::as_str).collect();
        // The identity provider takes no bearer token.
        if let [_tenant, "oauth2", "v2.0", "token"] = l.as_slice() {
            return self.entra_token(req);
        }
        let is_vault = l.first() == Some(&"secrets");
        if !authorized {
            return if is_vault {
                Reply::json(
                    401,
                    &json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}),
                )
                .with_header("www-authenticate", KEY_VAULT_CHALLENGE)
            } else {
                Reply::arm_error(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                )
                .with_header("www-authenticate", "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\"")
            };
        }
        if let Some(reply) = self.take_fault(req.method, path) {
            return reply;
        }
        match l.as_slice() {
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.dbforpostgresql",
                "flexibleservers",
                _,
                ..,
            ] => self.postgres(req),
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.network",
                "dnszones",
                _,
                ..,
            ] => self.dns(req),
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.insights",
                "eventtypes",
                "management",
                "values",
            ] => self.activity_log(req),
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.dbforpostgresql",
                "locations",
                _,
                kind @ ("azureasyncoperation" | "operationresults"),
                id,
            ] => {
                if req.query_param("api-version").as_deref() != Some(STATUS_API_VERSION) {
                    return Reply::arm_error(
                        400,
                        "InvalidApiVersionParameter",
                        "The status URL's query was changed; follow it exactly as given.",
                    );
                }
                if req.method != "GET" {
                    return Reply::arm_error(
                        405,
                        "MethodNotAllowed",
                        "status monitors answer GET only",
                    );
                }
                self.poll(*kind == "azureasyncoperation", id)
            }
            ["v1", "workspaces", _, "query"] if req.method == "POST" => {
                self.query(req.body, "monitor-query/oms-post-example.json")
            }
            ["v1", "apps", _, "query"] if req.method == "POST" => {
                self.query(req.body, "monitor-query/query-post.json")
            }
            ["secrets", ..] => {
                if req.query_param("api-version").is_none() {
                    return Reply::arm_error(400, "BadParameter", "api-version is required");
                }
                self.secrets_route(req)
            }
            _ => Reply::arm_error(
                404,
                "NotFound",
                &format!("the replay does not serve {} {path}", req.method),
            ),
        }
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<Reply> {
        let path = path.to_ascii_lowercase();
        let fault = self.faults.iter_mut().find(|f| {
            f.remaining > 0
                && f.target.method.as_deref().is_none_or(|m| m == method)
                && f.target
                    .path_contains
                    .as_deref()
                    .is_none_or(|p| path.contains(p))
        })?;
        fault.remaining -= 1;
        let reply = match &fault.kind {
            FaultKind::Throttle { retry_after_secs } => Reply::arm_error(
                429,
                "TooManyRequests",
                "The request is being throttled; retry after the interval in Retry-After.",
            )
            .with_header("retry-after", retry_after_secs.to_string()),
            FaultKind::Status { status, code } => {
                Reply::arm_error(*status, code, "Injected by AzureReplay.")
            }
            FaultKind::Unauthorized => Reply::arm_error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            )
            .with_header("www-authenticate", "Bearer error=\"invalid_token\""),
            FaultKind::Forbidden => Reply::arm_error(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform this action.",
            ),
            FaultKind::MalformedBody => Reply {
                status: 200,
                headers: Vec::new(),
                body: b"{\"value\": [{\"name\": \"trunc".to_vec(),
            },
            FaultKind::RetryAfter { status, value } => Reply::arm_error(
                *status,
                if *status == 429 {
                    "TooManyRequests"
                } else {
                    "ServiceUnavailable"
                },
                "Injected by AzureReplay.",
            )
            .with_header("retry-after", value.clone()),
            FaultKind::LargeBody { bytes, gzip } => large_body(*bytes, *gzip),
        };
        self.faults.retain(|f| f.remaining > 0);
        Some(reply)
    }

    /// One page of `items`: from the `$skiptoken` offset, `page_size` long, with a `nextLink`
    /// built by `next_link(offset)` when more remain.
    pub(super) fn page(
        &self,
        items: Vec<Value>,
        req: &Incoming<'_>,
        next_link: impl Fn(usize) -> String,
    ) -> Reply {
        let offset = req
            .query_param("$skiptoken")
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(0);
        let size = self.page_size.unwrap_or(usize::MAX);
        let end = offset.saturating_add(size).min(items.len());
        let slice: Vec<Value> = items
            .get(offset..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let mut body = json!({ "value": slice });
        if end < items.len() {
            body["nextLink"] = json!(next_link(end));
        }
        Reply::json(200, &body)
    }

    // ---- long-running operations ----

    pub(super) fn start_operation(&mut self, effect: Effect) -> Reply {
        self.counter += 1;
        let id = format!("{:08x}-0000-4000-8000-{:012x}", self.counter, self.counter);
        let async_url = at(
            CREATE_EXAMPLE,
            "/responses/202/headers/Azure-AsyncOperation",
        );
        let location_url = at(CREATE_EXAMPLE, "/responses/202/headers/Location");
        let rewrite = |template: &Value, fixture_id: &str| {
            template
                .as_str()
                .unwrap_or_default()
                .replace(FIXTURE_ARM_HOST, &self.base)
                .replace(fixture_id, &id)
        };
        let async_url = rewrite(&async_url, "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
        let location_url = rewrite(&location_url, "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb");
        let plan = self.plan.clone();
        let status_path = async_url
            .strip_prefix(&self.base)
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.operations.insert(
            id,
            Operation {
                polls_left: plan.in_progress_polls,
                plan: plan.clone(),
                effect: Some(effect),
                status_path,
                started: rfc3339_now(),
            },
        );
        let mut reply = Reply::empty(202)
            .with_header("azure-asyncoperation", async_url)
            .with_header("location", location_url);
        if let Some(secs) = plan.retry_after_secs {
            reply = reply.with_header("retry-after", secs.to_string());
        }
        reply
    }

    fn poll(&mut self, via_async_header: bool, id: &str) -> Reply {
        let base = self.base.clone();
        let Some(op) = self.operations.get_mut(id) else {
            return not_found("operation", id);
        };
        let retry_after = op.plan.retry_after_secs;
        let finished = op.polls_left == 0 && op.plan.outcome != OperationOutcome::Never;
        if !finished {
            op.polls_left = op.polls_left.saturating_sub(1);
            let total = op.plan.in_progress_polls.max(1);
            let percent =
                100.0 * f64::from(total - op.polls_left.min(total)) / f64::from(total + 1);
            let monitor_base = op.plan.relocate_monitor_to.clone().unwrap_or(base);
            let mut reply = if via_async_header {
                let mut reply = Reply::json(
                    200,
                    &json!({
                        "id": op.status_path,
                        "name": id,
                        "status": "InProgress",
                        "startTime": op.started,
                        "percentComplete": percent,
                    }),
                );
                if op.plan.relocate_monitor_to.is_some() {
                    reply = reply.with_header(
                        "azure-asyncoperation",
                        format!(
                            "{monitor_base}{}?api-version={STATUS_API_VERSION}",
                            op.status_path
                        ),
                    );
                }
                reply
            } else {
                let location = format!(
                    "{monitor_base}{}?api-version={STATUS_API_VERSION}",
                    op.status_path
                        .replace("azureAsyncOperation", "operationResults")
                );
                Reply::empty(202).with_header("location", location)
            };
            if let Some(secs) = retry_after {
                reply = reply.with_header("retry-after", secs.to_string());
            }
            return reply;
        }
        let outcome = op.plan.outcome.clone();
        let started = op.started.clone();
        let status_path = op.status_path.clone();
        let effect = op.effect.take();
        if let Some(effect) = effect {
            self.apply(effect, outcome == OperationOutcome::Succeeded);
        }
        match (&outcome, via_async_header) {
            (OperationOutcome::Succeeded, true) => {
                let mut body = at(
                    "arm-lro/Long_running_operation_status_succeeded.json",
                    "/responses/200/body",
                );
                body["name"] = json!(id);
                body["id"] = json!(status_path);
                body["startTime"] = json!(started);
                body["endTime"] = json!(rfc3339_now());
                Reply::json(200, &body)
            }
            (OperationOutcome::Succeeded, false) => Reply::empty(200),
            (OperationOutcome::Failed { code, message }, true) => {
                let mut body = at("arm-lro/OperationResults_Get.json", "/responses/200/body");
                body["name"] = json!(id);
                body["id"] = json!(status_path);
                body["startTime"] = json!(started);
                body["endTime"] = json!(rfc3339_now());
                body["error"] = json!({"code": code, "message": message});
                Reply::json(200, &body)
            }
            (OperationOutcome::Failed { code, message }, false) => {
                Reply::arm_error(400, code, message)
            }
            (OperationOutcome::Canceled | OperationOutcome::Never, true) => {
                let mut body = at(
                    "arm-lro/Long_running_operation_status_succeeded.json",
                    "/responses/200/body",
                );
                body["name"] = json!(id);
                body["status"] = json!("Canceled");
                body["percentComplete"] = json!(0.0);
                body["startTime"] = json!(started);
                body["endTime"] = json!(rfc3339_now());
                Reply::json(200, &body)
            }
            (OperationOutcome::Canceled | OperationOutcome::Never, false) => {
                Reply::arm_error(400, "OperationCanceled", "The operation was canceled.")
            }
        }
    }

    fn apply(&mut self, effect: Effect, succeeded: bool) {
        match effect {
            Effect::ServerReady { server } => {
                if succeeded {
                    if let Some(s) = self.servers.get_mut(&server) {
                        s["properties"]["state"] = json!("Ready");
                    }
                } else {
                    self.servers.remove(&server);
                }
            }
            other if succeeded => self.apply_postgres(other),
            _ => {}
        }
    }

    // ---- Log Analytics / Application Insights ----

    fn query(&mut self, body: &[u8], example: &str) -> Reply {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(kql) = request.get("query").and_then(Value::as_str) else {
            return Reply::json(
                400,
                &json!({"error": {"code": "BadArgumentError", "message": "The request had some invalid properties", "details": [{"code": "QueryValidationError", "message": "'query' is required"}]}}),
            );
        };
        if let Some((_, result)) = self
            .query_results
            .iter()
            .find(|(needle, _)| kql.contains(needle.as_str()))
        {
            return Reply::json(200, result);
        }
        Reply::json(200, &at(example, "/responses/200/body"))
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// A `200` body of about `bytes` bytes of JSON, optionally gzip-compressed.
fn large_body(bytes: usize, gzip: bool) -> Reply {
    let mut body = Vec::with_capacity(bytes.saturating_add(32));
    body.extend_from_slice(b"{\"value\":[],\"padding\":\"");
    body.resize(bytes.saturating_sub(2).max(body.len()), b'x');
    body.extend_from_slice(b"\"}");
    if !gzip {
        return Reply {
            status: 200,
            headers: Vec::new(),
            body,
        };
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let compressed = encoder
        .write_all(&body)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    Reply {
        status: 200,
        headers: vec![("content-encoding".to_owned(), "gzip".to_owned())],
        body: compressed,
    }
}

pub(super) fn renamed_server(template: &Value, name: &str) -> Value {
    let mut server = template.clone();
    let id = template["id"].as_str().unwrap_or_default();
    let prefix = id.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
    server["id"] = json!(format!("{prefix}/{name}"));
    server["name"] = json!(name);
    server["properties"]["fullyQualifiedDomainName"] =
        json!(format!("{name}.postgres.database.azure.com"));
    server
}

pub(super) fn not_found(kind: &str, name: &str) -> Reply {
    Reply::arm_error(
        404,
        "ResourceNotFound",
        &format!("The Resource '{kind}/{name}' was not found."),
    )
}

/// The value of query parameter `name`, percent- and plus-decoded.
pub(super) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let query = query?;
    azure_core::http::Url::parse(&format!("https://x/?{query}"))
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Now as RFC 3339 UTC with seconds (`2026-01-02T03:04:05Z`).
pub(super) fn rfc3339_now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

/// The default subscription and group of the PostgreSQL examples, lower case.
pub(super) fn is_example_scope(subscription: &str, group: &str) -> bool {
    subscription.eq_ignore_ascii_case(SUBSCRIPTION_ID) && group.eq_ignore_ascii_case(RESOURCE_GROUP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_bodies_have_their_size_and_compress() {
        let plain = large_body(10_000, false);
        assert_eq!(plain.body.len(), 10_000);
        assert!(serde_json::from_slice::<Value>(&plain.body).is_ok());
        let gz = large_body(1_000_000, true);
        assert!(gz.body.len() < 20_000, "{}", gz.body.len());
    }

    #[test]
    fn now_has_whole_seconds() {
        let now = rfc3339_now();
        assert!(now.ends_with('Z') && !now.contains('.'), "{now}");
    }
}
