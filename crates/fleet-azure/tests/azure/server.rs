//! The replay server itself, spoken to with a plain azure_core HTTP client (no pipeline).

use crate::{TestResult, server_path};
use azure_core::http::{Method, Request, Url};
use fleet_testkit::azure::AzureReplay;

async fn get(
    replay: &AzureReplay,
    path_and_query: &str,
    token: bool,
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let url = Url::parse(&format!("{}{path_and_query}", replay.base_url()))?;
    let mut request = Request::new(url, Method::Get);
    if token {
        request.insert_header("authorization", "Bearer test");
    }
    let response = replay.http_client().execute_request(&request).await?;
    let status = u16::from(response.status());
    let body = response.into_body().collect_string().await?;
    Ok((status, body))
}

#[tokio::test]
async fn requests_without_a_token_get_401() -> TestResult {
    let replay = AzureReplay::start().await?;
    let path = format!("{}?api-version=2025-08-01", server_path("exampleserver"));
    let (status, body) = get(&replay, &path, false).await?;
    assert_eq!(status, 401);
    assert!(body.contains("AuthenticationFailed"));
    let (status, _) = get(&replay, &path, true).await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn wrong_api_versions_and_unknown_paths_are_rejected() -> TestResult {
    let replay = AzureReplay::start().await?;
    let (status, body) = get(
        &replay,
        &format!("{}?api-version=2024-08-01", server_path("exampleserver")),
        true,
    )
    .await?;
    assert_eq!(status, 400);
    assert!(body.contains("InvalidApiVersionParameter"));
    let (status, _) = get(&replay, "/nothing/here", true).await?;
    assert_eq!(status, 404);
    let (status, body) = get(&replay, "/secrets/mysecretname?api-version=7.6", false).await?;
    assert_eq!(status, 401, "{body}");
    let www = replay.requests().pop().ok_or("no request")?;
    assert_eq!(www.status, 401);
    Ok(())
}

async fn send(
    replay: &AzureReplay,
    method: Method,
    path_and_query: &str,
    headers: &[(&'static str, &str)],
    body: Option<serde_json::Value>,
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let url = Url::parse(&format!("{}{path_and_query}", replay.base_url()))?;
    let mut request = Request::new(url, method);
    request.insert_header("authorization", "Bearer test");
    for (name, value) in headers {
        request.insert_header(*name, (*value).to_owned());
    }
    if let Some(body) = body {
        request.set_json(&body)?;
        request.insert_header("content-type", "application/json");
    }
    let response = replay.http_client().execute_request(&request).await?;
    let status = u16::from(response.status());
    Ok((status, response.into_body().collect_string().await?))
}

/// The activity log refuses every filter but its one grammar, with its top-level error shape.
#[tokio::test]
async fn the_activity_log_checks_its_filter_grammar() -> TestResult {
    let replay = AzureReplay::start().await?;
    let base = "/subscriptions/089bd33f-d4ec-47fe-8ba5-0753aa5c5b33/providers/microsoft.insights/eventtypes/management/values?api-version=2015-04-01";
    for filter in [
        "",
        "resourceGroupName%20eq%20'x'",
        "eventTimestamp%20ge%20'2015-01-21T20:00:00Z'%20and%20caller%20eq%20'x'",
    ] {
        let (status, body) = send(
            &replay,
            Method::Get,
            &format!("{base}&$filter={filter}"),
            &[],
            None,
        )
        .await?;
        assert_eq!(status, 400, "{filter}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body)?;
        assert_eq!(json["code"], "BadRequest", "{body}");
        assert!(json.get("error").is_none());
    }
    Ok(())
}

/// DNS preconditions: `If-None-Match: *` on an existing set and a stale `If-Match` answer 412.
#[tokio::test]
async fn dns_preconditions_answer_412() -> TestResult {
    let replay = AzureReplay::start().await?;
    let path = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/dnsZones/zone1/A/record1?api-version=2018-05-01";
    let body =
        serde_json::json!({"properties": {"TTL": 60, "ARecords": [{"ipv4Address": "10.0.0.1"}]}});
    for header in [("if-none-match", "*"), ("if-match", "not-the-etag")] {
        let (status, text) =
            send(&replay, Method::Put, path, &[header], Some(body.clone())).await?;
        assert_eq!(status, 412, "{header:?}: {text}");
        assert!(text.contains("PreconditionFailed"));
    }
    let (status, _) = send(&replay, Method::Put, path, &[], Some(body)).await?;
    assert_eq!(status, 200);
    Ok(())
}

/// The token endpoint serves the client-credentials grant only.
#[tokio::test]
async fn the_token_endpoint_wants_client_credentials() -> TestResult {
    let replay = AzureReplay::start().await?;
    let url = Url::parse(&format!("{}/tenant/oauth2/v2.0/token", replay.base_url()))?;
    let mut request = Request::new(url, Method::Post);
    request.insert_header("content-type", "application/x-www-form-urlencoded");
    request.set_body(
        "grant_type=password&client_id=x&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
    );
    let response = replay.http_client().execute_request(&request).await?;
    assert_eq!(u16::from(response.status()), 400);
    assert_eq!(replay.tokens_issued(), 0);
    Ok(())
}
