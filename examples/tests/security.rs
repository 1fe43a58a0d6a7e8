//! Runs the `security_isolate` example as a process against FakeCluster: a dry run that changes
//! nothing, a run without the confirmation word that is refused (exit 2), a confirmed run that
//! blocks the addresses at the ingress with its audit log and JSON report, and an address that
//! is not one failing (exit 1). Runs `rotate_credentials` against FakeCluster, a TempPostgres and
//! Key Vault on AzureReplay (over HTTPS, with the real credential chain): a dry run that changes
//! nothing, a rotation after which the new password logs in and the old one is refused, and a
//! refused confirmation (exit 2) that leaves a working credential; no password in any output or
//! the audit log. Built with `--features incident`.
#![cfg(feature = "incident")]

mod support;

use std::process::Output;

use fleet_testkit::azure::AzureReplay;
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op};
use fleet_testkit::postgres::TempPostgres;

const DENYLIST: &str = "nginx.ingress.kubernetes.io/denylist-source-range";

async fn isolate(c: &FakeCluster, args: &[&str]) -> Output {
    tokio::process::Command::new(support::exe("security_isolate"))
        .args(args)
        .env("KUBECONFIG", c.kubeconfig_path())
        .env("USER", "oncall")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("example runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn denylist(c: &FakeCluster) -> String {
    let ingress = c
        .store()
        .get("ingresses", FLEET_NAMESPACE, "fleet-ingress")
        .expect("ingress");
    ingress["metadata"]["annotations"][DENYLIST]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn security_isolate_blocks_addresses_only_when_confirmed() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("cluster");
    let block = ["--block", "203.0.113.7/32", "--block", "198.51.100.0/24"];

    let dry = isolate(&c, &[&block[..], &["--dry-run"]].concat()).await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("203.0.113.7/32"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(denylist(&c), "", "a dry run changes nothing");

    let refused = isolate(&c, &[&block[..], &["--confirm", "WRONG"]].concat()).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stdout));
    assert_eq!(denylist(&c), "");

    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let audit_arg = audit.to_str().expect("utf-8 path");
    let done = isolate(
        &c,
        &[
            &block[..],
            &[
                "--confirm",
                "ISOLATE",
                "--audit-log",
                audit_arg,
                "--output",
                "json",
            ],
        ]
        .concat(),
    )
    .await;
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}{}",
        text(&done.stdout),
        text(&done.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&done.stdout).expect("json report");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["procedure"], "security-isolate");
    let list = denylist(&c);
    assert!(
        list.contains("203.0.113.7/32") && list.contains("198.51.100.0/24"),
        "{list}"
    );
    let log = std::fs::read_to_string(&audit).expect("audit log");
    assert!(log.lines().count() >= 2, "intent and outcome: {log}");
    assert!(log.contains("\"block\"") && log.contains("oncall"), "{log}");

    let bad = isolate(&c, &["--block", "not-an-address", "--confirm", "ISOLATE"]).await;
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stdout));
    assert!(
        text(&bad.stdout).contains("not-an-address"),
        "{}",
        text(&bad.stdout)
    );
}

/// The password the seeded `fleet-db-credentials` Secret holds.
const SEEDED_PASSWORD: &str = "not-a-real-password";

/// FakeCluster, the database with the role `fleetadmin` on the seeded password, and Key Vault
/// on AzureReplay holding the same password as `fleet-db-password`.
struct Rotation {
    cluster: FakeCluster,
    pg: TempPostgres,
    replay: AzureReplay,
    ca: tempfile::NamedTempFile,
}

impl Rotation {
    async fn start() -> Rotation {
        let pg = tokio::task::spawn_blocking(TempPostgres::start)
            .await
            .expect("join")
            .expect("postgres");
        let cluster = FakeCluster::builder()
            .seed_fleet()
            .pod_ready_after(std::time::Duration::from_millis(100))
            .start()
            .await
            .expect("cluster");
        let replay = AzureReplay::start().await.expect("replay");
        let ca = tempfile::NamedTempFile::new().expect("ca file");
        std::fs::write(ca.path(), replay.ca_certificate_pem()).expect("ca");
        let w = Rotation {
            cluster,
            pg,
            replay,
            ca,
        };
        let (client, conn) = tokio_postgres::connect(&w.admin_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "CREATE ROLE fleetadmin LOGIN PASSWORD '{SEEDED_PASSWORD}'"
            ))
            .await
            .expect("role");
        let mut options = fleet_azure::KeyVaultClientOptions {
            verify_challenge_resource: false,
            ..Default::default()
        };
        options.client_options.transport = Some(w.replay.transport());
        let vault = fleet_azure::KeyVaultClient::new(
            w.replay.base_url(),
            w.replay.credential(),
            Some(options),
        )
        .expect("vault");
        use fleet_azure::Secrets as _;
        vault
            .set_secret(
                "fleet-db-password",
                &fleet_azure::SecretValue::new(SEEDED_PASSWORD),
                None,
            )
            .await
            .expect("seed the vault");
        w
    }

    fn admin_url(&self) -> String {
        format!("{}?sslmode=disable", self.pg.url())
    }

    async fn rotate(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(support::exe("rotate_credentials"));
        for (name, _) in std::env::vars() {
            if name.starts_with("AZURE")
                || name.starts_with("FLEET_")
                || name.starts_with("IDENTITY_")
            {
                command.env_remove(name);
            }
        }
        command
            .args([
                "--vault-url",
                self.replay.base_url(),
                "--no-challenge-check",
                "--role",
                "fleetadmin",
                "--context",
                "fleet-fake",
                "--namespace",
                FLEET_NAMESPACE,
            ])
            .args(args)
            .env("KUBECONFIG", self.cluster.kubeconfig_path())
            .env("USER", "oncall")
            .env("FLEET_DATABASE_URL", self.admin_url())
            .env("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
            .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
            .env("AZURE_CLIENT_SECRET", "s3cret-value")
            .env("AZURE_AUTHORITY_HOST", self.replay.base_url())
            .env("FLEET_AZURE_CA_CERT", self.ca.path())
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("example runs")
    }

    /// The password in the cluster's Secret.
    fn in_secret(&self) -> String {
        use base64::Engine as _;
        let s = self
            .cluster
            .store()
            .get("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
            .expect("secret");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s["data"]["password"].as_str().expect("data"))
            .expect("base64");
        String::from_utf8(bytes).expect("utf-8")
    }

    async fn logs_in(&self, password: &str) -> bool {
        let url = format!(
            "{}?sslmode=disable",
            self.pg.url_for("fleetadmin", password, "postgres")
        );
        tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .is_ok()
    }

    fn vault_versions(&self) -> Vec<serde_json::Value> {
        self.replay.secret_versions("fleet-db-password")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_credentials_rotates_end_to_end_and_a_dry_run_changes_nothing() {
    let w = Rotation::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let audit_arg = audit.to_str().expect("utf-8 path");

    // A dry run: reads the current version, writes nothing anywhere.
    w.cluster.clear_requests();
    w.replay.clear_requests();
    let dry = w.rotate(&["--dry-run"]).await;
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}{}",
        text(&dry.stdout),
        text(&dry.stderr)
    );
    assert!(
        text(&dry.stdout).contains("(dry run)"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(w.vault_versions().len(), 1, "no new version");
    assert_eq!(w.in_secret(), SEEDED_PASSWORD);
    assert!(w.logs_in(SEEDED_PASSWORD).await);
    assert!(
        w.replay
            .requests()
            .iter()
            .all(|r| r.method == "GET" || r.path.contains("oauth2")),
        "only reads reach Key Vault: {:?}",
        w.replay
            .requests()
            .iter()
            .map(|r| (&r.method, &r.path))
            .collect::<Vec<_>>()
    );
    assert!(
        w.cluster
            .requests()
            .iter()
            // Questions to the authorizer (the rotation's verify-access step) create nothing.
            .filter(|r| !matches!(
                r.resource.as_deref(),
                Some("selfsubjectaccessreviews" | "selfsubjectrulesreviews")
            ))
            .all(|r| !matches!(r.op, Op::Create | Op::Update | Op::Patch | Op::Delete)),
        "no write reaches the cluster"
    );

    // The rotation, confirmed.
    let done = w
        .rotate(&[
            "--confirm",
            "ROTATE",
            "--audit-log",
            audit_arg,
            "--output",
            "json",
        ])
        .await;
    let (stdout, stderr) = (text(&done.stdout), text(&done.stderr));
    assert_eq!(done.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json report");
    assert_eq!(report["procedure"], "rotate-credentials");
    assert_eq!(report["status"], "ok");
    let new = w.in_secret();
    assert_ne!(new, SEEDED_PASSWORD, "the Secret changed");
    assert!(w.logs_in(&new).await, "the new password works");
    assert!(!w.logs_in(SEEDED_PASSWORD).await, "the old one is refused");
    let versions = w.vault_versions();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[1]["value"], new.as_str());
    assert_eq!(
        versions[0]["attributes"]["enabled"], false,
        "the old version is retired"
    );
    let log = std::fs::read_to_string(&audit).expect("audit log");
    for step in [
        "\"new-version\"",
        "\"db-password\"",
        "\"k8s-secret\"",
        "\"retire-old\"",
    ] {
        assert!(log.contains(step), "{step} not audited: {log}");
    }
    for out in [&stdout, &stderr, &log] {
        assert!(!out.contains(&new), "the new password leaked");
        assert!(!out.contains(SEEDED_PASSWORD), "the old password leaked");
        assert!(!out.contains(w.pg.password()), "the admin password leaked");
    }

    // Without the word the role's password is not changed: the credential in the Secret
    // still logs in, exit 2; the vault's newest version is again the working credential, so
    // the next rotation starts from it.
    let refused = w.rotate(&["--confirm", "WRONG"]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stdout));
    assert_eq!(w.in_secret(), new);
    assert!(w.logs_in(&new).await);
    let versions = w.vault_versions();
    let newest = versions.last().expect("versions");
    assert!(
        newest["value"] == new.as_str() && newest["attributes"]["enabled"] == true,
        "{:?}",
        versions
            .iter()
            .map(|v| &v["attributes"])
            .collect::<Vec<_>>()
    );
    let again = w.rotate(&["--confirm", "ROTATE"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));
    let newer = w.in_secret();
    assert!(newer != new && w.logs_in(&newer).await && !w.logs_in(&new).await);
}
