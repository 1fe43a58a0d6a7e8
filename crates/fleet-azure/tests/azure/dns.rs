//! Azure DNS against the 2018-05-01 examples: zone, A and CNAME record sets, etags, dry runs.

use crate::{TestResult, arm, arm_options};
use fleet_azure::{
    DeleteRecordSetOptions, Deletion, DnsRecords, DnsZoneClient, ErrorKind, Outcome, Precondition,
    RecordSetData, RecordType, Records, SetRecordSetOptions,
};
use fleet_testkit::azure::{
    AzureReplay, DNS_RESOURCE_GROUP, DNS_SUBSCRIPTION_ID, DNS_ZONE, example,
};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

async fn zone() -> Result<(AzureReplay, DnsZoneClient), Box<dyn std::error::Error>> {
    let replay = AzureReplay::start().await?;
    let client = arm(&replay, arm_options(&replay))?.dns_zone_client(
        DNS_SUBSCRIPTION_ID,
        DNS_RESOURCE_GROUP,
        DNS_ZONE,
    )?;
    Ok((replay, client))
}

fn zone_path() -> String {
    format!(
        "/subscriptions/{DNS_SUBSCRIPTION_ID}/resourceGroups/{DNS_RESOURCE_GROUP}/providers/Microsoft.Network/dnsZones/{DNS_ZONE}"
    )
}

fn a_record(ttl: u32, ip: Ipv4Addr) -> RecordSetData {
    RecordSetData {
        ttl,
        records: Records::A(vec![ip]),
        metadata: BTreeMap::from([("key1".to_owned(), "value1".to_owned())]),
    }
}

#[tokio::test]
async fn the_zone_and_record_sets_read_the_examples() -> TestResult {
    let (replay, client) = zone().await?;
    let z = client.get_zone(None).await?;
    assert_eq!(z.name, "zone1");
    assert_eq!(z.name_servers.len(), 4);
    assert_eq!(z.max_number_of_record_sets, Some(5000));
    let get = replay.requests().pop().ok_or("no request")?;
    let ex = example("dns/GetZone.json").ok_or("example")?;
    assert_eq!(get.path, zone_path());
    assert_eq!(
        get.query_param("api-version").as_deref(),
        ex["parameters"]["api-version"].as_str()
    );

    let a = client
        .get_record_set(RecordType::A, "record1", None)
        .await?;
    assert_eq!(a.records, Records::A(vec![Ipv4Addr::LOCALHOST]));
    assert_eq!(a.ttl, Some(3600));
    assert_eq!(a.fqdn.as_deref(), Some("record1.zone1"));
    assert_eq!(
        a.etag.as_deref(),
        Some("00000000-0000-0000-0000-000000000000")
    );
    assert_eq!(
        replay.requests().pop().ok_or("none")?.path,
        format!("{}/A/record1", zone_path())
    );
    let c = client
        .get_record_set(RecordType::Cname, "record1", None)
        .await?;
    assert_eq!(c.records, Records::Cname("contoso.com".into()));
    assert_eq!(
        replay.requests().pop().ok_or("none")?.path,
        format!("{}/CNAME/record1", zone_path())
    );
    let e = client
        .get_record_set(RecordType::A, "nope", None)
        .await
        .err()
        .ok_or("found")?;
    assert!(e.is_not_found());
    Ok(())
}

#[tokio::test]
async fn set_sends_the_examples_puts() -> TestResult {
    let (replay, client) = zone().await?;
    for (file, data) in [
        (
            "dns/CreateOrUpdateARecordset.json",
            a_record(3600, Ipv4Addr::LOCALHOST),
        ),
        (
            "dns/CreateOrUpdateCNAMERecordset.json",
            RecordSetData {
                ttl: 3600,
                records: Records::Cname("contoso.com".into()),
                metadata: BTreeMap::from([("key1".to_owned(), "value1".to_owned())]),
            },
        ),
    ] {
        let ex = example(file).ok_or("example")?;
        let name = ex["parameters"]["relativeRecordSetName"]
            .as_str()
            .ok_or("name")?;
        let written = client.set_record_set(name, &data, None).await?;
        let Outcome::Applied(set) = written else {
            return Err("not applied".into());
        };
        assert_eq!(set.records, data.records);
        let put = replay.requests().pop().ok_or("no request")?;
        assert_eq!(put.method, "PUT");
        let record_type = ex["parameters"]["recordType"].as_str().ok_or("type")?;
        assert_eq!(put.path, format!("{}/{record_type}/{name}", zone_path()));
        assert_eq!(
            put.query_param("api-version").as_deref(),
            Some("2018-05-01")
        );
        assert_eq!(
            put.body_json(),
            Some(ex["parameters"]["parameters"].clone())
        );
        assert_eq!(put.status, 200, "the examples' record sets exist: updated");
    }
    // A new name is created (201).
    let created = client
        .set_record_set("api", &a_record(300, Ipv4Addr::new(203, 0, 113, 10)), None)
        .await?;
    assert!(matches!(created, Outcome::Applied(_)));
    assert_eq!(replay.requests().pop().ok_or("none")?.status, 201);
    Ok(())
}

#[tokio::test]
async fn etags_guard_concurrent_writers() -> TestResult {
    let (replay, client) = zone().await?;
    let current = client
        .get_record_set(RecordType::A, "record1", None)
        .await?;
    let etag = current.etag.clone().ok_or("no etag")?;
    let guarded = |tag: &str| {
        Some(SetRecordSetOptions {
            precondition: Precondition::IfMatch(tag.to_owned()),
            ..Default::default()
        })
    };
    let first = client
        .set_record_set(
            "record1",
            &a_record(60, Ipv4Addr::new(198, 51, 100, 1)),
            guarded(&etag),
        )
        .await?
        .applied()
        .ok_or("dry run")?;
    assert_ne!(
        first.etag.as_deref(),
        Some(etag.as_str()),
        "every write makes a new etag"
    );
    assert_eq!(
        replay.requests().pop().ok_or("none")?.header("if-match"),
        Some(etag.as_str())
    );
    // A second writer with the old etag loses.
    let e = client
        .set_record_set(
            "record1",
            &a_record(60, Ipv4Addr::new(198, 51, 100, 2)),
            guarded(&etag),
        )
        .await
        .err()
        .ok_or("the stale etag won")?;
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
    assert!(e.is_conflict());
    // Create-only refuses an existing set and creates a new one.
    let create_only = Some(SetRecordSetOptions {
        precondition: Precondition::IfNoneMatch,
        ..Default::default()
    });
    let e = client
        .set_record_set(
            "record1",
            &a_record(60, Ipv4Addr::LOCALHOST),
            create_only.clone(),
        )
        .await
        .err()
        .ok_or("overwrote")?;
    assert!(e.is_precondition_failed());
    assert_eq!(
        replay
            .requests()
            .pop()
            .ok_or("none")?
            .header("if-none-match"),
        Some("*")
    );
    assert!(
        client
            .set_record_set("fresh", &a_record(60, Ipv4Addr::LOCALHOST), create_only)
            .await?
            .applied()
            .is_some()
    );
    // Delete with a stale etag is refused; with the current one it deletes.
    let e = client
        .delete_record_set(
            RecordType::A,
            "record1",
            Some(DeleteRecordSetOptions {
                if_match: Some(etag),
                ..Default::default()
            }),
        )
        .await
        .err()
        .ok_or("deleted")?;
    assert!(e.is_precondition_failed());
    let live = first.etag.ok_or("no etag")?;
    let deleted = client
        .delete_record_set(
            RecordType::A,
            "record1",
            Some(DeleteRecordSetOptions {
                if_match: Some(live),
                ..Default::default()
            }),
        )
        .await?;
    assert_eq!(deleted.applied(), Some(Deletion::Deleted));
    Ok(())
}

#[tokio::test]
async fn delete_follows_the_example_and_is_idempotent() -> TestResult {
    let (replay, client) = zone().await?;
    let ex = example("dns/DeleteARecordset.json").ok_or("example")?;
    let name = ex["parameters"]["relativeRecordSetName"]
        .as_str()
        .ok_or("name")?;
    assert_eq!(
        client
            .delete_record_set(RecordType::A, name, None)
            .await?
            .applied(),
        Some(Deletion::Deleted)
    );
    assert_eq!(
        client
            .delete_record_set(RecordType::A, name, None)
            .await?
            .applied(),
        Some(Deletion::AlreadyAbsent)
    );
    let statuses: Vec<u16> = replay.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 204]);
    assert!(
        replay
            .dns_record_set(DNS_SUBSCRIPTION_ID, DNS_RESOURCE_GROUP, DNS_ZONE, "A", name)
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn dry_runs_and_bad_record_sets_send_nothing() -> TestResult {
    let (replay, client) = zone().await?;
    let dry = client
        .set_record_set(
            "api",
            &a_record(300, Ipv4Addr::new(203, 0, 113, 10)),
            Some(SetRecordSetOptions {
                dry_run: true,
                precondition: Precondition::IfNoneMatch,
                ..Default::default()
            }),
        )
        .await?;
    let planned = dry.planned().ok_or("not a dry run")?;
    assert_eq!(planned.method, "PUT");
    assert!(
        planned
            .url
            .ends_with("/dnsZones/zone1/A/api?api-version=2018-05-01")
    );
    assert!(
        planned
            .headers
            .contains(&("if-none-match".to_owned(), "*".to_owned()))
    );
    assert_eq!(
        planned.body,
        Some(
            serde_json::json!({"properties": {"metadata": {"key1": "value1"}, "TTL": 300, "ARecords": [{"ipv4Address": "203.0.113.10"}]}})
        )
    );
    let dry = client
        .delete_record_set(
            RecordType::Cname,
            "record1",
            Some(DeleteRecordSetOptions {
                dry_run: true,
                ..Default::default()
            }),
        )
        .await?;
    assert_eq!(dry.planned().map(|p| p.method.as_str()), Some("DELETE"));
    let cname_at_apex = RecordSetData {
        ttl: 300,
        records: Records::Cname("contoso.com".into()),
        metadata: BTreeMap::new(),
    };
    for (name, data) in [
        ("@", cname_at_apex),
        ("..", a_record(300, Ipv4Addr::LOCALHOST)),
        ("a/b", a_record(300, Ipv4Addr::LOCALHOST)),
        ("api", a_record(0, Ipv4Addr::LOCALHOST)),
    ] {
        let e = client
            .set_record_set(name, &data, None)
            .await
            .err()
            .ok_or("accepted")?;
        assert!(e.is_invalid_input(), "{name}: {e}");
    }
    assert!(replay.requests().is_empty());
    Ok(())
}
