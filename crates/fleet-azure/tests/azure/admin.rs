//! The administrator password change (`PATCH` of the server): the password reaches the wire
//! and nothing else: not a log line, an error, a `Debug` output or a dry run.

use crate::{LogCapture, TestResult, applied, finish, server_client, server_path};
use fleet_azure::{BeginOptions, ErrorKind, REDACTED, SecretValue, ServerAdmin, ServerState};
use fleet_testkit::azure::{FaultKind, FaultTarget, example};

const PASSWORD: &str = "Examp1e-N3w-Passw0rd!";

#[tokio::test]
async fn the_password_goes_in_the_patch_and_nowhere_else() -> TestResult {
    let logs = LogCapture::start();
    let (replay, client) = server_client().await?;
    let password = SecretValue::new(PASSWORD);
    let poller = client.begin_update_admin_password(&password, None).await?;
    let (statuses, outcome) = finish(poller).await?;
    let server = outcome.applied().ok_or("not applied")?;
    assert_eq!(server.state, ServerState::Ready);
    assert_eq!(
        server.administrator_login.as_deref(),
        Some("exampleadministratorlogin")
    );

    let patch = replay
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .ok_or("no PATCH")?;
    assert_eq!(patch.path, server_path("exampleserver"));
    assert_eq!(patch.query.as_deref(), Some("api-version=2025-08-01"));
    assert_eq!(patch.header("content-type"), Some("application/json"));
    assert_eq!(
        patch.body_json(),
        Some(serde_json::json!({"properties": {"administratorLoginPassword": PASSWORD}}))
    );
    // The example changes the password with the same field (alongside other settings).
    let ex = example("postgresql/ServersUpdate.json").ok_or("example")?;
    assert!(ex["parameters"]["parameters"]["properties"]["administratorLoginPassword"].is_string());
    assert!(
        replay
            .server("exampleserver")
            .is_some_and(|s| !s.to_string().contains(PASSWORD))
    );

    let debug = format!("{statuses:?} {server:?} {client:?} {password:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    let text = logs.text();
    assert!(
        text.contains("long-running operation"),
        "the capture works: {text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
    Ok(())
}

#[tokio::test]
async fn the_dry_run_redacts_the_password() -> TestResult {
    let logs = LogCapture::start();
    let (replay, client) = server_client().await?;
    let (statuses, outcome) = finish(
        client
            .begin_update_admin_password(&SecretValue::new(PASSWORD), Some(BeginOptions::dry_run()))
            .await?,
    )
    .await?;
    let planned = outcome.planned().ok_or("not a dry run")?;
    assert_eq!(planned.method, "PATCH");
    assert_eq!(
        planned.body,
        Some(serde_json::json!({"properties": {"administratorLoginPassword": REDACTED}}))
    );
    for text in [
        planned.to_string(),
        serde_json::to_string(&outcome)?,
        format!("{outcome:?} {statuses:?}"),
        logs.text(),
    ] {
        assert!(!text.contains(PASSWORD), "{text}");
    }
    assert!(replay.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn errors_never_carry_the_password() -> TestResult {
    let logs = LogCapture::start();
    let (replay, client) = server_client().await?;
    replay.inject(
        FaultTarget::method_path("PATCH", "/flexibleservers/exampleserver"),
        FaultKind::Status {
            status: 400,
            code: "PasswordNotComplex".into(),
        },
        1,
    );
    let e = client
        .begin_update_admin_password(&SecretValue::new(PASSWORD), None)
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.azure_code(), Some("PasswordNotComplex"));
    assert!(!format!("{e} {e:?}").contains(PASSWORD));
    // Weak passwords are refused before any request, without echoing them.
    for weak in ["short1A", "alllowercaseletters"] {
        let e = client
            .begin_update_admin_password(&SecretValue::new(weak), None)
            .await
            .err()
            .ok_or("accepted")?;
        assert!(e.is_invalid_input());
        assert!(!format!("{e} {e:?}").contains(weak));
    }
    assert_eq!(replay.requests().len(), 1);
    assert!(!logs.text().contains(PASSWORD));
    // And a successful change afterwards works.
    applied(
        client
            .begin_update_admin_password(&SecretValue::new(PASSWORD), None)
            .await?,
    )
    .await?;
    Ok(())
}
