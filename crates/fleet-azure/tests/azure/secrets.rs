//! Key Vault through `azure_security_keyvault_secrets`, pointed at the replay: read, set,
//! rotate, list versions (paged), disable an old version, dry runs, hostile versions.

use crate::{TestResult, client_options};
use fleet_azure::{
    ChangeOptions, ErrorKind, GetSecretOptions, KeyVaultClient, KeyVaultClientOptions, Outcome,
    REDACTED, SecretForm, SecretValue, SecretVersion, Secrets, SetSecretOptions,
    sort_versions_by_created,
};
use fleet_testkit::azure::{AzureReplay, FaultKind, FaultTarget, example};
use futures::TryStreamExt;

pub(crate) async fn vault() -> Result<(AzureReplay, KeyVaultClient), Box<dyn std::error::Error>> {
    let replay = AzureReplay::start().await?;
    let secrets = KeyVaultClient::new(
        replay.base_url(),
        replay.credential(),
        Some(KeyVaultClientOptions {
            client_options: client_options(&replay, 2),
            // The replay's host is 127.0.0.1, which is not under the challenge's vault.azure.net.
            verify_challenge_resource: false,
            ..Default::default()
        }),
    )?;
    Ok((replay, secrets))
}

fn version(v: &str) -> Option<GetSecretOptions<'static>> {
    Some(GetSecretOptions {
        version: Some(v.to_owned()),
        ..Default::default()
    })
}

fn applied<T>(o: Outcome<T>) -> Result<T, Box<dyn std::error::Error>> {
    o.applied().ok_or_else(|| "a dry run".into())
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
        .get_secret("mysecretname", version("4387e9f3d6e14c459867679a90fd0f79"))
        .await?;
    assert_eq!(pinned.value, secret.value);
    Ok(())
}

#[tokio::test]
async fn set_list_and_rotate() -> TestResult {
    let (replay, secrets) = vault().await?;
    let v1 = applied(
        secrets
            .set_secret(
                "db-password",
                &SecretValue::new("first-value"),
                Some(SetSecretOptions {
                    content_type: Some("text/plain".into()),
                    ..Default::default()
                }),
            )
            .await?,
    )?;
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
    let ex = example("keyvault/SetSecret-example.json").ok_or("example")?;
    assert!(ex["parameters"]["parameters"]["value"].is_string());

    let v2 = applied(
        secrets
            .rotate_secret("db-password", SecretForm::Password { length: 32 }, None)
            .await?,
    )?;
    assert_ne!(v1.version, v2.version);
    let latest = secrets.get_secret("db-password", None).await?;
    assert_eq!(latest.version.version, v2.version);
    assert_eq!(latest.value.len(), 32);
    assert_ne!(latest.value.expose(), "first-value");

    let mut versions: Vec<SecretVersion> = secrets
        .list_versions("db-password", None)?
        .try_collect()
        .await?;
    sort_versions_by_created(&mut versions);
    let ids: Vec<_> = versions.iter().map(|v| v.version.clone()).collect();
    assert!(ids.contains(&v1.version) && ids.contains(&v2.version));
    assert_eq!(ids.len(), 2);
    let old = secrets
        .get_secret("db-password", version(&v1.version))
        .await?;
    assert_eq!(old.value.expose(), "first-value");
    Ok(())
}

#[tokio::test]
async fn versions_list_the_example_and_page() -> TestResult {
    let (replay, secrets) = vault().await?;
    let versions: Vec<SecretVersion> = secrets
        .list_versions("listsecretversionstest", None)?
        .try_collect()
        .await?;
    let ex = example("keyvault/GetSecretVersions-example.json").ok_or("example")?;
    let item = &ex["responses"]["200"]["body"]["value"][0];
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].version, "11a536561da34d6b8b452d880df58f3a");
    assert_eq!(
        versions[0].created.map(|t| t.as_second()),
        item["attributes"]["created"].as_i64()
    );
    let get = replay
        .requests()
        .into_iter()
        .rfind(|r| r.status == 200)
        .ok_or("no request")?;
    assert_eq!(get.path, "/secrets/listsecretversionstest/versions");

    // Several pages, each nextLink checked and followed.
    for i in 0..3 {
        secrets
            .set_secret("paged", &SecretValue::new(format!("value-{i}")), None)
            .await?;
    }
    replay.set_page_size(Some(1));
    replay.clear_requests();
    let paged: Vec<SecretVersion> = secrets.list_versions("paged", None)?.try_collect().await?;
    assert_eq!(paged.len(), 3);
    let pages = replay
        .requests()
        .into_iter()
        .filter(|r| r.path == "/secrets/paged/versions" && r.status == 200)
        .count();
    assert_eq!(pages, 3);
    Ok(())
}

#[tokio::test]
async fn an_old_version_is_retired_by_disabling_it() -> TestResult {
    let (replay, secrets) = vault().await?;
    // The UpdateSecret example's request, on the example's secret and version.
    let ex = example("keyvault/UpdateSecret-example.json").ok_or("example")?;
    let name = ex["parameters"]["secret-name"].as_str().ok_or("name")?;
    let v = ex["parameters"]["secret-version"]
        .as_str()
        .ok_or("version")?;
    let dry = secrets
        .set_version_enabled(name, v, false, Some(ChangeOptions::dry_run()))
        .await?;
    let planned = dry.planned().ok_or("not a dry run")?;
    assert_eq!(planned.method, "PATCH");
    assert!(
        planned
            .url
            .ends_with(&format!("/secrets/{name}/{v}?api-version=2025-07-01"))
    );
    assert_eq!(
        planned.body,
        Some(serde_json::json!({"attributes": {"enabled": false}}))
    );
    assert!(replay.requests().is_empty());

    let disabled = applied(secrets.set_version_enabled(name, v, false, None).await?)?;
    assert_eq!(disabled.enabled, Some(false));
    let patch = replay
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .ok_or("no PATCH")?;
    assert_eq!(patch.path, format!("/secrets/{name}/{v}"));
    assert_eq!(patch.body_json(), planned.body);
    // The example's request body has the same shape under `attributes`.
    assert!(ex["parameters"]["parameters"]["attributes"]["enabled"].is_boolean());

    let e = secrets
        .get_secret(name, version(v))
        .await
        .err()
        .ok_or("a disabled version was readable")?;
    assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
    let enabled = applied(secrets.set_version_enabled(name, v, true, None).await?)?;
    assert_eq!(enabled.enabled, Some(true));
    assert!(secrets.get_secret(name, version(v)).await.is_ok());
    Ok(())
}

#[tokio::test]
async fn set_and_rotate_dry_runs_never_show_or_send_the_value() -> TestResult {
    let (replay, secrets) = vault().await?;
    let dry = secrets
        .set_secret(
            "db-password",
            &SecretValue::new("do-not-print-me"),
            Some(SetSecretOptions {
                dry_run: true,
                content_type: Some("text/plain".into()),
                ..Default::default()
            }),
        )
        .await?;
    let planned = dry.planned().ok_or("not a dry run")?;
    assert_eq!(planned.method, "PUT");
    assert_eq!(
        planned.body,
        Some(serde_json::json!({"value": REDACTED, "contentType": "text/plain"}))
    );
    assert!(!format!("{dry:?}").contains("do-not-print-me"));
    assert!(!planned.to_string().contains("do-not-print-me"));
    let rotate = secrets
        .rotate_secret(
            "db-password",
            SecretForm::default(),
            Some(SetSecretOptions {
                dry_run: true,
                ..Default::default()
            }),
        )
        .await?;
    assert!(rotate.is_dry_run());
    assert!(replay.requests().is_empty());
    // The planned request is the one a real call sends (value aside).
    secrets
        .set_secret(
            "db-password",
            &SecretValue::new("do-not-print-me"),
            Some(SetSecretOptions {
                content_type: Some("text/plain".into()),
                ..Default::default()
            }),
        )
        .await?;
    let put = replay
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PUT" && r.status == 200)
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
    let mut sent = put.body_json().ok_or("no body")?;
    sent["value"] = serde_json::json!(REDACTED);
    assert_eq!(Some(sent), planned.body);
    Ok(())
}

/// Issue 10: a version such as `../other` resolved to another secret.
#[tokio::test]
async fn versions_that_would_address_another_secret_are_refused() -> TestResult {
    let (replay, secrets) = vault().await?;
    for bad in [
        "../crpsecret",
        "../../secrets/crpsecret/03bcccc7c8cf4546a0e3e21e52560441",
        "..",
        "",
        "4387e9f3d6e14c459867679a90fd0f79/../x",
        "4387e9f3d6e14c459867679a90fd0f7%",
    ] {
        let e = secrets
            .get_secret("mysecretname", version(bad))
            .await
            .err()
            .ok_or("accepted")?;
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
        let e = secrets
            .set_version_enabled("mysecretname", bad, false, None)
            .await
            .err()
            .ok_or("accepted")?;
        assert!(e.is_invalid_input(), "{bad:?}");
    }
    assert!(replay.requests().is_empty(), "{:?}", replay.requests());
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
