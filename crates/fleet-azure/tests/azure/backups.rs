//! Backups: list (paged), get, create and delete as long-running operations, dry runs.

use crate::{TestResult, applied, finish, server_client, server_path, stepping_polling};
use fleet_azure::{
    BackupKind, BackupSource, BeginOptions, Deletion, ErrorKind, OperationState, Outcome,
    ServerBackup, ServerBackups,
};
use fleet_testkit::azure::{OperationPlan, STATUS_API_VERSION, example};
use futures::TryStreamExt;
use jiff::Timestamp;

fn ts(s: &str) -> Result<Timestamp, jiff::Error> {
    s.parse()
}

#[tokio::test]
async fn list_backups_reads_the_example_and_sends_the_documented_request() -> TestResult {
    let (replay, client) = server_client().await?;
    let backups: Vec<ServerBackup> = client.list_backups(None)?.try_collect().await?;
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
    let ex = example("postgresql/BackupsAutomaticAndOnDemandListByServer.json").ok_or("example")?;
    assert_eq!(ex["parameters"]["api-version"], "2025-08-01");
    assert!(
        r.path
            .contains(ex["parameters"]["serverName"].as_str().ok_or("name")?)
    );
    Ok(())
}

#[tokio::test]
async fn lists_follow_next_links_page_by_page_and_resume() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_page_size(Some(1));
    let mut pages = client.list_backups(None)?.into_pages();
    let first = pages.try_next().await?.ok_or("no page")?.into_model()?;
    assert_eq!(first.items.len(), 1);
    let next = first.next_link.clone().ok_or("no nextLink")?;
    // Shaped like the example's: `//` after the subscription, the preview api-version and a
    // $skiptoken; followed verbatim.
    assert!(next.contains("//resourceGroups/"), "{next}");
    assert!(
        next.contains(&format!("api-version={STATUS_API_VERSION}")),
        "{next}"
    );
    drop(pages);
    // A tool that saved the link resumes from it.
    let rest: Vec<ServerBackup> = client
        .list_backups(Some(fleet_azure::ListOptions {
            continuation: Some(next),
            ..Default::default()
        }))?
        .try_collect()
        .await?;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].name, "ondemandbackup-20250601T183022");
    let all: Vec<ServerBackup> = client.list_backups(None)?.try_collect().await?;
    assert_eq!(all.len(), 2);
    Ok(())
}

#[tokio::test]
async fn get_backup_and_missing_backup() -> TestResult {
    let (replay, client) = server_client().await?;
    let b = client
        .get_backup("ondemandbackup-20250601T183022", None)
        .await?;
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
    let ex = example("postgresql/BackupsAutomaticAndOnDemandGet.json").ok_or("example")?;
    let name = ex["parameters"]["backupName"].as_str().ok_or("name")?;
    let b = client.get_backup(name, None).await?;
    let props = &ex["responses"]["200"]["body"]["properties"];
    assert_eq!(b.kind, BackupKind::Automatic);
    assert_eq!(props["backupType"], "Full");
    assert_eq!(
        b.completed_at,
        Some(props["completedTime"].as_str().ok_or("time")?.parse()?)
    );
    let e = client
        .get_backup("nope", None)
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.azure_code(), Some("ResourceNotFound"));
    let e = client
        .get_backup("bad name", None)
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    Ok(())
}

#[tokio::test]
async fn create_sends_the_examples_put_and_yields_every_status() -> TestResult {
    let (replay, client) = server_client().await?;
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 3,
        ..OperationPlan::default()
    });
    let poller = client
        .begin_create_backup(
            "manual-backup-20250602",
            Some(BeginOptions::default().with_polling(stepping_polling())),
        )
        .await?;
    let (statuses, outcome) = finish(poller).await?;
    // The 202 (with its resume token), 3 in progress, then succeeded.
    assert_eq!(statuses.len(), 5, "{statuses:?}");
    assert!(
        statuses[..4]
            .iter()
            .all(|s| matches!(s.status, OperationState::InProgress(_)))
    );
    assert_eq!(statuses[4].status, OperationState::Succeeded);
    assert_eq!(statuses[4].polls, 4);
    let token = statuses[0].resume_token.clone().ok_or("no resume token")?;
    assert!(token.status_url.contains("/azureAsyncOperation/"));
    let percents: Vec<f64> = statuses[1..4]
        .iter()
        .filter_map(|s| s.percent_complete)
        .collect();
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "{percents:?}");
    let Outcome::Applied(backup) = outcome else {
        return Err("not applied".into());
    };
    assert_eq!(backup.name, "manual-backup-20250602");
    assert_eq!(backup.kind, BackupKind::OnDemand);

    let requests = replay.requests();
    let put = requests
        .iter()
        .find(|r| r.method == "PUT")
        .ok_or("no PUT")?;
    let ex = example("postgresql/BackupsAutomaticAndOnDemandCreate.json").ok_or("example")?;
    assert_eq!(ex["parameters"]["api-version"], "2025-08-01");
    assert!(
        ex["parameters"].get("parameters").is_none(),
        "the example has no body"
    );
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
    // The final read of the backup.
    let last = requests.last().ok_or("no request")?;
    assert_eq!(last.method, "GET");
    assert!(last.path.ends_with("/backups/manual-backup-20250602"));
    Ok(())
}

#[tokio::test]
async fn an_existing_backup_name_is_a_typed_conflict_from_begin() -> TestResult {
    let (_replay, client) = server_client().await?;
    let e = client
        .begin_create_backup("ondemandbackup-20250601T183022", None)
        .await
        .err()
        .ok_or("accepted")?;
    assert!(e.is_conflict(), "{e}");
    assert_eq!(e.azure_code(), Some("BackupAlreadyExists"));
    Ok(())
}

#[tokio::test]
async fn create_and_delete_dry_runs_return_the_request_and_send_nothing() -> TestResult {
    let (replay, client) = server_client().await?;
    let (statuses, outcome) = finish(
        client
            .begin_create_backup("pre-deploy.v42", Some(BeginOptions::dry_run()))
            .await?,
    )
    .await?;
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].status, OperationState::DryRun);
    let planned = outcome.planned().ok_or("not a dry run")?;
    assert_eq!(planned.method, "PUT");
    assert_eq!(
        planned.url,
        format!(
            "{}{}/backups/pre-deploy.v42?api-version=2025-08-01",
            replay.base_url(),
            server_path("exampleserver")
        )
    );
    assert_eq!(planned.body, None);
    assert_eq!(statuses[0].planned.as_ref(), Some(planned));

    let (_, outcome) = finish(
        client
            .begin_delete_backup(
                "ondemandbackup-20250601T183022",
                Some(BeginOptions::dry_run()),
            )
            .await?,
    )
    .await?;
    assert_eq!(outcome.planned().map(|p| p.method.as_str()), Some("DELETE"));
    assert!(replay.requests().is_empty(), "{:?}", replay.requests());
    // Invalid input is refused in a dry run too.
    let e = client
        .begin_create_backup("..", Some(BeginOptions::dry_run()))
        .await
        .err()
        .ok_or("accepted")?;
    assert!(e.is_invalid_input());
    Ok(())
}

#[tokio::test]
async fn the_dry_run_is_the_request_that_is_then_sent() -> TestResult {
    let (replay, client) = server_client().await?;
    let (_, dry) = finish(
        client
            .begin_create_backup("same-request", Some(BeginOptions::dry_run()))
            .await?,
    )
    .await?;
    let planned = dry.planned().ok_or("not a dry run")?.clone();
    applied(client.begin_create_backup("same-request", None).await?).await?;
    let put = replay
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .ok_or("no PUT")?;
    assert_eq!(
        planned.url,
        format!(
            "{}{}?{}",
            replay.base_url(),
            put.path,
            put.query.clone().unwrap_or_default()
        )
    );
    for (name, value) in &planned.headers {
        assert_eq!(put.header(name), Some(value.as_str()), "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn delete_is_idempotent() -> TestResult {
    let (replay, client) = server_client().await?;
    let name = "ondemandbackup-20250601T183022";
    assert_eq!(
        applied(client.begin_delete_backup(name, None).await?).await?,
        Deletion::Deleted
    );
    assert!(
        !replay
            .backup_names("exampleserver")
            .contains(&name.to_owned())
    );
    assert_eq!(
        applied(client.begin_delete_backup(name, None).await?).await?,
        Deletion::AlreadyAbsent
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
    let (_replay, client) = server_client().await?;
    let before = Timestamp::now();
    let points = client.restore_points(None).await?;
    assert_eq!(points.earliest, Some(ts("2025-06-01T18:35:22.123456Z")?));
    assert!(points.latest >= before);
    assert_eq!(points.retention_days, Some(7));
    assert_eq!(
        points.newest_backup,
        Some(ts("2025-06-01T18:30:22.123456Z")?)
    );
    Ok(())
}
