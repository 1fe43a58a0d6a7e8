//! The replay's state machine: routing, seeded resources, long-running operations, faults.

use super::examples::at;
use super::{
    ARM_API_VERSION, FaultKind, FaultTarget, OperationOutcome, OperationPlan, RESOURCE_GROUP,
    RecordedRequest, SERVER, SOURCE_SERVER, STATUS_API_VERSION, SUBSCRIPTION_ID,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

const PG_PROVIDER: &str = "microsoft.dbforpostgresql";
const CREATE_EXAMPLE: &str = "postgresql/BackupsAutomaticAndOnDemandCreate.json";
const FIXTURE_ARM_HOST: &str = "https://management.azure.com";
const FIXTURE_VAULT: &str = "https://myvault.vault.azure.net";
const KEY_VAULT_CHALLENGE: &str = "Bearer authorization=\"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000\", resource=\"https://vault.azure.net\"";

/// What the server sends back.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn arm_error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            &json!({"error": {"code": code, "message": message}}),
        )
    }

    fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// A queued fault.
pub(super) struct Fault {
    pub(super) target: FaultTarget,
    pub(super) kind: FaultKind,
    pub(super) remaining: u32,
}

enum Effect {
    AddBackup { server: String, backup: Value },
    RemoveBackup { server: String, name: String },
    ServerReady { server: String },
}

struct Operation {
    polls_left: u32,
    plan: OperationPlan,
    effect: Option<Effect>,
    status_path: String,
    started: String,
}

pub(super) struct State {
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) faults: Vec<Fault>,
    pub(super) plan: OperationPlan,
    pub(super) servers: BTreeMap<String, Value>,
    pub(super) backups: BTreeMap<String, Vec<Value>>,
    pub(super) query_results: Vec<(String, Value)>,
    secrets: BTreeMap<String, Vec<Value>>,
    operations: HashMap<String, Operation>,
    counter: u64,
    base: String,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl State {
    pub(super) fn seeded() -> Self {
        let mut servers = BTreeMap::new();
        let server = at("postgresql/ServersGet.json", "/responses/200/body");
        let source = renamed_server(&server, SOURCE_SERVER);
        servers.insert(SERVER.to_owned(), server);
        servers.insert(SOURCE_SERVER.to_owned(), source);
        let mut backups = BTreeMap::new();
        let listed = at(
            "postgresql/BackupsAutomaticAndOnDemandListByServer.json",
            "/responses/200/body/value",
        );
        backups.insert(
            SERVER.to_owned(),
            listed.as_array().cloned().unwrap_or_default(),
        );
        let mut secrets = BTreeMap::new();
        for (file, name) in [
            ("keyvault/GetSecret-example.json", "mysecretname"),
            ("keyvault/SetSecret-example.json", "crpsecret"),
        ] {
            secrets.insert(name.to_owned(), vec![at(file, "/responses/200/body")]);
        }
        Self {
            requests: Vec::new(),
            faults: Vec::new(),
            plan: OperationPlan::default(),
            servers,
            backups,
            query_results: Vec::new(),
            secrets,
            operations: HashMap::new(),
            counter: 0,
            base: String::new(),
        }
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
            // The seeded secrets carry the example vault's URL; make their ids point here.
            for versions in self.secrets.values_mut() {
                for bundle in versions.iter_mut() {
                    if let Some(id) = bundle.get("id").and_then(Value::as_str) {
                        let id = id.replace(FIXTURE_VAULT, base);
                        bundle["id"] = Value::String(id);
                    }
                }
            }
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
        let reply = self.route(method, path, query, authorized, &body);
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

    fn route(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        authorized: bool,
        body: &[u8],
    ) -> Reply {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
        let is_vault = lower.first().map(String::as_str) == Some("secrets");
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
        if let Some(reply) = self.take_fault(method, path) {
            return reply;
        }
        let api_version = query_param(query, "api-version");
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        match l.as_slice() {
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                PG_PROVIDER,
                "flexibleservers",
                ..,
            ] => {
                if api_version.as_deref() != Some(ARM_API_VERSION) {
                    return Reply::arm_error(
                        400,
                        "InvalidApiVersionParameter",
                        &format!(
                            "The api-version '{}' is invalid; this replay serves '{ARM_API_VERSION}'.",
                            api_version.unwrap_or_default()
                        ),
                    );
                }
                if !l[1].eq_ignore_ascii_case(SUBSCRIPTION_ID)
                    || !l[3].eq_ignore_ascii_case(RESOURCE_GROUP)
                {
                    return Reply::arm_error(
                        404,
                        "ResourceGroupNotFound",
                        &format!("Resource group '{}' could not be found.", segments[3]),
                    );
                }
                self.flexible_servers(method, &segments, body)
            }
            [
                "subscriptions",
                _,
                "providers",
                PG_PROVIDER,
                "locations",
                _,
                kind @ ("azureasyncoperation" | "operationresults"),
                id,
            ] => {
                if api_version.as_deref() != Some(STATUS_API_VERSION) {
                    return Reply::arm_error(
                        400,
                        "InvalidApiVersionParameter",
                        "The status URL's query was changed; follow it exactly as given.",
                    );
                }
                if method != "GET" {
                    return Reply::arm_error(
                        405,
                        "MethodNotAllowed",
                        "status monitors answer GET only",
                    );
                }
                self.poll(kind == &"azureasyncoperation", id)
            }
            ["v1", "workspaces", _, "query"] if method == "POST" => {
                self.query(body, "monitor-query/oms-post-example.json")
            }
            ["v1", "apps", _, "query"] if method == "POST" => {
                self.query(body, "monitor-query/query-post.json")
            }
            ["secrets", ..] => {
                if api_version.is_none() {
                    return Reply::arm_error(400, "BadParameter", "api-version is required");
                }
                self.secrets(method, &segments[1..], body)
            }
            _ => Reply::arm_error(
                404,
                "NotFound",
                &format!("the replay does not serve {method} {path}"),
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
        };
        self.faults.retain(|f| f.remaining > 0);
        Some(reply)
    }

    // ---- ARM: flexible servers and backups ----

    fn flexible_servers(&mut self, method: &str, segments: &[&str], body: &[u8]) -> Reply {
        let server = segments[7].to_ascii_lowercase();
        match (method, &segments[8..]) {
            ("GET", []) => match self.servers.get(&server) {
                Some(s) => Reply::json(200, s),
                None => not_found("Microsoft.DBforPostgreSQL/flexibleServers", segments[7]),
            },
            ("PUT", []) => self.restore(segments[7], body),
            ("GET", [b]) if b.eq_ignore_ascii_case("backups") => {
                if !self.servers.contains_key(&server) {
                    return not_found("Microsoft.DBforPostgreSQL/flexibleServers", segments[7]);
                }
                let list = self.backups.get(&server).cloned().unwrap_or_default();
                Reply::json(200, &json!({ "value": list }))
            }
            (_, [b, name]) if b.eq_ignore_ascii_case("backups") => {
                self.backup(method, &server, segments, name)
            }
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }

    fn backup(&mut self, method: &str, server: &str, segments: &[&str], name: &str) -> Reply {
        if !self.servers.contains_key(server) {
            return not_found("Microsoft.DBforPostgreSQL/flexibleServers", segments[7]);
        }
        let existing = self
            .backups
            .get(server)
            .and_then(|l| {
                l.iter()
                    .find(|b| b.get("name").and_then(Value::as_str) == Some(name))
            })
            .cloned();
        match (method, existing) {
            ("GET", Some(b)) => Reply::json(200, &b),
            ("GET", None) => not_found("Microsoft.DBforPostgreSQL/flexibleServers/backups", name),
            ("PUT", Some(_)) => Reply::arm_error(
                409,
                "BackupAlreadyExists",
                &format!("A backup named '{name}' already exists."),
            ),
            ("PUT", None) => {
                let id = format!("/{}", segments[..8].join("/")) + &format!("/backups/{name}");
                let backup = json!({
                    "name": name,
                    "type": "Microsoft.DBforPostgreSQL/flexibleServers/backups",
                    "id": id,
                    "properties": {
                        "backupType": "Customer On-Demand",
                        "completedTime": rfc3339_now(),
                        "source": "Customer Initiated"
                    }
                });
                self.start_operation(Effect::AddBackup {
                    server: server.to_owned(),
                    backup,
                })
            }
            ("DELETE", Some(_)) => self.start_operation(Effect::RemoveBackup {
                server: server.to_owned(),
                name: name.to_owned(),
            }),
            ("DELETE", None) => Reply::empty(204),
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }

    fn restore(&mut self, target: &str, body: &[u8]) -> Reply {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return Reply::arm_error(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized.",
            );
        };
        let props = &request["properties"];
        if props["createMode"].as_str() != Some("PointInTimeRestore") {
            return Reply::arm_error(
                400,
                "UnsupportedCreateMode",
                "The replay serves createMode PointInTimeRestore only.",
            );
        }
        let Some(source_id) = props["sourceServerResourceId"].as_str() else {
            return Reply::arm_error(
                400,
                "MissingSourceServerResourceId",
                "sourceServerResourceId is required for PointInTimeRestore.",
            );
        };
        if props["pointInTimeUTC"].as_str().is_none() {
            return Reply::arm_error(
                400,
                "MissingPointInTimeUTC",
                "pointInTimeUTC is required for PointInTimeRestore.",
            );
        }
        let source_name = source_id
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let Some(source) = self.servers.get(&source_name).cloned() else {
            return Reply::arm_error(
                404,
                "SourceServerNotFound",
                &format!("The source server '{source_id}' was not found."),
            );
        };
        let key = target.to_ascii_lowercase();
        if self.servers.contains_key(&key) {
            return Reply::arm_error(
                409,
                "ServerAlreadyExists",
                &format!("Server '{target}' already exists."),
            );
        }
        let mut server = renamed_server(&source, target);
        server["properties"]["state"] = json!("Provisioning");
        if let Some(location) = request["location"].as_str() {
            server["location"] = json!(location);
        }
        self.servers.insert(key.clone(), server);
        self.start_operation(Effect::ServerReady { server: key })
    }

    fn start_operation(&mut self, effect: Effect) -> Reply {
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
            let mut reply = if via_async_header {
                Reply::json(
                    200,
                    &json!({
                        "id": op.status_path,
                        "name": id,
                        "status": "InProgress",
                        "startTime": op.started,
                        "percentComplete": percent,
                    }),
                )
            } else {
                let location = format!(
                    "{}{}?api-version={STATUS_API_VERSION}",
                    self.base,
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
            Effect::AddBackup { server, backup } if succeeded => {
                self.backups.entry(server).or_default().push(backup);
            }
            Effect::RemoveBackup { server, name } if succeeded => {
                if let Some(list) = self.backups.get_mut(&server) {
                    list.retain(|b| b.get("name").and_then(Value::as_str) != Some(name.as_str()));
                }
            }
            Effect::ServerReady { server } => {
                if succeeded {
                    if let Some(s) = self.servers.get_mut(&server) {
                        s["properties"]["state"] = json!("Ready");
                    }
                } else {
                    self.servers.remove(&server);
                }
            }
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

    // ---- Key Vault ----

    fn secrets(&mut self, method: &str, rest: &[&str], body: &[u8]) -> Reply {
        match (method, rest) {
            ("PUT", [name]) => self.set_secret(name, body),
            ("GET", [name]) => match self.secrets.get(*name).and_then(|v| v.last()) {
                Some(bundle) => Reply::json(200, bundle),
                None => secret_not_found(name),
            },
            ("GET", [name, versions]) if *versions == "versions" => match self.secrets.get(*name) {
                Some(list) => {
                    let value: Vec<Value> = list
                        .iter()
                        .map(|b| {
                            let mut item = b.clone();
                            if let Some(map) = item.as_object_mut() {
                                map.remove("value");
                            }
                            item
                        })
                        .collect();
                    Reply::json(200, &json!({ "value": value, "nextLink": null }))
                }
                None => secret_not_found(name),
            },
            ("GET", [name, version]) => {
                let found = self.secrets.get(*name).and_then(|list| {
                    list.iter().find(|b| {
                        b.get("id")
                            .and_then(Value::as_str)
                            .is_some_and(|id| id.ends_with(&format!("/{version}")))
                    })
                });
                match found {
                    Some(bundle) => Reply::json(200, bundle),
                    None => secret_not_found(name),
                }
            }
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }

    fn set_secret(&mut self, name: &str, body: &[u8]) -> Reply {
        if name.is_empty()
            || name.len() > 127
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Reply::arm_error(400, "BadParameter", "The secret name is invalid.");
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return Reply::arm_error(400, "BadParameter", "The request body is not valid JSON.");
        };
        let Some(value) = request.get("value").and_then(Value::as_str) else {
            return Reply::arm_error(400, "BadParameter", "Property 'value' is required.");
        };
        self.counter += 1;
        let version = format!("{:016x}{:016x}", self.counter, now_unix());
        let now = now_unix();
        let mut bundle = at("keyvault/SetSecret-example.json", "/responses/200/body");
        bundle["value"] = json!(value);
        bundle["id"] = json!(format!("{}/secrets/{name}/{version}", self.base));
        bundle["attributes"]["created"] = json!(now);
        bundle["attributes"]["updated"] = json!(now);
        if let Some(ct) = request.get("contentType") {
            bundle["contentType"] = ct.clone();
        }
        if let Some(tags) = request.get("tags") {
            bundle["tags"] = tags.clone();
        }
        self.secrets
            .entry(name.to_owned())
            .or_default()
            .push(bundle.clone());
        Reply::json(200, &bundle)
    }
}

fn renamed_server(template: &Value, name: &str) -> Value {
    let mut server = template.clone();
    let id = template["id"].as_str().unwrap_or_default();
    let prefix = id.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
    server["id"] = json!(format!("{prefix}/{name}"));
    server["name"] = json!(name);
    server["properties"]["fullyQualifiedDomainName"] =
        json!(format!("{name}.postgres.database.azure.com"));
    server
}

fn not_found(kind: &str, name: &str) -> Reply {
    Reply::arm_error(
        404,
        "ResourceNotFound",
        &format!("The Resource '{kind}/{name}' was not found."),
    )
}

fn secret_not_found(name: &str) -> Reply {
    Reply::json(
        404,
        &json!({"error": {"code": "SecretNotFound", "message": format!("A secret with (name/id) {name} was not found in this key vault.")}}),
    )
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| v.to_owned())
    })
}

/// Now as RFC 3339 UTC with seconds (`2026-01-02T03:04:05Z`), computed without a date crate.
fn rfc3339_now() -> String {
    let secs = now_unix();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_240), (2025, 6, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
