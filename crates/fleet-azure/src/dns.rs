//! Azure DNS (public zones) over ARM: a zone and its `A` and `CNAME` record sets
//! ([`DnsRecords`], implemented by [`DnsZoneClient`]), for the disaster-recovery step "update
//! DNS to the backup region".
//!
//! Record-set writes are synchronous (200 updated, 201 created). Optimistic concurrency uses
//! the record set's etag: [`Precondition::IfMatch`] changes it only if nobody else did,
//! [`Precondition::IfNoneMatch`] only creates. A failed precondition is
//! [`crate::ErrorKind::PreconditionFailed`] (Azure is expected to answer 412; 409 is treated
//! the same when a precondition was sent).

use crate::error::{Error, ErrorKind, Result};
use crate::http::{ArmRequest, Http, resource_url};
use crate::names::validate_record_set_name;
use crate::options::ReadOptions;
use crate::outcome::{Deletion, Outcome};
use async_trait::async_trait;
use azure_core::http::{ClientMethodOptions, Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The record types this crate manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RecordType {
    /// IPv4 addresses.
    A,
    /// An alias to another name.
    #[serde(rename = "CNAME")]
    Cname,
}

impl RecordType {
    /// The type as it appears in the URL (`A`, `CNAME`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Cname => "CNAME",
        }
    }
}

/// The records of a record set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Records {
    /// `A` records.
    A(Vec<Ipv4Addr>),
    /// The one `CNAME` target.
    Cname(String),
}

impl Records {
    /// The record type these records belong to.
    pub fn record_type(&self) -> RecordType {
        match self {
            Self::A(_) => RecordType::A,
            Self::Cname(_) => RecordType::Cname,
        }
    }
}

/// A record set to write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSetData {
    /// Time to live in seconds (1 to 2,147,483,647).
    pub ttl: u32,
    /// The records; their type decides the record set's.
    pub records: Records,
    /// Metadata (record sets take metadata, not ARM tags).
    pub metadata: BTreeMap<String, String>,
}

/// A record set as Azure reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecordSet {
    /// Name relative to the zone (`@` for the apex).
    pub name: String,
    /// Fully qualified name.
    pub fqdn: Option<String>,
    /// Time to live in seconds.
    pub ttl: Option<u32>,
    /// The etag to send back in [`Precondition::IfMatch`].
    pub etag: Option<String>,
    /// The records.
    pub records: Records,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A DNS zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DnsZone {
    /// Zone name.
    pub name: String,
    /// Etag.
    pub etag: Option<String>,
    /// The Azure name servers delegated to.
    pub name_servers: Vec<String>,
    /// Record sets in the zone.
    pub number_of_record_sets: Option<u64>,
    /// The zone's record-set limit.
    pub max_number_of_record_sets: Option<u64>,
}

/// When a write may happen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Precondition {
    /// Always (last writer wins).
    #[default]
    None,
    /// Only if the record set exists with this etag (`If-Match`).
    IfMatch(String),
    /// Only if the record set does not exist (`If-None-Match: *`).
    IfNoneMatch,
}

/// Per-call options of [`DnsRecords::set_record_set`].
#[derive(Clone, Debug, Default)]
pub struct SetRecordSetOptions<'a> {
    /// azure_core's per-call options.
    pub method_options: ClientMethodOptions<'a>,
    /// Validate and return the exact request instead of sending it.
    pub dry_run: bool,
    /// Optimistic concurrency.
    pub precondition: Precondition,
}

/// Per-call options of [`DnsRecords::delete_record_set`].
#[derive(Clone, Debug, Default)]
pub struct DeleteRecordSetOptions<'a> {
    /// azure_core's per-call options.
    pub method_options: ClientMethodOptions<'a>,
    /// Validate and return the exact request instead of sending it.
    pub dry_run: bool,
    /// Delete only if the record set still has this etag.
    pub if_match: Option<String>,
}

/// One public DNS zone.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait DnsRecords: Send + Sync {
    /// The zone: name servers and record-set counts.
    async fn get_zone<'a>(&self, options: Option<ReadOptions<'a>>) -> Result<DnsZone>;

    /// One record set.
    async fn get_record_set<'a>(
        &self,
        record_type: RecordType,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<RecordSet>;

    /// Creates or replaces the record set `name` of the records' type.
    async fn set_record_set<'a>(
        &self,
        name: &str,
        data: &RecordSetData,
        options: Option<SetRecordSetOptions<'a>>,
    ) -> Result<Outcome<RecordSet>>;

    /// Deletes a record set; deleting a missing one is [`Deletion::AlreadyAbsent`].
    async fn delete_record_set<'a>(
        &self,
        record_type: RecordType,
        name: &str,
        options: Option<DeleteRecordSetOptions<'a>>,
    ) -> Result<Outcome<Deletion>>;
}

/// [`DnsRecords`] over ARM, from [`crate::ArmClient::dns_zone_client`].
#[derive(Clone, Debug)]
pub struct DnsZoneClient {
    pub(crate) http: Http,
    pub(crate) subscription_id: String,
    pub(crate) resource_group: String,
    pub(crate) zone_name: String,
    pub(crate) api_version: String,
}

// ---- ARM shapes ----

#[derive(Deserialize)]
struct ArmZone {
    name: String,
    etag: Option<String>,
    properties: Option<ArmZoneProperties>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ArmZoneProperties {
    name_servers: Option<Vec<String>>,
    number_of_record_sets: Option<u64>,
    max_number_of_record_sets: Option<u64>,
}

#[derive(Deserialize)]
struct ArmRecordSet {
    name: String,
    etag: Option<String>,
    properties: Option<ArmRecordSetProperties>,
}

#[derive(Deserialize, Default)]
struct ArmRecordSetProperties {
    #[serde(rename = "TTL")]
    ttl: Option<u32>,
    fqdn: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "ARecords")]
    a_records: Option<Vec<ArmARecord>>,
    #[serde(rename = "CNAMERecord")]
    cname_record: Option<ArmCnameRecord>,
}

#[derive(Deserialize)]
struct ArmARecord {
    #[serde(rename = "ipv4Address")]
    ipv4_address: String,
}

#[derive(Deserialize)]
struct ArmCnameRecord {
    cname: Option<String>,
}

fn record_set_from_arm(operation: &str, record_type: RecordType, body: &[u8]) -> Result<RecordSet> {
    let raw: ArmRecordSet = serde_json::from_slice(body)
        .map_err(|e| Error::response(operation, format!("not a record set: {e}")))?;
    let props = raw.properties.unwrap_or_default();
    let records = match record_type {
        RecordType::A => Records::A(
            props
                .a_records
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    r.ipv4_address.parse::<Ipv4Addr>().map_err(|_| {
                        Error::response(
                            operation,
                            format!("{:?} is not an IPv4 address", r.ipv4_address),
                        )
                    })
                })
                .collect::<Result<_>>()?,
        ),
        RecordType::Cname => Records::Cname(
            props
                .cname_record
                .and_then(|c| c.cname)
                .ok_or_else(|| Error::response(operation, "a CNAME record set without a cname"))?,
        ),
    };
    Ok(RecordSet {
        name: raw.name,
        fqdn: props.fqdn,
        ttl: props.ttl,
        etag: raw.etag,
        records,
        metadata: props.metadata.unwrap_or_default(),
    })
}

fn validate_target(target: &str) -> Result<()> {
    let name = target.strip_suffix('.').unwrap_or(target);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "cname",
            format!("{target:?} is not a DNS name"),
        ))
    }
}

/// Checks a record set to write (pure).
pub(crate) fn validate_record_set(name: &str, data: &RecordSetData) -> Result<()> {
    validate_record_set_name(name)?;
    if data.ttl == 0 || data.ttl > 2_147_483_647 {
        return Err(Error::invalid(
            "ttl",
            format!("{}: Azure DNS allows 1 to 2147483647 seconds", data.ttl),
        ));
    }
    match &data.records {
        Records::A(addresses) => {
            if addresses.is_empty() || addresses.len() > 1000 {
                return Err(Error::invalid(
                    "records",
                    "an A record set needs 1 to 1000 addresses",
                ));
            }
        }
        Records::Cname(target) => {
            if name == "@" {
                return Err(Error::invalid(
                    "record_set_name",
                    "a CNAME cannot sit at the zone apex (@)",
                ));
            }
            validate_target(target)?;
        }
    }
    for (k, v) in &data.metadata {
        if k.is_empty() || k.len() > 256 || v.len() > 1024 {
            return Err(Error::invalid(
                "metadata",
                format!("{k:?}: keys 1-256 and values up to 1024 characters"),
            ));
        }
    }
    Ok(())
}

/// The ARM body of a record set.
fn record_set_body(data: &RecordSetData) -> serde_json::Value {
    let mut properties = serde_json::Map::new();
    if !data.metadata.is_empty() {
        properties.insert("metadata".into(), json!(data.metadata));
    }
    properties.insert("TTL".into(), json!(data.ttl));
    match &data.records {
        Records::A(addresses) => {
            let list: Vec<_> = addresses
                .iter()
                .map(|a| json!({"ipv4Address": a.to_string()}))
                .collect();
            properties.insert("ARecords".into(), json!(list));
        }
        Records::Cname(target) => {
            properties.insert("CNAMERecord".into(), json!({"cname": target}));
        }
    }
    json!({ "properties": properties })
}

impl DnsZoneClient {
    /// The zone this client manages.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    fn url(&self, tail: &[&str]) -> Result<Url> {
        let mut segments = vec![
            "subscriptions",
            self.subscription_id.as_str(),
            "resourceGroups",
            self.resource_group.as_str(),
            "providers",
            "Microsoft.Network",
            "dnsZones",
            self.zone_name.as_str(),
        ];
        segments.extend_from_slice(tail);
        resource_url(
            &self.http.endpoint,
            &segments,
            &[("api-version", &self.api_version)],
        )
    }

    fn record_request(
        &self,
        method: Method,
        record_type: RecordType,
        name: &str,
        operation: String,
    ) -> Result<ArmRequest> {
        validate_record_set_name(name)?;
        let url = self.url(&[record_type.as_str(), name])?;
        Ok(ArmRequest::new(operation, method, url))
    }
}

/// A 409 answer to a conditional request is a failed precondition, like 412.
fn precondition_error(e: Error, conditional: bool) -> Error {
    match e {
        Error::Service {
            operation,
            status: 409,
            code,
            message,
            retry_after,
            ..
        } if conditional => Error::Service {
            operation,
            kind: ErrorKind::PreconditionFailed,
            status: 409,
            code,
            message,
            retry_after,
        },
        other => other,
    }
}

#[async_trait]
impl DnsRecords for DnsZoneClient {
    #[tracing::instrument(skip_all, fields(zone = %self.zone_name, resource_group = %self.resource_group))]
    async fn get_zone<'a>(&self, options: Option<ReadOptions<'a>>) -> Result<DnsZone> {
        let options = options.unwrap_or_default();
        let request = ArmRequest::new(
            format!("get DNS zone {}", self.zone_name),
            Method::Get,
            self.url(&[])?,
        );
        let reply = self
            .http
            .send_ok(&options.method_options.context, &request)
            .await?;
        let raw: ArmZone = reply.json(&request.operation)?;
        let props = raw.properties.unwrap_or_default();
        Ok(DnsZone {
            name: raw.name,
            etag: raw.etag,
            name_servers: props.name_servers.unwrap_or_default(),
            number_of_record_sets: props.number_of_record_sets,
            max_number_of_record_sets: props.max_number_of_record_sets,
        })
    }

    #[tracing::instrument(skip_all, fields(zone = %self.zone_name, resource_group = %self.resource_group, record_set = name, record_type = record_type.as_str()))]
    async fn get_record_set<'a>(
        &self,
        record_type: RecordType,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<RecordSet> {
        let options = options.unwrap_or_default();
        let request = self.record_request(
            Method::Get,
            record_type,
            name,
            format!(
                "get {} record set {name} in {}",
                record_type.as_str(),
                self.zone_name
            ),
        )?;
        let reply = self
            .http
            .send_ok(&options.method_options.context, &request)
            .await?;
        record_set_from_arm(&request.operation, record_type, &reply.body)
    }

    #[tracing::instrument(skip_all, fields(zone = %self.zone_name, resource_group = %self.resource_group, record_set = name, record_type = data.records.record_type().as_str()))]
    async fn set_record_set<'a>(
        &self,
        name: &str,
        data: &RecordSetData,
        options: Option<SetRecordSetOptions<'a>>,
    ) -> Result<Outcome<RecordSet>> {
        let options = options.unwrap_or_default();
        validate_record_set(name, data)?;
        let record_type = data.records.record_type();
        let mut request = self
            .record_request(
                Method::Put,
                record_type,
                name,
                format!(
                    "set {} record set {name} in {}",
                    record_type.as_str(),
                    self.zone_name
                ),
            )?
            .with_json(record_set_body(data));
        let conditional = options.precondition != Precondition::None;
        match &options.precondition {
            Precondition::None => {}
            Precondition::IfMatch(etag) => {
                if etag.is_empty() || etag.chars().any(char::is_control) {
                    return Err(Error::invalid("if_match", "an etag as Azure sent it"));
                }
                request = request.with_header("if-match", etag.clone());
            }
            Precondition::IfNoneMatch => request = request.with_header("if-none-match", "*"),
        }
        if options.dry_run {
            tracing::info!(request = %request.target(), "dry run: not sent");
            return Ok(Outcome::DryRun(request.planned()));
        }
        let reply = self
            .http
            .send_ok(&options.method_options.context, &request)
            .await
            .map_err(|e| precondition_error(e, conditional))?;
        tracing::info!(status = reply.status, "record set written");
        Ok(Outcome::Applied(record_set_from_arm(
            &request.operation,
            record_type,
            &reply.body,
        )?))
    }

    #[tracing::instrument(skip_all, fields(zone = %self.zone_name, resource_group = %self.resource_group, record_set = name, record_type = record_type.as_str()))]
    async fn delete_record_set<'a>(
        &self,
        record_type: RecordType,
        name: &str,
        options: Option<DeleteRecordSetOptions<'a>>,
    ) -> Result<Outcome<Deletion>> {
        let options = options.unwrap_or_default();
        let mut request = self.record_request(
            Method::Delete,
            record_type,
            name,
            format!(
                "delete {} record set {name} in {}",
                record_type.as_str(),
                self.zone_name
            ),
        )?;
        if let Some(etag) = &options.if_match {
            request = request.with_header("if-match", etag.clone());
        }
        if options.dry_run {
            tracing::info!(request = %request.target(), "dry run: not sent");
            return Ok(Outcome::DryRun(request.planned()));
        }
        let reply = self
            .http
            .send(&options.method_options.context, &request)
            .await?;
        match reply.status {
            200 | 202 => Ok(Outcome::Applied(Deletion::Deleted)),
            204 | 404 => Ok(Outcome::Applied(Deletion::AlreadyAbsent)),
            _ => Err(precondition_error(
                crate::http::service_error(&request.operation, &reply),
                options.if_match.is_some(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ttl: u32, ips: &[[u8; 4]]) -> RecordSetData {
        RecordSetData {
            ttl,
            records: Records::A(ips.iter().map(|o| Ipv4Addr::from(*o)).collect()),
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn record_sets_are_checked_before_any_request() {
        assert!(validate_record_set("record1", &a(3600, &[[127, 0, 0, 1]])).is_ok());
        assert!(validate_record_set("record1", &a(0, &[[127, 0, 0, 1]])).is_err());
        assert!(validate_record_set("record1", &a(300, &[])).is_err());
        assert!(validate_record_set("..", &a(300, &[[1, 1, 1, 1]])).is_err());
        let cname = |target: &str| RecordSetData {
            ttl: 300,
            records: Records::Cname(target.into()),
            metadata: BTreeMap::new(),
        };
        assert!(validate_record_set("www", &cname("contoso.com")).is_ok());
        assert!(validate_record_set("www", &cname("contoso.com.")).is_ok());
        assert!(validate_record_set("@", &cname("contoso.com")).is_err());
        assert!(validate_record_set("www", &cname("bad target")).is_err());
    }

    #[test]
    fn bodies_use_azures_casing() {
        let mut data = a(3600, &[[127, 0, 0, 1]]);
        data.metadata.insert("key1".into(), "value1".into());
        assert_eq!(
            record_set_body(&data),
            json!({"properties": {"metadata": {"key1": "value1"}, "TTL": 3600, "ARecords": [{"ipv4Address": "127.0.0.1"}]}})
        );
        let cname = RecordSetData {
            ttl: 60,
            records: Records::Cname("contoso.com".into()),
            metadata: BTreeMap::new(),
        };
        assert_eq!(
            record_set_body(&cname),
            json!({"properties": {"TTL": 60, "CNAMERecord": {"cname": "contoso.com"}}})
        );
    }
}
