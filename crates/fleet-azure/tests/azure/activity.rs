//! The activity log against the 2015-04-01 example: the filter built from typed values, the
//! example's events, paging, the top-level error shape.

use crate::{TestResult, arm, arm_options};
use fleet_azure::{ActivityEvent, ActivityFilter, ActivityLog, ActivityScope, ErrorKind};
use fleet_testkit::azure::{
    ACTIVITY_SUBSCRIPTION_ID, AzureReplay, FaultKind, FaultTarget, example,
};
use futures::TryStreamExt;
use jiff::Timestamp;

fn ts(s: &str) -> Result<Timestamp, jiff::Error> {
    s.parse()
}

#[tokio::test]
async fn the_examples_query_sends_its_filter_and_reads_its_events() -> TestResult {
    let replay = AzureReplay::start().await?;
    let log = arm(&replay, arm_options(&replay))?.activity_log_client(ACTIVITY_SUBSCRIPTION_ID)?;
    let ex = example("monitor-activity-log/GetActivityLogsFiltered.json").ok_or("example")?;
    let filter = ActivityFilter::resource_group(
        "MSSupportGroup",
        ts("2015-01-21T20:00:00Z")?,
        ts("2015-01-23T20:00:00Z")?,
    )?;
    assert_eq!(
        filter.to_filter(),
        ex["parameters"]["$filter"].as_str().ok_or("filter")?
    );
    let events: Vec<ActivityEvent> = log.list_activity(&filter, None)?.try_collect().await?;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.caller.as_deref(), Some("admin@contoso.com"));
    assert_eq!(e.client_ip.as_deref(), Some("192.168.35.115"));
    assert_eq!(
        e.operation_name.as_deref(),
        Some("microsoft.support/supporttickets/write")
    );
    assert_eq!(e.status.as_deref(), Some("Succeeded"));
    assert_eq!(
        e.sub_status.as_deref(),
        Some("Created (HTTP Status Code: 201)")
    );
    assert_eq!(e.level.as_deref(), Some("Informational"));
    assert_eq!(e.resource_group.as_deref(), Some("MSSupportGroup"));
    assert_eq!(
        e.correlation_id.as_deref(),
        Some("1e121103-0ba6-4300-ac9d-952bb5d0c80f")
    );
    assert_eq!(e.event_timestamp, Some(ts("2015-01-21T22:14:26.9792776Z")?));
    assert_eq!(
        e.properties.get("statusCode").map(String::as_str),
        Some("Created")
    );
    // The claims (names, object ids) are left out of the event.
    assert!(!serde_json::to_string(e)?.contains("John"));

    let r = replay.requests().pop().ok_or("no request")?;
    assert_eq!(r.method, "GET");
    assert_eq!(
        r.path,
        format!(
            "/subscriptions/{ACTIVITY_SUBSCRIPTION_ID}/providers/Microsoft.Insights/eventtypes/management/values"
        )
    );
    assert_eq!(r.query_param("api-version").as_deref(), Some("2015-04-01"));
    assert_eq!(
        r.query_param("$filter"),
        ex["parameters"]["$filter"].as_str().map(str::to_owned)
    );
    assert_eq!(r.header("authorization"), Some("Bearer <redacted>"));
    Ok(())
}

#[tokio::test]
async fn windows_and_scopes_select_events_and_pages_are_followed() -> TestResult {
    let replay = AzureReplay::start().await?;
    let log = arm(&replay, arm_options(&replay))?.activity_log_client(ACTIVITY_SUBSCRIPTION_ID)?;
    let outside = ActivityFilter::resource_group(
        "MSSupportGroup",
        ts("2015-01-22T00:00:00Z")?,
        ts("2015-01-23T00:00:00Z")?,
    )?;
    let none: Vec<ActivityEvent> = log.list_activity(&outside, None)?.try_collect().await?;
    assert!(none.is_empty());
    let other_group = ActivityFilter::resource_group(
        "other",
        ts("2015-01-21T20:00:00Z")?,
        ts("2015-01-23T20:00:00Z")?,
    )?;
    assert!(
        log.list_activity(&other_group, None)?
            .try_collect::<Vec<_>>()
            .await?
            .is_empty()
    );
    // More events than a page: every page is read.
    let template = example("monitor-activity-log/GetActivityLogsFiltered.json")
        .and_then(|e| e.pointer("/responses/200/body/value/0").cloned())
        .ok_or("example")?;
    for i in 0..4 {
        let mut event = template.clone();
        event["eventDataId"] = serde_json::json!(format!("extra-{i}"));
        event["eventTimestamp"] = serde_json::json!(format!("2015-01-22T0{i}:00:00Z"));
        replay.add_activity_event(ACTIVITY_SUBSCRIPTION_ID, event);
    }
    replay.set_page_size(Some(2));
    let all = ActivityFilter::resource_group(
        "MSSupportGroup",
        ts("2015-01-21T20:00:00Z")?,
        ts("2015-01-23T20:00:00Z")?,
    )?;
    let events: Vec<ActivityEvent> = log.list_activity(&all, None)?.try_collect().await?;
    assert_eq!(events.len(), 5);
    let correlation = ActivityFilter::new(
        ts("2015-01-21T20:00:00Z")?,
        ts("2015-01-23T20:00:00Z")?,
        ActivityScope::CorrelationId("1e121103-0ba6-4300-ac9d-952bb5d0c80f".into()),
    )?;
    let by_id: Vec<ActivityEvent> = log.list_activity(&correlation, None)?.try_collect().await?;
    assert_eq!(by_id.len(), 5);
    Ok(())
}

#[tokio::test]
async fn activity_log_errors_have_their_own_shape() -> TestResult {
    let replay = AzureReplay::start().await?;
    let log = arm(&replay, arm_options(&replay))?.activity_log_client(ACTIVITY_SUBSCRIPTION_ID)?;
    replay.inject(
        FaultTarget::path("/eventtypes/"),
        FaultKind::Status {
            status: 403,
            code: "AuthorizationFailed".into(),
        },
        1,
    );
    let f = ActivityFilter::resource_group(
        "MSSupportGroup",
        ts("2015-01-21T20:00:00Z")?,
        ts("2015-01-23T20:00:00Z")?,
    )?;
    let e = log
        .list_activity(&f, None)?
        .try_collect::<Vec<_>>()
        .await
        .map_err(fleet_azure::Error::from)
        .err()
        .ok_or("allowed")?;
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert_eq!(e.azure_code(), Some("AuthorizationFailed"));
    Ok(())
}

/// The activity log sends `{"code","message"}` at the top level, not inside `error`.
#[tokio::test]
async fn top_level_error_bodies_keep_their_code() -> TestResult {
    let replay = AzureReplay::start().await?;
    let mut options = arm_options(&replay);
    options.activity_log_api_version = "2014-01-01".into();
    let log = arm(&replay, options)?.activity_log_client(ACTIVITY_SUBSCRIPTION_ID)?;
    let f = ActivityFilter::resource_group(
        "MSSupportGroup",
        ts("2015-01-21T20:00:00Z")?,
        ts("2015-01-23T20:00:00Z")?,
    )?;
    let e = log
        .list_activity(&f, None)?
        .try_collect::<Vec<_>>()
        .await
        .map_err(fleet_azure::Error::from)
        .err()
        .ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.azure_code(), Some("BadRequest"));
    assert!(e.to_string().contains("api-version"), "{e}");
    Ok(())
}
