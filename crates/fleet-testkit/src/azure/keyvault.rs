//! Key Vault secrets: set, get (latest or a version), list versions, and update a version's
//! attributes. A disabled version answers 403 `SecretDisabled` when read (the behaviour the
//! service documents; no example shows the answer, so its body is written here).

use super::examples::at;
use super::state::{FIXTURE_VAULT, Incoming, Reply, State};
use serde_json::{Value, json};

fn secret_not_found(name: &str) -> Reply {
    Reply::json(
        404,
        &json!({"error": {"code": "SecretNotFound", "message": format!("A secret with (name/id) {name} was not found in this key vault.")}}),
    )
}

fn disabled() -> Reply {
    Reply::json(
        403,
        &json!({"error": {"code": "Forbidden", "message": "Operation get is not allowed on a disabled secret.", "innererror": {"code": "SecretDisabled"}}}),
    )
}

fn is_disabled(bundle: &Value) -> bool {
    bundle["attributes"]["enabled"].as_bool() == Some(false)
}

fn version_of(bundle: &Value) -> &str {
    bundle["id"]
        .as_str()
        .and_then(|id| id.rsplit('/').next())
        .unwrap_or_default()
}

impl State {
    pub(super) fn seed_secrets(&mut self) {
        for (file, name, pointer) in [
            (
                "keyvault/GetSecret-example.json",
                "mysecretname",
                "/responses/200/body",
            ),
            (
                "keyvault/SetSecret-example.json",
                "crpsecret",
                "/responses/200/body",
            ),
            (
                "keyvault/GetSecretVersions-example.json",
                "listsecretversionstest",
                "/responses/200/body/value/0",
            ),
        ] {
            let mut bundle = at(file, pointer);
            if bundle.get("value").is_none() {
                // A version list carries no values; give the seeded version one to read.
                bundle["value"] = json!("seeded-by-azure-replay");
            }
            self.secrets.insert(name.to_owned(), vec![bundle]);
        }
    }

    /// The seeded bundles carry the example vault's URL; make their ids point here.
    pub(super) fn rebase_secrets(&mut self, base: &str) {
        for versions in self.secrets.values_mut() {
            for bundle in versions.iter_mut() {
                if let Some(id) = bundle.get("id").and_then(Value::as_str) {
                    let id = id.replace(FIXTURE_VAULT, base);
                    bundle["id"] = Value::String(id);
                }
            }
        }
    }

    pub(super) fn secrets_route(&mut self, req: &Incoming<'_>) -> Reply {
        let rest = &req.segments[1..];
        match (req.method, rest) {
            ("PUT", [name]) => self.set_secret(name, req.body),
            ("GET", [name]) => match self.secrets.get(*name).and_then(|v| v.last()) {
                Some(bundle) if is_disabled(bundle) => disabled(),
                Some(bundle) => Reply::json(200, bundle),
                None => secret_not_found(name),
            },
            ("GET", [name, versions]) if *versions == "versions" => {
                let Some(list) = self.secrets.get(*name) else {
                    return secret_not_found(name);
                };
                let items: Vec<Value> = list
                    .iter()
                    .map(|b| {
                        let mut item = b.clone();
                        if let Some(map) = item.as_object_mut() {
                            map.remove("value");
                        }
                        item
                    })
                    .collect();
                let base = self.base.clone();
                let name = (*name).to_owned();
                self.page(items, req, |offset| {
                    format!("{base}/secrets/{name}/versions?api-version=7.6&$skiptoken={offset}")
                })
            }
            ("GET", [name, version]) => match self.find_version(name, version) {
                Some(bundle) if is_disabled(bundle) => disabled(),
                Some(bundle) => Reply::json(200, bundle),
                None => secret_not_found(name),
            },
            ("PATCH", [name, version]) => self.update_version(name, version, req.body),
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }

    fn find_version(&self, name: &str, version: &str) -> Option<&Value> {
        self.secrets
            .get(name)?
            .iter()
            .find(|b| version_of(b).eq_ignore_ascii_case(version))
    }

    fn update_version(&mut self, name: &str, version: &str, body: &[u8]) -> Reply {
        let Ok(update) = serde_json::from_slice::<Value>(body) else {
            return Reply::arm_error(400, "BadParameter", "The request body is not valid JSON.");
        };
        let now = jiff::Timestamp::now().as_second();
        let Some(bundle) = self.secrets.get_mut(name).and_then(|list| {
            list.iter_mut()
                .find(|b| version_of(b).eq_ignore_ascii_case(version))
        }) else {
            return secret_not_found(name);
        };
        if let Some(enabled) = update["attributes"]["enabled"].as_bool() {
            bundle["attributes"]["enabled"] = json!(enabled);
        }
        if let Some(ct) = update.get("contentType") {
            bundle["contentType"] = ct.clone();
        }
        if let Some(tags) = update.get("tags") {
            bundle["tags"] = tags.clone();
        }
        bundle["attributes"]["updated"] = json!(now);
        let mut answer = bundle.clone();
        if let Some(map) = answer.as_object_mut() {
            map.remove("value");
        }
        Reply::json(200, &answer)
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
        let n = self.next_id();
        let now = jiff::Timestamp::now().as_second();
        let version = format!("{n:016x}{:016x}", now.unsigned_abs());
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
