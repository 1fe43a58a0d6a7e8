//! `Microsoft.Network/dnsZones`: a zone and its `A` and `CNAME` record sets, with etags.

use super::examples::at;
use super::state::{DnsZoneState, Incoming, Reply, State};
use super::{DNS_API_VERSION, DNS_RESOURCE_GROUP, DNS_SUBSCRIPTION_ID, DNS_ZONE};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The key of a zone: `subscription/group/zone`, lower case.
pub(super) fn zone_key(subscription: &str, group: &str, zone: &str) -> String {
    format!("{subscription}/{group}/{zone}").to_ascii_lowercase()
}

/// The key of a record set: `TYPE/name` (the name lower case, as DNS compares names).
pub(super) fn record_key(record_type: &str, name: &str) -> String {
    format!(
        "{}/{}",
        record_type.to_ascii_uppercase(),
        name.to_ascii_lowercase()
    )
}

fn precondition_failed(message: &str) -> Reply {
    Reply::arm_error(412, "PreconditionFailed", message)
}

impl State {
    pub(super) fn seed_dns(&mut self) {
        let mut record_sets = BTreeMap::new();
        for (file, record_type) in [
            ("dns/GetARecordset.json", "A"),
            ("dns/GetCNAMERecordset.json", "CNAME"),
        ] {
            let set = at(file, "/responses/200/body");
            let name = set["name"].as_str().unwrap_or_default().to_owned();
            record_sets.insert(record_key(record_type, &name), set);
        }
        self.dns_zones.insert(
            zone_key(DNS_SUBSCRIPTION_ID, DNS_RESOURCE_GROUP, DNS_ZONE),
            DnsZoneState {
                zone: at("dns/GetZone.json", "/responses/200/body"),
                record_sets,
            },
        );
    }

    fn new_etag(&mut self) -> String {
        let n = self.next_id();
        format!("{n:08x}-0000-4000-8000-{n:012x}")
    }

    pub(super) fn dns(&mut self, req: &Incoming<'_>) -> Reply {
        let api_version = req.query_param("api-version");
        if api_version.as_deref() != Some(DNS_API_VERSION) {
            return Reply::arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{}' is invalid; this replay serves '{DNS_API_VERSION}'.",
                    api_version.unwrap_or_default()
                ),
            );
        }
        let key = zone_key(req.segments[1], req.segments[3], req.segments[7]);
        let zone_name = req.segments[7].to_owned();
        if !self.dns_zones.contains_key(&key) {
            return Reply::arm_error(
                404,
                "ResourceNotFound",
                &format!(
                    "The Resource 'Microsoft.Network/dnszones/{zone_name}' under resource group '{}' was not found.",
                    req.segments[3]
                ),
            );
        }
        match (req.method, &req.segments[8..]) {
            ("GET", []) => {
                let Some(state) = self.dns_zones.get(&key) else {
                    return Reply::empty(404);
                };
                let mut zone = state.zone.clone();
                zone["properties"]["numberOfRecordSets"] = json!(state.record_sets.len());
                Reply::json(200, &zone)
            }
            (method, [record_type, name]) => {
                let record_type = record_type.to_ascii_uppercase();
                if !matches!(record_type.as_str(), "A" | "CNAME") {
                    return Reply::arm_error(
                        400,
                        "BadRequest",
                        &format!("the replay serves A and CNAME record sets, not {record_type}"),
                    );
                }
                let prefix = format!("/{}", req.segments[..8].join("/"));
                self.record_set(method, &key, &zone_name, &prefix, &record_type, name, req)
            }
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record_set(
        &mut self,
        method: &str,
        key: &str,
        zone_name: &str,
        prefix: &str,
        record_type: &str,
        name: &str,
        req: &Incoming<'_>,
    ) -> Reply {
        let rkey = record_key(record_type, name);
        let existing = self
            .dns_zones
            .get(key)
            .and_then(|z| z.record_sets.get(&rkey))
            .cloned();
        let if_match = req.header("if-match").map(str::to_owned);
        let if_none_match = req.header("if-none-match").map(str::to_owned);
        let etag_of = |v: &Value| v["etag"].as_str().unwrap_or_default().to_owned();
        match method {
            "GET" => match existing {
                Some(set) => Reply::json(200, &set),
                None => Reply::arm_error(
                    404,
                    "NotFound",
                    &format!("The resource record '{name}' does not exist in resource group."),
                ),
            },
            "PUT" => {
                match (&existing, if_match.as_deref(), if_none_match.as_deref()) {
                    (Some(_), _, Some("*")) => {
                        return precondition_failed(
                            "The record set already exists (If-None-Match: *).",
                        );
                    }
                    (None, Some(_), _) => {
                        return precondition_failed("The record set does not exist (If-Match).");
                    }
                    (Some(set), Some(tag), _) if tag != "*" && tag != etag_of(set) => {
                        return precondition_failed("The etag does not match (If-Match).");
                    }
                    _ => {}
                }
                let Ok(body) = serde_json::from_slice::<Value>(req.body) else {
                    return Reply::arm_error(
                        400,
                        "BadRequest",
                        "The request body is not valid JSON.",
                    );
                };
                let props = &body["properties"];
                let Some(ttl) = props["TTL"]
                    .as_u64()
                    .filter(|t| (1..=2_147_483_647).contains(t))
                else {
                    return Reply::arm_error(400, "BadRequest", "TTL must be 1 to 2147483647.");
                };
                let mut stored = serde_json::Map::new();
                if let Some(metadata) = props.get("metadata") {
                    stored.insert("metadata".into(), metadata.clone());
                }
                stored.insert("TTL".into(), json!(ttl));
                let fqdn = if name == "@" {
                    zone_name.to_owned()
                } else {
                    format!("{name}.{zone_name}")
                };
                stored.insert("fqdn".into(), json!(fqdn));
                if record_type == "A" {
                    let Some(records) = props["ARecords"].as_array() else {
                        return Reply::arm_error(400, "BadRequest", "ARecords is required.");
                    };
                    let valid = records.iter().all(|r| {
                        r["ipv4Address"]
                            .as_str()
                            .is_some_and(|a| a.parse::<Ipv4Addr>().is_ok())
                    });
                    if !valid {
                        return Reply::arm_error(400, "BadRequest", "An ipv4Address is invalid.");
                    }
                    stored.insert("ARecords".into(), json!(records));
                } else {
                    let Some(target) = props["CNAMERecord"]["cname"].as_str() else {
                        return Reply::arm_error(
                            400,
                            "BadRequest",
                            "CNAMERecord.cname is required.",
                        );
                    };
                    stored.insert("CNAMERecord".into(), json!({"cname": target}));
                }
                let set = json!({
                    "id": format!("{prefix}/{record_type}/{name}"),
                    "etag": self.new_etag(),
                    "name": name,
                    "type": format!("Microsoft.Network/dnsZones/{record_type}"),
                    "properties": stored,
                });
                let created = existing.is_none();
                if let Some(zone) = self.dns_zones.get_mut(key) {
                    zone.record_sets.insert(rkey, set.clone());
                }
                Reply::json(if created { 201 } else { 200 }, &set)
            }
            "DELETE" => {
                let Some(set) = existing else {
                    return Reply::empty(204);
                };
                if let Some(tag) = if_match.as_deref()
                    && tag != "*"
                    && tag != etag_of(&set)
                {
                    return precondition_failed("The etag does not match (If-Match).");
                }
                if let Some(zone) = self.dns_zones.get_mut(key) {
                    zone.record_sets.remove(&rkey);
                }
                Reply::empty(200)
            }
            _ => Reply::arm_error(405, "MethodNotAllowed", "not served by the replay"),
        }
    }
}
