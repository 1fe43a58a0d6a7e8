//! Point-in-time restore through azure_core's Poller: the example body, progress, failure,
//! cancellation, deadlines, resume tokens, both monitor kinds, Retry-After.

use crate::{
    TestResult, applied, arm, arm_options, finish, server_client, server_path, stepping_polling,
};
use fleet_azure::{
    BeginOptions, Error, ErrorKind, OperationState, Outcome, PollSettings, RestoreRequest,
    ResumeOptions, ResumeToken, ServerRestore, ServerState, StatusKind,
};
use fleet_testkit::azure::{
    AzureReplay, OperationOutcome, OperationPlan, RESOURCE_GROUP, SERVER, STATUS_API_VERSION,
    SUBSCRIPTION_ID, example,
};
use futures::TryStreamExt;
use jiff::Timestamp;
use std::time::{Duration, Instant};

fn ts(s: &str) -> Result<Timestamp, jiff::Error> {
    s.parse()
}

fn example_restore() -> Result<RestoreRequest, jiff::Error> {
    Ok(RestoreRequest {
        target_server_name: "exampleserver-restored".into(),
        point_in_time: ts("2025-06-01T18:35:22.123456Z")?,
        source_server_name: Some("examplesourceserver".into()),
    })
}

#[tokio::test]
async fn restore_sends_the_example_body_and_succeeds_after_polls() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 4,
        ..OperationPlan::default()
    });
    let poller = client
        .begin_point_in_time_restore(
            &example_restore()?,
            Some(BeginOptions::default().with_polling(stepping_polling())),
        )
        .await?;
    let (statuses, outcome) = finish(poller).await?;
    assert_eq!(statuses.len(), 6, "accepted + 4 in progress + succeeded");
    let last = statuses.last().ok_or("no status")?;
    assert_eq!(last.status, OperationState::Succeeded);
    assert_eq!(last.polls, 5);
    let token = last.resume_token.as_ref().ok_or("no token")?;
    assert!(
        token
            .status_url
            .ends_with(&format!("?api-version={STATUS_API_VERSION}"))
    );
    let Outcome::Applied(server) = outcome else {
        return Err("not applied".into());
    };
    assert_eq!(server.state, ServerState::Ready);
    assert_eq!(server.version.as_deref(), Some("17"));
    assert_eq!(
        server.fqdn.as_deref(),
        Some("exampleserver-restored.postgres.database.azure.com")
    );
    assert_eq!(server.location, "eastus");

    let requests = replay.requests();
    let put = requests
        .iter()
        .find(|r| r.method == "PUT")
        .ok_or("no PUT")?;
    assert_eq!(put.path, server_path("exampleserver-restored"));
    assert_eq!(put.query.as_deref(), Some("api-version=2025-08-01"));
    assert_eq!(put.header("content-type"), Some("application/json"));
    let ex = example("postgresql/ServersCreatePointInTimeRestore.json").ok_or("example")?;
    assert_eq!(
        put.body_json(),
        Some(ex["parameters"]["parameters"].clone())
    );
    // Only a read of the source happened before the PUT.
    let before_put: Vec<_> = requests.iter().take_while(|r| r.method != "PUT").collect();
    assert_eq!(before_put.len(), 1);
    assert_eq!(before_put[0].path, server_path("examplesourceserver"));
    Ok(())
}

#[tokio::test]
async fn zero_waits_are_polled_through_without_yielding() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 4,
        ..OperationPlan::default()
    });
    let poller = client
        .begin_point_in_time_restore(&example_restore()?, None)
        .await?;
    let (statuses, outcome) = finish(poller).await?;
    assert_eq!(statuses.len(), 1, "only the final status: {statuses:?}");
    assert_eq!(statuses[0].polls, 5);
    assert!(matches!(outcome, Outcome::Applied(_)));
    Ok(())
}

#[tokio::test]
async fn a_restore_dry_run_reads_the_source_and_returns_the_put() -> TestResult {
    let (replay, client) = server_client().await?;
    let (_, outcome) = finish(
        client
            .begin_point_in_time_restore(&example_restore()?, Some(BeginOptions::dry_run()))
            .await?,
    )
    .await?;
    let planned = outcome.planned().ok_or("not a dry run")?;
    let ex = example("postgresql/ServersCreatePointInTimeRestore.json").ok_or("example")?;
    assert_eq!(planned.method, "PUT");
    assert_eq!(planned.body, Some(ex["parameters"]["parameters"].clone()));
    assert!(
        planned
            .url
            .ends_with("/flexibleServers/exampleserver-restored?api-version=2025-08-01")
    );
    assert!(replay.requests().iter().all(|r| r.method == "GET"));
    assert!(replay.server("exampleserver-restored").is_none());
    Ok(())
}

#[tokio::test]
async fn failed_restore_surfaces_azures_code_and_message() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 2,
        outcome: OperationOutcome::Failed {
            code: "AggregateException".into(),
            message: "Mismatch in count of number of Commited-Blocks from service.".into(),
        },
        ..OperationPlan::default()
    });
    let poller = client
        .begin_point_in_time_restore(&example_restore()?, None)
        .await?;
    let e = finish(poller).await.err().ok_or("expected a failure")?;
    assert_eq!(e.kind(), ErrorKind::OperationFailed);
    assert_eq!(e.azure_code(), Some("AggregateException"));
    match &e {
        Error::OperationFailed {
            status,
            message,
            status_url,
            ..
        } => {
            assert_eq!(*status, fleet_azure::OperationEnd::Failed);
            assert!(message.contains("Commited-Blocks"));
            assert!(status_url.contains("/azureAsyncOperation/"));
        }
        other => return Err(format!("unexpected {other:?}").into()),
    }
    assert!(replay.server("exampleserver-restored").is_none());
    Ok(())
}

#[tokio::test]
async fn canceled_restore_is_an_operation_failure_named_canceled() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 1,
        outcome: OperationOutcome::Canceled,
        ..OperationPlan::default()
    });
    let poller = client
        .begin_point_in_time_restore(&example_restore()?, None)
        .await?;
    let e = poller
        .await
        .err()
        .map(Error::from)
        .ok_or("expected cancellation")?;
    assert_eq!(e.azure_code(), Some("Canceled"));
    assert!(matches!(
        &e,
        Error::OperationFailed {
            status: fleet_azure::OperationEnd::Canceled,
            ..
        }
    ));
    Ok(())
}

#[tokio::test]
async fn the_poller_times_out_with_a_resume_token() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 0,
        outcome: OperationOutcome::Never,
        retry_after_secs: None,
        ..OperationPlan::default()
    });
    let started = Instant::now();
    let poller = client
        .begin_point_in_time_restore(
            &example_restore()?,
            Some(BeginOptions::default().with_polling(PollSettings {
                default_interval: Duration::from_millis(20),
                min_interval: Duration::ZERO,
                max_interval: Duration::from_secs(1),
                timeout: Duration::from_millis(300),
            })),
        )
        .await?;
    let e = finish(poller).await.err().ok_or("expected a timeout")?;
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.is_timeout());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    let token = e.resume_token().ok_or("no resume token")?;
    assert!(token.status_url.contains("/azureAsyncOperation/"));
    assert_eq!(token.kind, StatusKind::AzureAsyncOperation);
    Ok(())
}

#[tokio::test]
async fn a_restarted_tool_resumes_from_the_token() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 5,
        ..OperationPlan::default()
    });
    let mut poller = client
        .begin_point_in_time_restore(
            &example_restore()?,
            Some(BeginOptions::default().with_polling(stepping_polling())),
        )
        .await?;
    // The tool reads two statuses, persists the token and exits.
    poller.try_next().await?.ok_or("no status")?;
    let second = poller.try_next().await?.ok_or("no status")?.into_model()?;
    assert!(matches!(second.status, OperationState::InProgress(_)));
    let saved = serde_json::to_string(&second.resume_token.ok_or("no token")?)?;
    drop(poller);

    let token: ResumeToken = serde_json::from_str(&saved)?;
    assert_eq!(token.kind, StatusKind::AzureAsyncOperation);
    let resumed = client.resume_point_in_time_restore(&token, None)?;
    let (statuses, outcome) = finish(resumed).await?;
    assert_eq!(
        statuses.last().map(|s| s.polls),
        Some(5),
        "4 more in progress + 1 succeeded"
    );
    let Outcome::Applied(server) = outcome else {
        return Err("not applied".into());
    };
    assert_eq!(server.state, ServerState::Ready);
    Ok(())
}

#[tokio::test]
async fn location_monitors_are_followed_too() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 2,
        ..OperationPlan::default()
    });
    let mut poller = client
        .begin_point_in_time_restore(
            &example_restore()?,
            Some(BeginOptions::default().with_polling(stepping_polling())),
        )
        .await?;
    let first = poller.try_next().await?.ok_or("no status")?.into_model()?;
    drop(poller);
    let async_token = first.resume_token.ok_or("no token")?;
    let location = async_token
        .status_url
        .replace("/azureAsyncOperation/", "/operationResults/");
    let token =
        ResumeToken::from_status_url("restore", &location, async_token.resource_url.as_deref());
    assert_eq!(token.kind, StatusKind::Location);
    let server = applied(client.resume_point_in_time_restore(&token, None)?).await?;
    assert_eq!(server.name, "exampleserver-restored");
    let statuses: Vec<u16> = replay
        .requests()
        .iter()
        .filter(|r| r.path.contains("/operationResults/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [202, 202, 200]);
    Ok(())
}

#[tokio::test]
async fn resume_tokens_for_other_hosts_or_resources_are_refused() -> TestResult {
    let (replay, client) = server_client().await?;
    let resource = format!(
        "{}{}?api-version=2025-08-01",
        replay.base_url(),
        server_path("exampleserver-restored")
    );
    let token = ResumeToken::from_status_url(
        "restore",
        "https://attacker.example/subscriptions/x/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/1?api-version=1",
        Some(&resource),
    );
    let e = client
        .resume_point_in_time_restore(&token, None)
        .err()
        .ok_or("expected refusal")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    let mut other = token.clone();
    other.status_url = resource.replace(
        "/flexibleServers/exampleserver-restored",
        "/azureAsyncOperation/1",
    );
    other.resource_url =
        Some(resource.replace(SUBSCRIPTION_ID, "aaaaaaaa-0000-0000-0000-000000000000"));
    let e = client
        .resume_point_in_time_restore(&other, Some(ResumeOptions::default()))
        .err()
        .ok_or("expected refusal")?;
    assert!(e.is_invalid_input(), "{e}");
    Ok(())
}

#[tokio::test]
async fn retry_after_on_accepted_operations_is_honoured() -> TestResult {
    let replay = AzureReplay::start().await?;
    let mut options = arm_options(&replay);
    options.polling.max_interval = Duration::from_secs(5);
    let client =
        arm(&replay, options)?.flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 0,
        outcome: OperationOutcome::Succeeded,
        retry_after_secs: Some(1),
        ..OperationPlan::default()
    });
    let poller = client
        .begin_point_in_time_restore(&example_restore()?, None)
        .await?;
    let started = Instant::now();
    applied(poller).await?;
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn invalid_restores_are_refused_before_any_request() -> TestResult {
    let (replay, client) = server_client().await?;
    let base = example_restore()?;
    let cases = [
        RestoreRequest {
            target_server_name: "ab".into(),
            ..base.clone()
        },
        RestoreRequest {
            target_server_name: "Example-Restored".into(),
            ..base.clone()
        },
        RestoreRequest {
            target_server_name: "under_score".into(),
            ..base.clone()
        },
        RestoreRequest {
            target_server_name: "x".repeat(64),
            ..base.clone()
        },
        RestoreRequest {
            point_in_time: Timestamp::now().checked_add(jiff::SignedDuration::from_hours(1))?,
            ..base.clone()
        },
        RestoreRequest {
            target_server_name: "examplesourceserver".into(),
            ..base.clone()
        },
    ];
    for case in cases {
        let e = client
            .begin_point_in_time_restore(&case, None)
            .await
            .err()
            .ok_or("accepted")?;
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{case:?}: {e}");
    }
    assert!(replay.requests().is_empty(), "{:?}", replay.requests());
    // Before the server's earliest restore point: refused after reading the source, before
    // the PUT. (A retention window is the caller's policy, not checked here.)
    let early = RestoreRequest {
        point_in_time: ts("2025-06-01T18:00:00Z")?,
        ..base
    };
    let e = client
        .begin_point_in_time_restore(&early, None)
        .await
        .err()
        .ok_or("accepted")?;
    assert!(e.to_string().contains("earliest restore point"), "{e}");
    assert!(replay.requests().iter().all(|r| r.method == "GET"));
    Ok(())
}

#[tokio::test]
async fn restoring_onto_an_existing_server_is_a_conflict() -> TestResult {
    let (_replay, client) = server_client().await?;
    let request = RestoreRequest {
        target_server_name: "exampleserver".into(),
        source_server_name: Some("examplesourceserver".into()),
        ..example_restore()?
    };
    let e = client
        .begin_point_in_time_restore(&request, None)
        .await
        .err()
        .ok_or("accepted")?;
    assert!(e.is_conflict(), "{e}");
    Ok(())
}
