//! Backups, restore points, point-in-time restore and the LRO poller.

use crate::{NOW, TestResult, arm_client, server_path};
use fleet_azure::{
    AzureError, BackupKind, BackupSource, DeleteOutcome, ErrorKind, OperationStatus,
    RestoreRequest, ResumeToken, ServerBackups, ServerRestore, ServerState, StatusKind,
};
use fleet_testkit::azure::{OperationOutcome, OperationPlan, STATUS_API_VERSION, example};
use jiff::Timestamp;
use std::time::{Duration, Instant};

fn ts(s: &str) -> Result<Timestamp, jiff::Error> {
    s.parse()
}

#[tokio::test]
async fn list_backups_reads_the_example_and_sends_the_documented_request() -> TestResult {
    let (replay, client) = arm_client().await?;
    let backups = client.list_backups().await?;
    assert_eq!(backups.len(), 2);
    assert_eq!(backups[0].name, "backup_638830782181266873");
    assert_eq!(backups[0].kind, BackupKind::Automatic);
    assert_eq!(backups[0].source, BackupSource::Automatic);
    assert_eq!(
        backups[0].completed_at,
        Some(ts("2025-06-01T14:30:22.123456Z")?)
    );
    assert_eq!(backups[1].kind, BackupKind::OnDemand);
    assert_eq!(backups[1].source, BackupSource::CustomerInitiated);

    let requests = replay.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, format!("{}/backups", server_path("exampleserver")));
    assert_eq!(r.query.as_deref(), Some("api-version=2025-08-01"));
    assert_eq!(r.header("authorization"), Some("Bearer <redacted>"));
    assert_eq!(r.header("accept"), Some("application/json"));
    assert!(r.header("x-ms-client-request-id").is_some());
    assert!(r.body.is_empty());
    // The example's parameters name the same subscription, group and server.
    let ex = example("postgresql/BackupsAutomaticAndOnDemandListByServer.json").ok_or("example")?;
    assert_eq!(ex["parameters"]["api-version"], "2025-08-01");
    assert!(
        r.path
            .contains(ex["parameters"]["serverName"].as_str().ok_or("name")?)
    );
    Ok(())
}

#[tokio::test]
async fn get_backup_and_missing_backup() -> TestResult {
    let (replay, client) = arm_client().await?;
    let b = client.get_backup("ondemandbackup-20250601T183022").await?;
    assert_eq!(b.kind, BackupKind::OnDemand);
    let get = replay.requests().pop().ok_or("no request")?;
    assert_eq!(get.method, "GET");
    assert_eq!(
        get.path,
        format!(
            "{}/backups/ondemandbackup-20250601T183022",
            server_path("exampleserver")
        )
    );
    assert_eq!(get.query.as_deref(), Some("api-version=2025-08-01"));
    assert!(b.id.ends_with("/backups/ondemandbackup-20250601T183022"));
    // The Get example's backup, read back with the example's properties.
    let ex = example("postgresql/BackupsAutomaticAndOnDemandGet.json").ok_or("example")?;
    let name = ex["parameters"]["backupName"].as_str().ok_or("name")?;
    let b = client.get_backup(name).await?;
    let props = &ex["responses"]["200"]["body"]["properties"];
    assert_eq!(b.kind, BackupKind::Automatic);
    assert_eq!(props["backupType"], "Full");
    assert_eq!(
        b.completed_at,
        Some(props["completedTime"].as_str().ok_or("time")?.parse()?)
    );
    let e = client
        .get_backup("nope")
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.azure_code(), Some("ResourceNotFound"));
    // Names Azure would reject never leave the process.
    let e = client
        .get_backup("bad name")
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    Ok(())
}

#[tokio::test]
async fn on_demand_backups_get_the_runbook_name_and_a_suffix_on_collision() -> TestResult {
    let (replay, client) = arm_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 3,
        ..OperationPlan::default()
    });
    let first = client.create_backup(None).await?;
    assert_eq!(first.name, "manual-backup-20250602");
    assert_eq!(first.kind, BackupKind::OnDemand);

    let requests = replay.requests();
    let put = requests
        .iter()
        .find(|r| r.method == "PUT")
        .ok_or("no PUT")?;
    assert_eq!(
        put.path,
        format!(
            "{}/backups/manual-backup-20250602",
            server_path("exampleserver")
        )
    );
    assert_eq!(put.query.as_deref(), Some("api-version=2025-08-01"));
    assert!(put.body.is_empty(), "the spec's create has no body");
    assert_eq!(put.header("content-type"), None);
    let polls: Vec<_> = requests
        .iter()
        .filter(|r| r.path.contains("/azureAsyncOperation/"))
        .collect();
    assert_eq!(polls.len(), 4, "3 in progress + 1 succeeded");
    for p in &polls {
        assert_eq!(
            p.query.as_deref(),
            Some(format!("api-version={STATUS_API_VERSION}").as_str())
        );
        assert_eq!(p.header("authorization"), Some("Bearer <redacted>"));
    }

    let second = client.create_backup(None).await?;
    assert_eq!(second.name, "manual-backup-20250602-2");
    let third = client.create_backup(Some("pre-deploy.v42".into())).await?;
    assert_eq!(third.name, "pre-deploy.v42");
    assert!(
        replay
            .backup_names("exampleserver")
            .contains(&"manual-backup-20250602-2".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn delete_is_idempotent() -> TestResult {
    let (replay, client) = arm_client().await?;
    let name = "ondemandbackup-20250601T183022";
    assert_eq!(client.delete_backup(name).await?, DeleteOutcome::Deleted);
    assert!(
        !replay
            .backup_names("exampleserver")
            .contains(&name.to_owned())
    );
    assert_eq!(
        client.delete_backup(name).await?,
        DeleteOutcome::AlreadyAbsent
    );
    let deletes: Vec<_> = replay
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 2);
    assert_eq!(deletes[0].status, 202);
    assert_eq!(deletes[1].status, 204);
    let ex = example("postgresql/BackupsAutomaticAndOnDemandDelete.json").ok_or("example")?;
    assert_eq!(ex["parameters"]["backupName"], name);
    for d in &deletes {
        assert_eq!(
            d.path,
            format!("{}/backups/{name}", server_path("exampleserver"))
        );
        assert_eq!(d.query.as_deref(), Some("api-version=2025-08-01"));
        assert!(d.body.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn restore_points_come_from_the_server_and_its_backups() -> TestResult {
    let (_replay, client) = arm_client().await?;
    let points = client.restore_points().await?;
    assert_eq!(points.earliest, ts("2025-06-01T18:35:22.123456Z")?);
    assert_eq!(points.latest, ts(NOW)?);
    assert_eq!(points.retention_days, Some(7));
    assert_eq!(
        points.newest_backup,
        Some(ts("2025-06-01T18:30:22.123456Z")?)
    );
    Ok(())
}

fn example_restore() -> Result<RestoreRequest, jiff::Error> {
    Ok(RestoreRequest {
        target_server_name: "exampleserver-restored".into(),
        point_in_time: ts("2025-06-01T18:35:22.123456Z")?,
        source_server_name: Some("examplesourceserver".into()),
    })
}

#[tokio::test]
async fn point_in_time_restore_sends_the_example_body_and_succeeds_after_polls() -> TestResult {
    let (replay, client) = arm_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 4,
        ..OperationPlan::default()
    });
    let poller = client
        .begin_point_in_time_restore(example_restore()?)
        .await?;
    assert!(
        poller
            .status_url()
            .ends_with(&format!("?api-version={STATUS_API_VERSION}"))
    );
    let mut seen = Vec::new();
    let done = poller
        .wait_with_progress(|p| seen.push((p.status.clone(), p.percent_complete)))
        .await?;
    assert_eq!(done.polls, 5);
    assert_eq!(seen.len(), 5);
    assert!(
        seen[..4]
            .iter()
            .all(|(s, _)| matches!(s, OperationStatus::InProgress(_)))
    );
    assert_eq!(seen[4].0, OperationStatus::Succeeded);
    let percents: Vec<f64> = seen[..4].iter().filter_map(|(_, p)| *p).collect();
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "{percents:?}");

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

    let server = client.get_server("exampleserver-restored").await?;
    assert_eq!(server.state, ServerState::Ready);
    assert_eq!(server.version.as_deref(), Some("17"));
    assert_eq!(
        server.fqdn.as_deref(),
        Some("exampleserver-restored.postgres.database.azure.com")
    );
    assert_eq!(server.location, "eastus");
    Ok(())
}

#[tokio::test]
async fn failed_restore_surfaces_azures_code_and_message() -> TestResult {
    let (replay, client) = arm_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 2,
        outcome: OperationOutcome::Failed {
            code: "AggregateException".into(),
            message: "Mismatch in count of number of Commited-Blocks from service.".into(),
        },
        retry_after_secs: Some(0),
    });
    let poller = client
        .begin_point_in_time_restore(example_restore()?)
        .await?;
    let e = poller.wait().await.err().ok_or("expected a failure")?;
    assert_eq!(e.kind(), ErrorKind::OperationFailed);
    assert_eq!(e.azure_code(), Some("AggregateException"));
    match &e {
        AzureError::OperationFailed {
            status,
            message,
            status_url,
            ..
        } => {
            assert_eq!(status, "Failed");
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
    let (replay, client) = arm_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 1,
        outcome: OperationOutcome::Canceled,
        retry_after_secs: Some(0),
    });
    let poller = client
        .begin_point_in_time_restore(example_restore()?)
        .await?;
    let e = poller.wait().await.err().ok_or("expected cancellation")?;
    assert_eq!(e.azure_code(), Some("Canceled"));
    assert!(matches!(&e, AzureError::OperationFailed { status, .. } if status == "Canceled"));
    Ok(())
}

#[tokio::test]
async fn poller_times_out_with_a_resumable_status_url() -> TestResult {
    let (replay, _) = arm_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 0,
        outcome: OperationOutcome::Never,
        retry_after_secs: None,
    });
    let mut options = crate::arm_options(&replay);
    options.polling.timeout = Duration::from_millis(300);
    options.polling.default_interval = Duration::from_millis(20);
    let client = fleet_azure::FlexibleServerClient::with_transport(
        replay.credential(),
        options,
        Some(replay.transport()),
    )
    .with_clock(std::sync::Arc::new(move || {
        NOW.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }));
    let started = Instant::now();
    let poller = client
        .begin_point_in_time_restore(example_restore()?)
        .await?;
    let e = poller.wait().await.err().ok_or("expected a timeout")?;
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    let AzureError::Timeout { status_url, .. } = &e else {
        return Err("not a timeout".into());
    };
    assert!(status_url.contains("/azureAsyncOperation/"));
    Ok(())
}

#[tokio::test]
async fn a_restarted_tool_resumes_from_the_status_url() -> TestResult {
    let (replay, client) = arm_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 5,
        ..OperationPlan::default()
    });
    let mut poller = client
        .begin_point_in_time_restore(example_restore()?)
        .await?;
    let (status, _, _) = poller.poll_once().await?;
    assert!(matches!(status, OperationStatus::InProgress(_)));
    poller.poll_once().await?;
    // The tool persists this and exits.
    let saved = serde_json::to_string(&poller.resume_token())?;
    drop(poller);

    let token: ResumeToken = serde_json::from_str(&saved)?;
    assert_eq!(token.kind, StatusKind::AzureAsyncOperation);
    let done = client.resume_operation(token)?.wait().await?;
    assert_eq!(done.polls, 4, "3 more in progress + 1 succeeded");
    assert_eq!(
        client.get_server("exampleserver-restored").await?.state,
        ServerState::Ready
    );
    Ok(())
}

#[tokio::test]
async fn location_monitors_are_followed_too() -> TestResult {
    let (replay, client) = arm_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 2,
        ..OperationPlan::default()
    });
    let poller = client
        .begin_point_in_time_restore(example_restore()?)
        .await?;
    let location = poller
        .status_url()
        .replace("/azureAsyncOperation/", "/operationResults/");
    drop(poller);
    let token = ResumeToken::from_status_url("restore", &location);
    assert_eq!(token.kind, StatusKind::Location);
    let done = client.resume_operation(token)?.wait().await?;
    assert_eq!(done.polls, 3);
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
async fn status_urls_on_other_hosts_are_refused() -> TestResult {
    let (_replay, client) = arm_client().await?;
    let token = ResumeToken::from_status_url(
        "restore",
        "https://attacker.example/subscriptions/x/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/1?api-version=1",
    );
    let e = client
        .resume_operation(token)
        .err()
        .ok_or("expected refusal")?;
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    Ok(())
}

#[tokio::test]
async fn retry_after_on_accepted_operations_is_honoured() -> TestResult {
    let (replay, client) = arm_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 0,
        outcome: OperationOutcome::Succeeded,
        retry_after_secs: Some(1),
    });
    let poller = client
        .begin_point_in_time_restore(example_restore()?)
        .await?;
    let started = Instant::now();
    poller.wait().await?;
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn invalid_restores_are_refused_before_any_request() -> TestResult {
    let (replay, client) = arm_client().await?;
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
            point_in_time: ts("2025-06-02T00:00:01Z")?,
            ..base.clone()
        },
        RestoreRequest {
            point_in_time: ts("2025-05-25T23:59:59Z")?,
            ..base.clone()
        },
        RestoreRequest {
            target_server_name: "examplesourceserver".into(),
            ..base.clone()
        },
    ];
    for case in cases {
        let e = client
            .begin_point_in_time_restore(case.clone())
            .await
            .err()
            .ok_or("accepted")?;
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{case:?}: {e}");
    }
    assert!(replay.requests().is_empty(), "{:?}", replay.requests());
    // Inside the configured retention but before the server's earliest restore point: refused
    // after reading the source, before the PUT.
    let early = RestoreRequest {
        point_in_time: ts("2025-06-01T18:00:00Z")?,
        ..base
    };
    let e = client
        .begin_point_in_time_restore(early)
        .await
        .err()
        .ok_or("accepted")?;
    assert!(e.to_string().contains("earliest restore point"), "{e}");
    assert!(replay.requests().iter().all(|r| r.method == "GET"));
    Ok(())
}

#[tokio::test]
async fn restoring_onto_an_existing_server_is_a_conflict() -> TestResult {
    let (_replay, client) = arm_client().await?;
    let request = RestoreRequest {
        target_server_name: "exampleserver".into(),
        ..example_restore()?
    };
    let e = client
        .begin_point_in_time_restore(request)
        .await
        .err()
        .ok_or("accepted")?;
    assert!(e.is_conflict(), "{e}");
    Ok(())
}

#[tokio::test]
async fn options_that_would_change_a_path_are_refused_before_any_request() -> TestResult {
    let replay = fleet_testkit::azure::AzureReplay::start().await?;
    for (sub, rg, server) in [
        (
            "ffffffff-ffff-ffff-ffff-ffffffffffff/..",
            "exampleresourcegroup",
            "exampleserver",
        ),
        (
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "rg/../other",
            "exampleserver",
        ),
        (
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "exampleresourcegroup",
            "server?x=1",
        ),
    ] {
        let mut options = crate::arm_options(&replay);
        options.subscription_id = sub.into();
        options.resource_group = rg.into();
        options.server_name = server.into();
        let client = fleet_azure::FlexibleServerClient::with_transport(
            replay.credential(),
            options,
            Some(replay.transport()),
        );
        let e = client.list_backups().await.err().ok_or("accepted")?;
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    assert!(replay.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_name_taken_between_list_and_put_moves_to_the_next_suffix() -> TestResult {
    let (replay, client) = arm_client().await?;
    replay.inject(
        fleet_testkit::azure::FaultTarget::method_path("PUT", "/backups/manual-backup-20250602"),
        fleet_testkit::azure::FaultKind::Status {
            status: 409,
            code: "BackupAlreadyExists".into(),
        },
        1,
    );
    let backup = client.create_backup(None).await?;
    assert_eq!(backup.name, "manual-backup-20250602-2");
    let puts: Vec<_> = replay
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.status)
        .collect();
    assert_eq!(puts, [409, 202]);
    // An explicit name is never changed: its conflict is returned.
    replay.inject(
        fleet_testkit::azure::FaultTarget::method_path("PUT", "/backups/pinned"),
        fleet_testkit::azure::FaultKind::Status {
            status: 409,
            code: "BackupAlreadyExists".into(),
        },
        1,
    );
    let e = client
        .create_backup(Some("pinned".into()))
        .await
        .err()
        .ok_or("accepted")?;
    assert!(e.is_conflict());
    Ok(())
}
