//! Server parameters against the 2025-08-01 examples: get, update (PATCH) as a long-running
//! operation, static parameters pending a restart, dry runs.

use crate::{TestResult, applied, finish, server_client, server_path};
use fleet_azure::{BeginOptions, ServerParameters};
use fleet_testkit::azure::example;

#[tokio::test]
async fn get_reads_the_example() -> TestResult {
    let (replay, client) = server_client().await?;
    let ex = example("postgresql/ConfigurationsGet.json").ok_or("example")?;
    let name = ex["parameters"]["configurationName"]
        .as_str()
        .ok_or("name")?;
    let p = client.get_parameter(name, None).await?;
    let props = &ex["responses"]["200"]["body"]["properties"];
    assert_eq!(p.name, "array_nulls");
    assert_eq!(p.value.as_deref(), props["value"].as_str());
    assert_eq!(p.allowed_values.as_deref(), Some("on,off"));
    assert_eq!(p.data_type.as_deref(), Some("Boolean"));
    assert_eq!(p.is_dynamic, Some(true));
    assert_eq!(p.is_pending_restart, Some(false));
    let get = replay.requests().pop().ok_or("no request")?;
    assert_eq!(
        get.path,
        format!("{}/configurations/{name}", server_path("exampleserver"))
    );
    assert_eq!(get.query.as_deref(), Some("api-version=2025-08-01"));
    assert!(
        client
            .get_parameter("no_such_parameter", None)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    Ok(())
}

#[tokio::test]
async fn update_sends_the_examples_patch() -> TestResult {
    let (replay, client) = server_client().await?;
    let ex = example("postgresql/ConfigurationsUpdate.json").ok_or("example")?;
    let name = ex["parameters"]["configurationName"]
        .as_str()
        .ok_or("name")?;
    let value = ex["parameters"]["parameters"]["properties"]["value"]
        .as_str()
        .ok_or("value")?;
    let updated = applied(client.begin_update_parameter(name, value, None).await?).await?;
    assert_eq!(updated.value.as_deref(), Some("on"));
    assert_eq!(updated.source.as_deref(), Some("user-override"));
    let patch = replay
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .ok_or("no PATCH")?;
    assert_eq!(
        patch.path,
        format!("{}/configurations/{name}", server_path("exampleserver"))
    );
    assert_eq!(patch.query.as_deref(), Some("api-version=2025-08-01"));
    assert_eq!(
        patch.body_json(),
        Some(ex["parameters"]["parameters"].clone())
    );
    // The PUT example carries the same body.
    let put = example("postgresql/ConfigurationsUpdateUsingPut.json").ok_or("example")?;
    assert_eq!(
        put["parameters"]["parameters"],
        ex["parameters"]["parameters"]
    );
    Ok(())
}

#[tokio::test]
async fn a_static_parameter_is_pending_a_restart_after_its_change() -> TestResult {
    let (_replay, client) = server_client().await?;
    let before = client.get_parameter("max_connections", None).await?;
    assert_eq!(before.is_dynamic, Some(false));
    let after = applied(
        client
            .begin_update_parameter("max_connections", "1000", None)
            .await?,
    )
    .await?;
    assert_eq!(after.value.as_deref(), Some("1000"));
    assert_eq!(after.is_pending_restart, Some(true));
    Ok(())
}

#[tokio::test]
async fn a_dry_run_returns_the_patch() -> TestResult {
    let (replay, client) = server_client().await?;
    let (_, outcome) = finish(
        client
            .begin_update_parameter("max_connections", "1000", Some(BeginOptions::dry_run()))
            .await?,
    )
    .await?;
    let planned = outcome.planned().ok_or("not a dry run")?;
    assert_eq!(planned.method, "PATCH");
    assert_eq!(
        planned.body,
        Some(serde_json::json!({"properties": {"value": "1000", "source": "user-override"}}))
    );
    for (name, value) in [("..", "x"), ("bad name", "x"), ("work_mem", "a\nb")] {
        assert!(
            client
                .begin_update_parameter(name, value, None)
                .await
                .is_err_and(|e| e.is_invalid_input()),
            "{name:?}"
        );
    }
    assert!(replay.requests().is_empty());
    Ok(())
}
