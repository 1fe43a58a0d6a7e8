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
