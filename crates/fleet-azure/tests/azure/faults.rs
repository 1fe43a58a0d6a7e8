//! Throttling, 5xx bursts, auth failures, malformed bodies and the HTTPS requirement.

use crate::{TestResult, arm, arm_options, finish, server_client};
use fleet_azure::{
    ArmClient, Error, ErrorKind, FlexibleServerClient, ServerBackup, ServerBackups, ServerRestore,
};
use fleet_testkit::azure::{
    AzureReplay, FaultKind, FaultTarget, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID,
};
use futures::TryStreamExt;
use std::time::{Duration, Instant};

pub(crate) async fn list(client: &FlexibleServerClient) -> Result<Vec<ServerBackup>, Error> {
    Ok(client.list_backups(None)?.try_collect().await?)
}

#[tokio::test]
async fn throttling_is_retried_and_then_succeeds() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.inject(
        FaultTarget::path("/backups"),
        FaultKind::Throttle {
            retry_after_secs: 0,
        },
        2,
    );
    assert_eq!(list(&client).await?.len(), 2);
    let statuses: Vec<u16> = replay.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    Ok(())
}

#[tokio::test]
async fn throttling_waits_for_retry_after() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.inject(
        FaultTarget::path("/backups"),
        FaultKind::Throttle {
            retry_after_secs: 1,
        },
        1,
    );
    let started = Instant::now();
    list(&client).await?;
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn throttling_past_the_budget_is_a_typed_error() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.inject(
        FaultTarget::path("/backups"),
        FaultKind::Throttle {
            retry_after_secs: 0,
        },
        10,
    );
    let e = list(&client).await.err().ok_or("expected throttling")?;
    assert_eq!(e.kind(), ErrorKind::Throttled);
    assert!(e.is_transient());
    assert_eq!(e.status(), Some(429));
    assert_eq!(e.azure_code(), Some("TooManyRequests"));
    assert!(matches!(e, Error::Service { retry_after: Some(d), .. } if d == Duration::ZERO));
    assert_eq!(replay.requests().len(), 4, "first try + 3 retries");
    Ok(())
}

#[tokio::test]
async fn server_error_bursts_are_retried() -> TestResult {
    let (replay, client) = server_client().await?;
    let target = FaultTarget::method_path("GET", "/flexibleservers/exampleserver");
    replay.inject(
        target.clone(),
        FaultKind::Status {
            status: 503,
            code: "ServiceUnavailable".into(),
        },
        1,
    );
    replay.inject(
        target,
        FaultKind::Status {
            status: 500,
            code: "InternalServerError".into(),
        },
        2,
    );
    let server = client.get_server("exampleserver", None).await?;
    assert_eq!(server.name, "exampleserver");
    let statuses: Vec<u16> = replay.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 500, 500, 200]);
    Ok(())
}

#[tokio::test]
async fn server_errors_past_the_budget_are_transient() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.inject(
        FaultTarget::any(),
        FaultKind::Status {
            status: 502,
            code: "BadGateway".into(),
        },
        20,
    );
    let e = client
        .get_server("exampleserver", None)
        .await
        .err()
        .ok_or("expected failure")?;
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert_eq!(e.status(), Some(502));
    assert_eq!(replay.requests().len(), 4);
    Ok(())
}

#[tokio::test]
async fn non_retryable_statuses_are_not_retried() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.inject(
        FaultTarget::any(),
        FaultKind::Status {
            status: 400,
            code: "InvalidParameter".into(),
        },
        5,
    );
    let e = client
        .get_server("exampleserver", None)
        .await
        .err()
        .ok_or("expected failure")?;
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.azure_code(), Some("InvalidParameter"));
    assert_eq!(replay.requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn unauthorized_and_forbidden_are_typed() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.inject(FaultTarget::any(), FaultKind::Unauthorized, 1);
    let e = list(&client).await.err().ok_or("expected 401")?;
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.is_auth());
    assert_eq!(e.azure_code(), Some("InvalidAuthenticationToken"));
    replay.inject(FaultTarget::any(), FaultKind::Forbidden, 1);
    let e = client
        .get_server("exampleserver", None)
        .await
        .err()
        .ok_or("expected 403")?;
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert_eq!(e.azure_code(), Some("AuthorizationFailed"));
    assert_eq!(replay.requests().len(), 2, "neither is retried");
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors_not_panics() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.inject(FaultTarget::any(), FaultKind::MalformedBody, 3);
    for e in [
        list(&client).await.err(),
        client.get_server("exampleserver", None).await.err(),
        client
            .get_backup("backup_638830782181266873", None)
            .await
            .err(),
    ] {
        let e = e.ok_or("expected an error")?;
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn malformed_status_monitor_is_a_typed_error() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.inject(
        FaultTarget::path("/azureasyncoperation/"),
        FaultKind::MalformedBody,
        1,
    );
    let e = finish(client.begin_create_backup("m1", None).await?)
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e}");
    Ok(())
}

#[tokio::test]
async fn plain_http_endpoints_are_refused() -> TestResult {
    let replay = AzureReplay::start().await?;
    let e = ArmClient::new(
        &replay.base_url().replace("https://", "http://"),
        replay.credential(),
        Some(arm_options(&replay)),
    )
    .err()
    .ok_or("plain HTTP was accepted")?;
    assert!(e.is_invalid_input(), "{e}");
    assert!(e.to_string().contains("https"), "{e}");
    assert!(replay.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn the_replay_certificate_is_not_trusted_by_default_clients() -> TestResult {
    let replay = AzureReplay::start().await?;
    // azure_core's default client uses the system roots, which do not include the per-run
    // certificate: the TLS handshake fails and nothing is served.
    let mut options = arm_options(&replay);
    options.client_options.transport = None;
    let client =
        arm(&replay, options)?.flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)?;
    let e = client
        .get_server("exampleserver", None)
        .await
        .err()
        .ok_or("untrusted cert accepted")?;
    assert!(
        matches!(e.kind(), ErrorKind::Transient | ErrorKind::Other),
        "{e}"
    );
    assert!(replay.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_transport_trusting_the_replay_certificate_works() -> TestResult {
    let replay = AzureReplay::start().await?;
    let mut options = arm_options(&replay);
    options.client_options.transport = Some(fleet_azure::transport_trusting(
        replay.ca_certificate_pem().as_bytes(),
    )?);
    let client =
        arm(&replay, options)?.flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)?;
    assert_eq!(client.get_server(SERVER, None).await?.name, SERVER);
    Ok(())
}
