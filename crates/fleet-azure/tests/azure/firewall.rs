//! Firewall rules against the 2025-08-01 examples: list (paged), get, set and delete as
//! long-running operations, dry runs, input checks.

use crate::{TestResult, applied, finish, server_client, server_path};
use fleet_azure::{BeginOptions, Deletion, FirewallRule, FirewallRules};
use fleet_testkit::azure::{STATUS_API_VERSION, example};
use futures::TryStreamExt;
use std::net::Ipv4Addr;

#[tokio::test]
async fn list_and_get_read_the_examples() -> TestResult {
    let (replay, client) = server_client().await?;
    let rules: Vec<FirewallRule> = client.list_firewall_rules(None)?.try_collect().await?;
    let ex = example("postgresql/FirewallRulesListByServer.json").ok_or("example")?;
    let listed = ex["responses"]["200"]["body"]["value"]
        .as_array()
        .ok_or("value")?;
    for (rule, raw) in rules.iter().zip(listed) {
        assert_eq!(rule.name, raw["name"].as_str().ok_or("name")?);
        assert_eq!(
            rule.start_ip_address.to_string(),
            raw["properties"]["startIpAddress"].as_str().ok_or("ip")?
        );
    }
    assert_eq!(rules[1].end_ip_address, Ipv4Addr::new(255, 0, 0, 0));
    let list = &replay.requests()[0];
    assert_eq!(
        list.path,
        format!("{}/firewallRules", server_path("exampleserver"))
    );
    assert_eq!(
        list.query_param("api-version").as_deref(),
        Some("2025-08-01")
    );

    let get_ex = example("postgresql/FirewallRulesGet.json").ok_or("example")?;
    let name = get_ex["parameters"]["firewallRuleName"]
        .as_str()
        .ok_or("name")?;
    let rule = client.get_firewall_rule(name, None).await?;
    // The example's id says `servers/`, not `flexibleServers/`: names are never read from ids.
    assert_eq!(rule.name, name);
    assert_eq!(rule.start_ip_address, Ipv4Addr::UNSPECIFIED);
    assert_eq!(rule.end_ip_address, Ipv4Addr::BROADCAST);
    let get = replay.requests().pop().ok_or("no request")?;
    assert_eq!(
        get.path,
        format!("{}/firewallRules/{name}", server_path("exampleserver"))
    );
    let e = client
        .get_firewall_rule("nope", None)
        .await
        .err()
        .ok_or("found")?;
    assert!(e.is_not_found());
    Ok(())
}

#[tokio::test]
async fn paged_lists_follow_the_examples_next_link_shape() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_page_size(Some(2));
    let rules: Vec<FirewallRule> = client.list_firewall_rules(None)?.try_collect().await?;
    assert_eq!(rules.len(), 3);
    let requests = replay.requests();
    assert_eq!(requests.len(), 2);
    // Like the example's nextLink: `//` after the subscription, a preview api-version and a
    // $skiptoken, used verbatim.
    assert!(
        requests[1].path.contains("//resourceGroups/"),
        "{}",
        requests[1].path
    );
    assert_eq!(
        requests[1].query_param("api-version").as_deref(),
        Some(STATUS_API_VERSION)
    );
    assert_eq!(requests[1].query_param("$skiptoken").as_deref(), Some("2"));
    Ok(())
}

#[tokio::test]
async fn set_sends_the_examples_put_and_reads_the_rule_back() -> TestResult {
    let (replay, client) = server_client().await?;
    let ex = example("postgresql/FirewallRulesCreateOrUpdate.json").ok_or("example")?;
    let name = ex["parameters"]["firewallRuleName"]
        .as_str()
        .ok_or("name")?;
    let rule = FirewallRule::new(name, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST);
    let set = applied(client.begin_set_firewall_rule(&rule, None).await?).await?;
    assert_eq!(set, rule);
    let put = replay
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .ok_or("no PUT")?;
    assert_eq!(
        put.path,
        format!("{}/firewallRules/{name}", server_path("exampleserver"))
    );
    assert_eq!(put.query.as_deref(), Some("api-version=2025-08-01"));
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert_eq!(
        put.body_json(),
        Some(ex["parameters"]["parameters"].clone())
    );
    assert_eq!(put.status, 202);
    // A narrower rule replaces it.
    let narrow = FirewallRule::new(name, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 9));
    assert_eq!(
        applied(client.begin_set_firewall_rule(&narrow, None).await?).await?,
        narrow
    );
    assert_eq!(client.get_firewall_rule(name, None).await?, narrow);
    Ok(())
}

#[tokio::test]
async fn delete_follows_the_example_and_is_idempotent() -> TestResult {
    let (replay, client) = server_client().await?;
    let ex = example("postgresql/FirewallRulesDelete.json").ok_or("example")?;
    let name = ex["parameters"]["firewallRuleName"]
        .as_str()
        .ok_or("name")?;
    assert_eq!(
        applied(client.begin_delete_firewall_rule(name, None).await?).await?,
        Deletion::Deleted
    );
    assert!(
        !replay
            .firewall_rule_names("exampleserver")
            .contains(&name.to_owned())
    );
    assert_eq!(
        applied(client.begin_delete_firewall_rule(name, None).await?).await?,
        Deletion::AlreadyAbsent
    );
    let statuses: Vec<u16> = replay
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [202, 204]);
    Ok(())
}

#[tokio::test]
async fn dry_runs_and_bad_rules_send_nothing() -> TestResult {
    let (replay, client) = server_client().await?;
    let rule = FirewallRule::new(
        "office",
        Ipv4Addr::new(203, 0, 113, 1),
        Ipv4Addr::new(203, 0, 113, 9),
    );
    let (_, outcome) = finish(
        client
            .begin_set_firewall_rule(&rule, Some(BeginOptions::dry_run()))
            .await?,
    )
    .await?;
    let planned = outcome.planned().ok_or("not a dry run")?;
    assert_eq!(planned.method, "PUT");
    assert_eq!(
        planned.body,
        Some(
            serde_json::json!({"properties": {"startIpAddress": "203.0.113.1", "endIpAddress": "203.0.113.9"}})
        )
    );
    let (_, outcome) = finish(
        client
            .begin_delete_firewall_rule("office", Some(BeginOptions::dry_run()))
            .await?,
    )
    .await?;
    assert_eq!(outcome.planned().map(|p| p.method.as_str()), Some("DELETE"));
    for bad in [
        FirewallRule::new(
            "backwards",
            Ipv4Addr::new(10, 0, 0, 9),
            Ipv4Addr::new(10, 0, 0, 1),
        ),
        FirewallRule::new("-lead", Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST),
        FirewallRule::new("..", Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST),
    ] {
        let e = client
            .begin_set_firewall_rule(&bad, None)
            .await
            .err()
            .ok_or("accepted")?;
        assert!(e.is_invalid_input(), "{bad:?}: {e}");
    }
    assert!(replay.requests().is_empty());
    Ok(())
}
