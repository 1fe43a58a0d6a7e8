//! `Microsoft.DBforPostgreSQL/flexibleServers`: servers (get, update, point-in-time restore),
//! backups, firewall rules and server parameters.

use super::examples::at;
use super::state::{
    Effect, Incoming, Reply, State, is_example_scope, not_found, renamed_server, rfc3339_now,
};
use super::{ARM_API_VERSION, SERVER, SOURCE_SERVER, STATUS_API_VERSION};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

impl State {
    pub(super) fn seed_postgres(&mut self) {
        let server = at("postgresql/ServersGet.json", "/responses/200/body");
        let source = renamed_server(&server, SOURCE_SERVER);
        self.servers.insert(SERVER.to_owned(), server);
        self.servers.insert(SOURCE_SERVER.to_owned(), source);
        let listed = at(
            "postgresql/BackupsAutomaticAndOnDemandListByServer.json",
            "/responses/200/body/value",
        );
        self.backups.insert(
            SERVER.to_owned(),
            listed.as_array().cloned().unwrap_or_default(),
        );
        let mut rules = at(
            "postgresql/FirewallRulesListByServer.json",
            "/responses/200/body/value",
        )
        .as_array()
        .cloned()
        .unwrap_or_default();
        // The Get example's rule, with its `servers/` quirk in the id kept as published.
        rules.push(at(
            "postgresql/FirewallRulesGet.json",
            "/responses/200/body",
        ));
        self.firewall_rules.insert(SERVER.to_owned(), rules);
        let array_nulls = at("postgresql/ConfigurationsGet.json", "/responses/200/body");
        // The update examples change `constraint_exclusion`, which no example reads, and the
        // runbook reads `max_connections`: both are derived from `array_nulls`' shape with
        // PostgreSQL's documented defaults (max_connections is static, 25-5000).
        let derived = |name: &str, props: Value| {
            let mut c = array_nulls.clone();
            c["name"] = json!(name);
            let id = array_nulls["id"].as_str().unwrap_or_default();
            c["id"] = json!(id.replace("array_nulls", name));
            if let (Some(target), Some(extra)) =
                (c["properties"].as_object_mut(), props.as_object())
            {
                for (k, v) in extra {
                    target.insert(k.clone(), v.clone());
                }
            }
            c
        };
        let configurations = vec![
            array_nulls.clone(),
            derived(
                "constraint_exclusion",
                json!({
                    "description": "Enables the planner to use table constraints to optimize queries.",
                    "allowedValues": "partition,on,off",
                    "dataType": "Enumeration",
                    "defaultValue": "partition",
                    "value": "partition",
                    "documentationLink": "https://www.postgresql.org/docs/17/runtime-config-query.html#GUC-CONSTRAINT-EXCLUSION",
                }),
            ),
            derived(
                "max_connections",
                json!({
                    "description": "Sets the maximum number of concurrent connections to the database server.",
                    "allowedValues": "25-5000",
                    "dataType": "Integer",
                    "defaultValue": "859",
                    "value": "859",
                    "isDynamicConfig": false,
                    "documentationLink": "https://www.postgresql.org/docs/17/runtime-config-connection.html#GUC-MAX-CONNECTIONS",
                }),
            ),
        ];
        self.configurations
            .insert(SERVER.to_owned(), configurations);
    }

    pub(super) fn postgres(&mut self, req: &Incoming<'_>) -> Reply {
        let api_version = req.query_param("api-version");
        let paging = req.query_param("$skiptoken").is_some();
        let accepted = api_version.as_deref() == Some(ARM_API_VERSION)
            || (paging && api_version.as_deref() == Some(STATUS_API_VERSION));
        if !accepted {
            return Reply::arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{}' is invalid; this replay serves '{ARM_API_VERSION}'.",
                    api_version.unwrap_or_default()
                ),
            );
        }
        if !is_example_scope(req.segments[1], req.segments[3]) {
            return Reply::arm_error(
                404,
                "ResourceGroupNotFound",
                &format!("Resource group '{}' could not be found.", req.segments[3]),
            );
        }
        let server = req.lower[7].clone();
        let original = req.segments[7];
        let rest: Vec<&str> = req.lower[8..].iter().map(String::as_str).collect();
        let exists = self.servers.contains_key(&server);
        match (req.method, rest.as_slice()) {
            ("GET", []) => match self.servers.get(&server) {
                Some(s) => Reply::json(200, s),
                None => not_found("Microsoft.DBforPostgreSQL/flexibleServers", original),
            },
            ("PUT", []) => self.restore(original, req.body),
            ("PATCH", []) if exists => self.update_server(&server, req.body),
            (_, [_, ..]) if !exists => {
                not_found("Microsoft.DBforPostgreSQL/flexibleServers", original)
            }
            ("GET", [c @ ("backups" | "firewallrules" | "configurations")]) => {
                let list = match *c {
                    "backups" => self.backups.get(&server),
                    "firewallrules" => self.firewall_rules.get(&server),
                    _ => self.configurations.get(&server),
                }
                .cloned()
                .unwrap_or_default();
                let (base, sub, rg) = (self.base.clone(), req.segments[1], req.segments[3]);
                let collection = req.segments[8];
                self.page(list, req, |offset| {
                    format!(
                        "{base}/subscriptions/{sub}//resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{original}/{collection}?api-version={STATUS_API_VERSION}&$skiptoken={offset}"
                    )
                })
            }
            (method, ["backups", _]) => self.backup(method, &server, req, req.segments[9]),
            (method, ["firewallrules", _]) => {
                self.firewall_rule(method, &server, req, req.segments[9])
            }
            (method, ["configurations", _]) => {
                self.configuration(method, &server, req, req.segments[9])
            }
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }

    fn resource_id(req: &Incoming<'_>, tail: &str) -> String {
        format!("/{}/{tail}", req.segments[..8].join("/"))
    }

    fn backup(&mut self, method: &str, server: &str, req: &Incoming<'_>, name: &str) -> Reply {
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
                let backup = json!({
                    "name": name,
                    "type": "Microsoft.DBforPostgreSQL/flexibleServers/backups",
                    "id": Self::resource_id(req, &format!("backups/{name}")),
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

    fn firewall_rule(
        &mut self,
        method: &str,
        server: &str,
        req: &Incoming<'_>,
        name: &str,
    ) -> Reply {
        let existing = self
            .firewall_rules
            .get(server)
            .and_then(|l| {
                l.iter()
                    .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
            })
            .cloned();
        match (method, existing) {
            ("GET", Some(r)) => Reply::json(200, &r),
            ("GET", None) => not_found(
                "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules",
                name,
            ),
            ("PUT", _) => {
                if !valid_rule_name(name) {
                    return Reply::arm_error(
                        400,
                        "InvalidResourceName",
                        &format!("The firewall rule name '{name}' is invalid."),
                    );
                }
                let Ok(body) = serde_json::from_slice::<Value>(req.body) else {
                    return Reply::arm_error(
                        400,
                        "InvalidRequestContent",
                        "The request content was invalid.",
                    );
                };
                let ip = |field: &str| {
                    body["properties"][field]
                        .as_str()
                        .and_then(|s| s.parse::<Ipv4Addr>().ok())
                };
                let (Some(start), Some(end)) = (ip("startIpAddress"), ip("endIpAddress")) else {
                    return Reply::arm_error(
                        400,
                        "InvalidParameterValue",
                        "startIpAddress and endIpAddress must be IPv4 addresses.",
                    );
                };
                let rule = json!({
                    "id": Self::resource_id(req, &format!("firewallRules/{name}")),
                    "name": name,
                    "type": "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules",
                    "properties": {"startIpAddress": start.to_string(), "endIpAddress": end.to_string()}
                });
                self.start_operation(Effect::UpsertFirewallRule {
                    server: server.to_owned(),
                    rule,
                })
            }
            ("DELETE", Some(_)) => self.start_operation(Effect::RemoveFirewallRule {
                server: server.to_owned(),
                name: name.to_owned(),
            }),
            ("DELETE", None) => Reply::empty(204),
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }

    fn configuration(
        &mut self,
        method: &str,
        server: &str,
        req: &Incoming<'_>,
        name: &str,
    ) -> Reply {
        let existing = self
            .configurations
            .get(server)
            .and_then(|l| {
                l.iter()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
            })
            .cloned();
        let Some(existing) = existing else {
            return not_found(
                "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
                name,
            );
        };
        match method {
            "GET" => Reply::json(200, &existing),
            "PATCH" | "PUT" => {
                let Ok(body) = serde_json::from_slice::<Value>(req.body) else {
                    return Reply::arm_error(
                        400,
                        "InvalidRequestContent",
                        "The request content was invalid.",
                    );
                };
                let Some(value) = body["properties"]["value"].as_str() else {
                    return Reply::arm_error(
                        400,
                        "InvalidParameterValue",
                        "properties.value (a string) is required to update a configuration.",
                    );
                };
                if existing["properties"]["isReadOnly"].as_bool() == Some(true) {
                    return Reply::arm_error(
                        400,
                        "ReadOnlyConfiguration",
                        &format!("The configuration '{name}' is read-only."),
                    );
                }
                let source = body["properties"]["source"]
                    .as_str()
                    .unwrap_or("user-override")
                    .to_owned();
                self.start_operation(Effect::SetConfiguration {
                    server: server.to_owned(),
                    name: name.to_owned(),
                    value: value.to_owned(),
                    source,
                })
            }
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }

    fn update_server(&mut self, server: &str, body: &[u8]) -> Reply {
        let Ok(patch) = serde_json::from_slice::<Value>(body) else {
            return Reply::arm_error(
                400,
                "InvalidRequestContent",
                "The request content was invalid.",
            );
        };
        if !patch.is_object() {
            return Reply::arm_error(
                400,
                "InvalidRequestContent",
                "The request content was invalid.",
            );
        }
        let password = &patch["properties"]["administratorLoginPassword"];
        if !(password.is_null() || password.as_str().is_some_and(|p| p.len() >= 8)) {
            return Reply::arm_error(
                400,
                "PasswordNotComplex",
                "The password does not meet the complexity requirements.",
            );
        }
        if let Some(s) = self.servers.get_mut(server) {
            s["properties"]["state"] = json!("Updating");
        }
        self.start_operation(Effect::UpdateServer {
            server: server.to_owned(),
            patch,
        })
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

    pub(super) fn apply_postgres(&mut self, effect: Effect) {
        let by_name = |list: &mut Vec<Value>, name: &str| {
            list.retain(|v| v.get("name").and_then(Value::as_str) != Some(name));
        };
        match effect {
            Effect::AddBackup { server, backup } => {
                self.backups.entry(server).or_default().push(backup);
            }
            Effect::RemoveBackup { server, name } => {
                if let Some(list) = self.backups.get_mut(&server) {
                    by_name(list, &name);
                }
            }
            Effect::UpsertFirewallRule { server, rule } => {
                let list = self.firewall_rules.entry(server).or_default();
                let name = rule["name"].as_str().unwrap_or_default().to_owned();
                match list
                    .iter_mut()
                    .find(|r| r["name"].as_str() == Some(name.as_str()))
                {
                    Some(existing) => *existing = rule,
                    None => list.push(rule),
                }
            }
            Effect::RemoveFirewallRule { server, name } => {
                if let Some(list) = self.firewall_rules.get_mut(&server) {
                    by_name(list, &name);
                }
            }
            Effect::SetConfiguration {
                server,
                name,
                value,
                source,
            } => {
                if let Some(c) = self.configurations.get_mut(&server).and_then(|l| {
                    l.iter_mut()
                        .find(|c| c["name"].as_str() == Some(name.as_str()))
                }) {
                    let static_parameter =
                        c["properties"]["isDynamicConfig"].as_bool() == Some(false);
                    c["properties"]["value"] = json!(value);
                    c["properties"]["source"] = json!(source);
                    if static_parameter {
                        c["properties"]["isConfigPendingRestart"] = json!(true);
                    }
                }
            }
            Effect::UpdateServer { server, patch } => {
                if let Some(s) = self.servers.get_mut(&server) {
                    if let Some(sku) = patch.get("sku") {
                        s["sku"] = sku.clone();
                    }
                    if let Some(props) = patch.get("properties").and_then(Value::as_object) {
                        for (k, v) in props {
                            // Write-only or request-only fields are never stored or returned.
                            if k == "administratorLoginPassword" || k == "createMode" {
                                continue;
                            }
                            match (s["properties"].get_mut(k), v) {
                                (Some(Value::Object(existing)), Value::Object(update)) => {
                                    for (ik, iv) in update {
                                        existing.insert(ik.clone(), iv.clone());
                                    }
                                }
                                _ => s["properties"][k] = v.clone(),
                            }
                        }
                    }
                    s["properties"]["state"] = json!("Ready");
                }
            }
            Effect::ServerReady { .. } => {}
        }
    }
}

fn valid_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 80
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_come_from_the_examples() {
        let state = State::seeded();
        let rules = &state.firewall_rules[SERVER];
        assert_eq!(rules.len(), 3);
        assert!(
            state.configurations[SERVER]
                .iter()
                .any(|c| c["name"] == "constraint_exclusion")
        );
        for s in [SERVER, SOURCE_SERVER] {
            assert!(state.servers.contains_key(s));
        }
    }
}
