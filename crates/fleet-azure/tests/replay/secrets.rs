//! Key Vault through `azure_security_keyvault_secrets`, pointed at the replay.

use crate::TestResult;
use fleet_azure::{
    ErrorKind, KeyVaultSecrets, RetrySettings, SecretForm, SecretValue, Secrets, SecretsOptions,
};
use fleet_testkit::azure::{AzureReplay, FaultKind, FaultTarget, example};

async fn vault() -> Result<(AzureReplay, KeyVaultSecrets), Box<dyn std::error::Error>> {
    let replay = AzureReplay::start().await?;
    let options = SecretsOptions {
        retry: RetrySettings::fast_for_tests(2),
        // The replay's host is 127.0.0.1, which is not under the challenge's vault.azure.net.
        verify_challenge_resource: false,
        ..SecretsOptions::new(replay.base_url())
    };
    let secrets =
        KeyVaultSecrets::with_transport(replay.credential(), &options, Some(replay.transport()))?;
    Ok((replay, secrets))
}

#[tokio::test]
async fn get_reads_the_example_secret_through_the_challenge() -> TestResult {
    let (replay, secrets) = vault().await?;
    let secret = secrets.get_secret("mysecretname", None).await?;
    let ex = example("keyvault/GetSecret-example.json").ok_or("example")?;
    assert_eq!(
        secret.value.expose(),
        ex["responses"]["200"]["body"]["value"]
            .as_str()
            .ok_or("value")?
    );
    assert_eq!(secret.version.version, "4387e9f3d6e14c459867679a90fd0f79");
    assert_eq!(secret.version.enabled, Some(true));
    assert_eq!(
        secret.version.created.map(|t| t.as_second()),
        Some(1_493_938_410)
    );
    assert!(!format!("{secret:?}").contains("mysecretvalue"));

    let requests = replay.requests();
    assert_eq!(requests.len(), 2, "challenge, then the authorized request");
    assert_eq!(requests[0].status, 401);
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[1].status, 200);
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer <redacted>")
    );
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].path, "/secrets/mysecretname/");
    assert_eq!(
        requests[1].query_param("api-version").as_deref(),
        Some("2025-07-01")
    );

    let pinned = secrets
        .get_secret(
            "mysecretname",
            Some("4387e9f3d6e14c459867679a90fd0f79".into()),
        )
        .await?;
    assert_eq!(pinned.value, secret.value);
    Ok(())
}

#[tokio::test]
async fn set_list_and_rotate() -> TestResult {
    let (replay, secrets) = vault().await?;
    let v1 = secrets
        .set_secret(
            "db-password",
            SecretValue::new("first-value"),
            Some("text/plain".into()),
        )
        .await?;
    assert_eq!(v1.name, "db-password");
    assert_eq!(v1.content_type.as_deref(), Some("text/plain"));
    let put = replay
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PUT")
        .ok_or("no PUT")?;
    assert_eq!(put.path, "/secrets/db-password");
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert_eq!(
        put.body_json(),
        Some(serde_json::json!({"value": "first-value", "contentType": "text/plain"}))
    );
    // Same shape as the example request body.
    let ex = example("keyvault/SetSecret-example.json").ok_or("example")?;
    assert!(ex["parameters"]["parameters"]["value"].is_string());

    let v2 = secrets
        .rotate_secret("db-password", SecretForm::Password { length: 32 })
        .await?;
    assert_ne!(v1.version, v2.version);
    let latest = secrets.get_secret("db-password", None).await?;
    assert_eq!(latest.version.version, v2.version);
    assert_eq!(latest.value.len(), 32);
    assert_ne!(latest.value.expose(), "first-value");

    let versions = secrets.list_versions("db-password").await?;
    let ids: Vec<_> = versions.iter().map(|v| v.version.clone()).collect();
    assert_eq!(ids, [v1.version.clone(), v2.version.clone()]);
    let old = secrets.get_secret("db-password", Some(v1.version)).await?;
    assert_eq!(old.value.expose(), "first-value");
    Ok(())
}

#[tokio::test]
async fn secret_errors_are_typed() -> TestResult {
    let (replay, secrets) = vault().await?;
    let e = secrets
        .get_secret("missing", None)
        .await
        .err()
        .ok_or("found")?;
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.azure_code(), Some("SecretNotFound"));
    let e = secrets
        .get_secret("bad_name", None)
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    replay.inject(FaultTarget::path("/secrets/"), FaultKind::Forbidden, 1);
    let e = secrets
        .get_secret("mysecretname", None)
        .await
        .err()
        .ok_or("allowed")?;
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    replay.inject(FaultTarget::path("/secrets/"), FaultKind::MalformedBody, 1);
    let e = secrets
        .get_secret("mysecretname", None)
        .await
        .err()
        .ok_or("parsed")?;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e}");
    replay.inject(
        FaultTarget::path("/secrets/"),
        FaultKind::Throttle {
            retry_after_secs: 0,
        },
        1,
    );
    assert_eq!(
        secrets
            .get_secret("mysecretname", None)
            .await?
            .value
            .expose(),
        "mysecretvalue"
    );
    replay.inject(
        FaultTarget::path("/secrets/"),
        FaultKind::Status {
            status: 503,
            code: "ServiceUnavailable".into(),
        },
        5,
    );
    let e = secrets
        .get_secret("mysecretname", None)
        .await
        .err()
        .ok_or("served")?;
    assert!(e.is_transient(), "{e}");
    Ok(())
}
