//! Issue 10's faults: names that resolve to another resource, unbounded `Retry-After` waits,
//! operations without deadlines, unbounded bodies, status URLs that move to another host,
//! token fetches without a deadline.

use crate::{TestResult, arm, arm_options, finish, server_client, stepping_polling};
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use fleet_azure::{
    ArmClient, BeginOptions, ErrorKind, Limits, ListOptions, PollSettings, RestoreRequest,
    ResumeToken, ServerBackups, ServerRestore,
};
use fleet_testkit::azure::{
    AzureReplay, FaultKind, FaultTarget, OperationPlan, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fails a test that would otherwise hang.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> Result<T, &'static str> {
    tokio::time::timeout(Duration::from_secs(15), f)
        .await
        .map_err(|_| "did not finish: an unbounded wait")
}

fn client_with(
    replay: &AzureReplay,
    limits: Limits,
) -> Result<fleet_azure::FlexibleServerClient, fleet_azure::Error> {
    let mut options = arm_options(replay);
    options.limits = limits;
    arm(replay, options)?.flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)
}

/// `..` used to pass validation, and `DELETE .../backups/..` normalised onto the server.
#[tokio::test]
async fn backup_names_of_dots_never_reach_the_server() -> TestResult {
    let (replay, client) = server_client().await?;
    for name in ["..", ".", "...", "a/..", "%2e%2e"] {
        let e = client
            .begin_delete_backup(name, None)
            .await
            .err()
            .ok_or("accepted")?;
        assert!(e.is_invalid_input(), "{name:?}: {e}");
        assert!(
            client
                .get_backup(name, None)
                .await
                .is_err_and(|e| e.is_invalid_input())
        );
        assert!(
            client
                .begin_create_backup(name, None)
                .await
                .is_err_and(|e| e.is_invalid_input())
        );
    }
    assert!(replay.requests().is_empty(), "{:?}", replay.requests());
    assert!(replay.server(SERVER).is_some());
    Ok(())
}

#[tokio::test]
async fn a_huge_retry_after_on_throttling_is_capped() -> TestResult {
    let replay = AzureReplay::start().await?;
    let client = client_with(
        &replay,
        Limits {
            max_retry_after: Duration::from_millis(200),
            ..Limits::default()
        },
    )?;
    for value in [
        "99999999999",
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        replay.inject(
            FaultTarget::path("/flexibleservers/exampleserver"),
            FaultKind::RetryAfter {
                status: 429,
                value: value.into(),
            },
            1,
        );
        let started = Instant::now();
        bounded(client.get_server(SERVER, None)).await??;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{value}: {:?}",
            started.elapsed()
        );
    }
    let statuses: Vec<u16> = replay.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200, 429, 200, 429, 200]);
    Ok(())
}

#[tokio::test]
async fn garbage_and_negative_retry_after_values_fall_back_to_the_backoff() -> TestResult {
    let replay = AzureReplay::start().await?;
    let client = client_with(&replay, Limits::default())?;
    for value in ["-5", "soon", ""] {
        replay.inject(
            FaultTarget::path("/flexibleservers/exampleserver"),
            FaultKind::RetryAfter {
                status: 503,
                value: value.into(),
            },
            1,
        );
        bounded(client.get_server(SERVER, None)).await??;
    }
    Ok(())
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_ends_at_the_deadline() -> TestResult {
    let replay = AzureReplay::start().await?;
    let client = client_with(
        &replay,
        Limits {
            operation_timeout: Duration::from_millis(400),
            max_retry_after: Duration::from_secs(60),
            ..Limits::default()
        },
    )?;
    replay.inject(
        FaultTarget::path("/flexibleservers/exampleserver"),
        FaultKind::RetryAfter {
            status: 503,
            value: "30".into(),
        },
        1,
    );
    let started = Instant::now();
    let e = bounded(client.get_server(SERVER, None))
        .await?
        .err()
        .ok_or("no deadline")?;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_huge_retry_after_between_polls_is_capped_without_overflow() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 2,
        retry_after_secs: Some(u32::MAX),
        ..OperationPlan::default()
    });
    let polling = PollSettings {
        default_interval: Duration::from_millis(1),
        min_interval: Duration::from_millis(1),
        max_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(10),
    };
    let started = Instant::now();
    let poller = client
        .begin_create_backup(
            "huge-retry-after",
            Some(BeginOptions::default().with_polling(polling)),
        )
        .await?;
    let (statuses, outcome) = bounded(finish(poller)).await??;
    assert!(outcome.applied().is_some());
    assert_eq!(statuses.last().map(|s| s.polls), Some(3));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A poll timeout far beyond what an Instant can hold saturates instead of panicking.
    let poller = client
        .begin_create_backup(
            "huge-timeout",
            Some(BeginOptions::default().with_polling(PollSettings {
                timeout: Duration::MAX,
                ..stepping_polling()
            })),
        )
        .await?;
    bounded(finish(poller)).await??;
    Ok(())
}

/// A new `Location` (or `Azure-AsyncOperation`) during polling used to replace the status URL
/// without the host check the first one got.
#[tokio::test]
async fn a_monitor_that_moves_to_another_host_is_not_followed() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 3,
        relocate_monitor_to: Some("https://attacker.example".into()),
        ..OperationPlan::default()
    });
    let poller = client
        .begin_create_backup(
            "moved-monitor",
            Some(BeginOptions::default().with_polling(stepping_polling())),
        )
        .await?;
    let e = finish(poller).await.err().ok_or("followed")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e}");
    assert!(e.to_string().contains("attacker.example"), "{e}");
    let polls = replay
        .requests()
        .iter()
        .filter(|r| r.path.contains("/azureAsyncOperation/"))
        .count();
    assert_eq!(
        polls, 1,
        "stopped at the first answer that named another host"
    );

    // The same through a Location monitor, picked up from a token.
    replay.clear_requests();
    let mut poller = client
        .begin_point_in_time_restore(
            &RestoreRequest {
                target_server_name: "moved-restore".into(),
                point_in_time: "2025-06-01T18:35:22.123456Z".parse()?,
                source_server_name: Some("examplesourceserver".into()),
            },
            Some(BeginOptions::default().with_polling(stepping_polling())),
        )
        .await?;
    use futures::TryStreamExt;
    let first = poller.try_next().await?.ok_or("no status")?.into_model()?;
    drop(poller);
    let token = first.resume_token.ok_or("no token")?;
    let location = ResumeToken::from_status_url(
        "restore",
        &token
            .status_url
            .replace("/azureAsyncOperation/", "/operationResults/"),
        token.resource_url.as_deref(),
    );
    let e = finish(client.resume_point_in_time_restore(&location, None)?)
        .await
        .err()
        .ok_or("followed")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e}");
    Ok(())
}

#[tokio::test]
async fn continuations_on_other_hosts_are_refused() -> TestResult {
    let (replay, client) = server_client().await?;
    let e = client
        .list_backups(Some(ListOptions {
            continuation: Some(
                "https://attacker.example/subscriptions/x/backups?$skiptoken=1".into(),
            ),
            ..Default::default()
        }))
        .err()
        .ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(replay.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn bodies_beyond_the_cap_are_typed_errors_also_when_compressed() -> TestResult {
    let replay = AzureReplay::start().await?;
    let client = client_with(
        &replay,
        Limits {
            max_response_bytes: 1024 * 1024,
            ..Limits::default()
        },
    )?;
    for (bytes, gzip) in [(2 * 1024 * 1024, false), (32 * 1024 * 1024, true)] {
        replay.inject(
            FaultTarget::path("/flexibleservers/exampleserver"),
            FaultKind::LargeBody { bytes, gzip },
            1,
        );
        let e = bounded(client.get_server(SERVER, None))
            .await?
            .err()
            .ok_or("read it all")?;
        assert_eq!(
            e.kind(),
            ErrorKind::ResponseTooLarge,
            "{bytes} gzip={gzip}: {e}"
        );
        assert!(e.to_string().contains("1048576-byte cap"), "{e}");
    }
    // Under the cap (compressed or not) the body is read; it is just not a server.
    replay.inject(
        FaultTarget::path("/flexibleservers/exampleserver"),
        FaultKind::LargeBody {
            bytes: 512 * 1024,
            gzip: true,
        },
        1,
    );
    let e = client
        .get_server(SERVER, None)
        .await
        .err()
        .ok_or("parsed")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e}");
    assert_eq!(
        replay.requests().len(),
        3,
        "a too-large body is not retried"
    );
    Ok(())
}

#[derive(Debug)]
struct HangingCredential;

#[async_trait::async_trait]
impl TokenCredential for HangingCredential {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_token_fetch_that_hangs_ends_at_its_deadline() -> TestResult {
    let replay = AzureReplay::start().await?;
    let mut options = arm_options(&replay);
    options.limits.token_timeout = Duration::from_millis(200);
    let client = ArmClient::new(
        replay.base_url(),
        Arc::new(HangingCredential),
        Some(options),
    )?
    .flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)?;
    let started = Instant::now();
    let e = bounded(client.get_server(SERVER, None))
        .await?
        .err()
        .ok_or("no token, yet served")?;
    assert!(e.is_auth(), "{e}");
    assert!(e.to_string().contains("did not finish"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(replay.requests().is_empty());
    Ok(())
}
