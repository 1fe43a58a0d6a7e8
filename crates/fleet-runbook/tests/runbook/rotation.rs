//! Credential rotation on a real PostgreSQL server (TempPostgres), FakeCluster and Key Vault
//! on AzureReplay: one rotation that succeeds, and one that fails at each step (including an
//! old password the server still accepts); after each, the password in the application's
//! Kubernetes Secret logs in.

use std::sync::Arc;

use base64::Engine as _;
use fleet_azure::{GetSecretOptions, KeyVaultClient, KeyVaultClientOptions, SecretValue, Secrets};
use fleet_db::{DbOptions, PgClient, Security, TlsMode};
use fleet_guard::{
    Executor, Guards, ManualClock, MemoryAuditSink, Mode, RunContext, StepOutcome, TokenConfirm,
};
use fleet_k8s::KubeCluster;
use fleet_policy::Policy;
use fleet_runbook::{
    Azure, Containment, CredentialRotation, Db, Kube, Report, RotationTarget, RunStatus,
    SecurityResponse, Signals,
};
use fleet_testkit::azure::{
    AzureReplay, FaultKind, FaultTarget, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID,
};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op};
use fleet_testkit::postgres::TempPostgres;
use serde_json::json;

use crate::incident::kube_cluster;

/// PostgreSQL, the cluster and Key Vault of a rotation; `kube` and `admin` act as the
/// administrators.
pub(crate) struct World {
    pub(crate) pg: TempPostgres,
    pub(crate) cluster: FakeCluster,
    kube: KubeCluster,
    pub(crate) replay: AzureReplay,
    vault: Arc<KeyVaultClient>,
    admin: PgClient,
}

fn options(pg: &TempPostgres, user: &str, password: &str) -> DbOptions {
    DbOptions::from_url(pg.url_for(user, password, "postgres")).with_tls_mode(TlsMode::Disable)
}

impl World {
    async fn start() -> World {
        Self::start_with(false).await
    }

    /// The world with RBAC on in FakeCluster: the world's own credential-less client stays
    /// the administrator; identities from `kubeconfig_for` are authorized.
    pub(crate) async fn start_with_rbac() -> World {
        Self::start_with(true).await
    }

    async fn start_with(rbac: bool) -> World {
        let pg = tokio::task::spawn_blocking(|| TempPostgres::builder().start())
            .await
            .expect("join")
            .expect("postgres");
        let mut builder = FakeCluster::builder().seed_fleet();
        if rbac {
            builder = builder.rbac();
        }
        let cluster = builder.start().await.expect("cluster");
        let kube = kube_cluster(&cluster);
        let replay = AzureReplay::start().await.expect("replay");
        let vault = KeyVaultClient::new(
            replay.base_url(),
            replay.credential(),
            Some(KeyVaultClientOptions {
                client_options: azure_core::http::ClientOptions {
                    transport: Some(replay.transport()),
                    retry: fleet_azure::RetrySettings::fast_for_tests(1).into(),
                    ..Default::default()
                },
                verify_challenge_resource: false,
                ..Default::default()
            }),
        )
        .expect("vault");
        let admin = PgClient::new(
            options(&pg, pg.user(), pg.password()).with_audit(Arc::new(MemoryAuditSink::new())),
        )
        .expect("admin");
        World {
            pg,
            cluster,
            kube,
            replay,
            vault: Arc::new(vault),
            admin,
        }
    }

    async fn sql(&self, statement: &str) {
        let url = format!("{}?sslmode=disable", self.pg.url());
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client.batch_execute(statement).await.expect("sql");
    }

    /// A role `role` with password `old`, the same in Key Vault and in a Kubernetes Secret.
    pub(crate) async fn credential(&self, n: u32, old: &str) -> RotationTarget {
        let role = format!("app{n}");
        self.sql(&format!("CREATE ROLE {role} LOGIN PASSWORD '{old}'"))
            .await;
        self.vault
            .set_secret(&format!("db-pw-{n}"), &SecretValue::new(old), None)
            .await
            .expect("seed secret");
        let data = base64::engine::general_purpose::STANDARD.encode(old);
        self.cluster
            .store()
            .insert(
                json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": format!("app-db-{n}"), "namespace": FLEET_NAMESPACE},
                "data": {"password": data}}),
            )
            .expect("secret");
        RotationTarget::new(
            format!("db-pw-{n}"),
            role,
            format!("app-db-{n}"),
            vec!["fleet-api".into()],
        )
    }

    pub(crate) fn in_k8s(&self, n: u32) -> String {
        let s = self
            .cluster
            .store()
            .get("secrets", FLEET_NAMESPACE, &format!("app-db-{n}"))
            .expect("secret");
        let b = base64::engine::general_purpose::STANDARD
            .decode(s["data"]["password"].as_str().expect("data"))
            .expect("base64");
        String::from_utf8(b).expect("utf8")
    }

    pub(crate) async fn logs_in(&self, role: &str, password: &str) -> bool {
        self.admin
            .check_login(role, &fleet_db::Secret::new(password))
            .await
            .is_ok()
    }

    fn procedure(
        &self,
        target: RotationTarget,
        remediation: Option<PgClient>,
    ) -> CredentialRotation {
        self.procedure_as(Kube::from_cluster(self.kube.clone()), target, remediation)
    }

    /// The rotation of `target` with `kube` as its cluster client.
    pub(crate) fn procedure_as(
        &self,
        kube: Kube,
        target: RotationTarget,
        remediation: Option<PgClient>,
    ) -> CredentialRotation {
        let mut db = Db::from_client(self.admin.clone(), "postgres@temp");
        if let Some(r) = remediation {
            db.remediation = Arc::new(r);
        }
        CredentialRotation::new(
            kube,
            db,
            self.vault.clone(),
            Signals::default(),
            Policy::default(),
            target,
        )
    }

    async fn rotate(
        &self,
        target: RotationTarget,
        remediation: Option<PgClient>,
    ) -> (Report, MemoryAuditSink) {
        let audit = MemoryAuditSink::new();
        let report = self
            .procedure(target, remediation)
            .run(&executor(audit.clone()))
            .await;
        (report, audit)
    }
}

/// A rotation's executor, confirmed with `ROTATE`, auditing to `audit`.
pub(crate) fn executor(audit: MemoryAuditSink) -> Executor {
    let guards = Guards::new(Arc::new(audit)).with_confirm(Arc::new(TokenConfirm::new("ROTATE")));
    let ctx = RunContext::new(
        "rotate-credentials",
        "oncall@example.com",
        "SEC-1",
        Mode::Execute,
    )
    .expect("ctx");
    Executor::new(ctx, guards)
}

fn outcome(report: &Report, id: &str) -> Option<StepOutcome> {
    report
        .steps
        .iter()
        .find(|s| s.step.id == id)
        .map(|s| s.outcome)
}

#[tokio::test]
async fn credential_rotation_succeeds_and_every_failure_leaves_a_working_credential_then_containment()
 {
    let w = World::start().await;

    // 1. The rotation that succeeds.
    let t = w.credential(1, "old-password-1").await;
    let (report, audit) = w.rotate(t.clone(), None).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    let new = w.in_k8s(1);
    assert_ne!(new, "old-password-1");
    assert!(w.logs_in("app1", &new).await, "the new credential works");
    assert!(
        !w.logs_in("app1", "old-password-1").await,
        "the old one is refused"
    );
    let latest = w.vault.get_secret("db-pw-1", None).await.expect("latest");
    assert_eq!(latest.value.expose(), new);
    let retired = report
        .steps
        .iter()
        .find(|s| s.step.id == "retire-old")
        .expect("retired");
    let old_version = retired
        .step
        .summary
        .split_whitespace()
        .nth(2)
        .expect("version")
        .to_owned();
    let old = w
        .vault
        .get_secret(
            "db-pw-1",
            Some(GetSecretOptions {
                version: Some(old_version),
                ..Default::default()
            }),
        )
        .await;
    assert!(old.is_err(), "the old version is disabled");
    let text = format!(
        "{}{}",
        report.to_json(),
        serde_json::to_string(&audit.records()).expect("audit")
    );
    assert!(
        !text.contains(&new) && !text.contains("old-password-1"),
        "no password in the report or audit"
    );
    assert!(audit.records().iter().any(|r| r.step == "db-password"));

    // 2. Key Vault refuses the new version: nothing changed.
    let t = w.credential(2, "old-password-2").await;
    w.replay.inject(
        FaultTarget {
            method: Some("PUT".into()),
            path_contains: Some("secrets/db-pw-2".into()),
        },
        FaultKind::Forbidden,
        1,
    );
    let (report, _) = w.rotate(t, None).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert!(
        report
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("new-version")),
        "{:?}",
        report.stopped
    );
    assert_eq!(w.in_k8s(2), "old-password-2");
    assert!(w.logs_in("app2", "old-password-2").await);

    // 3. The database refuses the change (a role without CREATEROLE runs it): the new Key
    //    Vault version is disabled, the old credential still works.
    let t = w.credential(3, "old-password-3").await;
    w.sql("CREATE ROLE weak LOGIN PASSWORD 'weak-pw'").await;
    let weak = PgClient::new(
        options(&w.pg, "weak", "weak-pw").with_audit(Arc::new(MemoryAuditSink::new())),
    )
    .expect("weak");
    let (report, _) = w.rotate(t, Some(weak)).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(outcome(&report, "db-password"), Some(StepOutcome::Failed));
    assert_eq!(
        outcome(&report, "undo.new-version"),
        Some(StepOutcome::Succeeded)
    );
    assert_eq!(
        outcome(&report, "undo.latest"),
        Some(StepOutcome::Succeeded)
    );
    assert_eq!(w.in_k8s(3), "old-password-3");
    assert!(w.logs_in("app3", "old-password-3").await);
    let latest = w.vault.get_secret("db-pw-3", None).await;
    assert_eq!(
        latest.as_ref().map(|s| s.value.expose()).ok(),
        Some("old-password-3"),
        "the newest version is readable and holds the working credential"
    );

    // 4. The Kubernetes Secret cannot be written: the role's password goes back.
    let t = w.credential(4, "old-password-4").await;
    w.cluster.fail_next_on(Op::Patch, Some("secrets"), 403, 1);
    let (report, _) = w.rotate(t, None).await;
    assert_eq!(outcome(&report, "k8s-secret"), Some(StepOutcome::Failed));
    assert_eq!(
        outcome(&report, "undo.db-password"),
        Some(StepOutcome::Succeeded)
    );
    assert_eq!(
        outcome(&report, "undo.new-version"),
        Some(StepOutcome::Succeeded)
    );
    assert_eq!(w.in_k8s(4), "old-password-4");
    assert!(w.logs_in("app4", "old-password-4").await);

    // 5. The restart fails: the Secret and the role agree on the new value; the old version
    //    is not retired.
    let t = w.credential(5, "old-password-5").await;
    w.cluster
        .fail_next_on(Op::Patch, Some("deployments"), 403, 1);
    let (report, _) = w.rotate(t, None).await;
    assert_eq!(
        outcome(&report, "restart.fleet-api"),
        Some(StepOutcome::Failed)
    );
    assert!(
        report
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("restart.fleet-api"))
    );
    assert_eq!(outcome(&report, "retire-old"), None);
    let in_secret = w.in_k8s(5);
    assert_ne!(in_secret, "old-password-5");
    assert!(w.logs_in("app5", &in_secret).await);

    // 6. Retiring the old version fails: everything else is done and works.
    let t = w.credential(6, "old-password-6").await;
    w.replay.inject(
        FaultTarget {
            method: Some("PATCH".into()),
            path_contains: Some("secrets/db-pw-6".into()),
        },
        FaultKind::Forbidden,
        1,
    );
    let (report, _) = w.rotate(t, None).await;
    assert_eq!(outcome(&report, "verify-new"), Some(StepOutcome::Succeeded));
    assert_eq!(
        outcome(&report, "verify-old-rejected"),
        Some(StepOutcome::Succeeded)
    );
    assert_eq!(outcome(&report, "retire-old"), Some(StepOutcome::Failed));
    let in_secret = w.in_k8s(6);
    assert!(w.logs_in("app6", &in_secret).await);

    // 7. The old credential is still accepted (a `trust` rule in pg_hba.conf for the role makes
    //    any password work): the rotation stops there and the old version is not retired.
    let t = w.credential(7, "old-password-7").await;
    let hba = w.pg.data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    std::fs::write(&hba, format!("host all app7 127.0.0.1/32 trust\n{rules}")).expect("hba");
    w.sql("SELECT pg_reload_conf()").await;
    // The reload is a signal to the postmaster: wait until a new connection sees the rule.
    let mut trusted = false;
    for _ in 0..100 {
        if w.logs_in("app7", "any-password-at-all").await {
            trusted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(trusted, "the trust rule took effect");
    let (report, _) = w.rotate(t, None).await;
    assert_eq!(report.status, RunStatus::Failed, "{}", report.to_text());
    assert_eq!(outcome(&report, "verify-new"), Some(StepOutcome::Succeeded));
    assert_eq!(
        outcome(&report, "verify-old-rejected"),
        Some(StepOutcome::Failed)
    );
    assert!(
        report
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("still accepted")),
        "{:?}",
        report.stopped
    );
    assert_eq!(
        outcome(&report, "retire-old"),
        None,
        "the old version is kept"
    );
    let versions = w.replay.secret_versions("db-pw-7");
    assert!(
        versions.iter().all(|v| v["attributes"]["enabled"] == true),
        "{versions:?}"
    );
    assert!(w.logs_in("app7", &w.in_k8s(7)).await);
    std::fs::write(&hba, rules).expect("hba");
    w.sql("SELECT pg_reload_conf()").await;

    // On the same server: the security assessment and containment.
    contain(&w).await;
}

async fn contain(w: &World) {
    let arm = fleet_azure::ArmClient::new(
        w.replay.base_url(),
        w.replay.credential(),
        Some(fleet_azure::ArmClientOptions {
            client_options: azure_core::http::ClientOptions {
                transport: Some(w.replay.transport()),
                retry: fleet_azure::RetrySettings::fast_for_tests(1).into(),
                ..Default::default()
            },
            polling: fleet_azure::PollSettings::fast_for_tests(std::time::Duration::from_secs(20)),
            ..Default::default()
        }),
    )
    .expect("arm");
    let firewall = arm
        .flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)
        .expect("server");
    let activity = arm
        .activity_log_client("089bd33f-d4ec-47fe-8ba5-0753aa5c5b33")
        .expect("activity");
    let azure = Azure::new("MSSupportGroup")
        .with_firewall(Arc::new(firewall))
        .with_activity(Arc::new(activity));
    w.cluster
        .store()
        .insert(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "ci-bot-token", "namespace": FLEET_NAMESPACE,
                "annotations": {"kubernetes.io/service-account.name": "ci-bot"}},
            "data": {"token": "dG9rZW4="}}))
        .expect("token secret");
    let db = Db::from_client(w.admin.clone(), "postgres@temp");
    // Security (and legal, on the same channel) hear of every step through a webhook.
    let told = crate::common::Receiver::start(crate::common::Answer::new(200, "ok")).await;
    let webhook = fleet_runbook::WebhookNotifier::new(
        fleet_runbook::SecretUrl::parse("webhook", &told.url("/security")).expect("url"),
        None,
    )
    .expect("notifier");
    let security = SecurityResponse::new(
        Kube::from_cluster(w.kube.clone()),
        Some(db),
        azure,
        Signals::new(vec![Arc::new(webhook)], None),
        Policy::default(),
    );
    // The activity log example is from January 2015: assess as of then.
    let clock = Arc::new(ManualClock::new(
        "2015-01-23T00:00:00Z".parse().expect("ts"),
    ));
    let executor = |word: Option<&str>| {
        let mut g = Guards::new(Arc::new(MemoryAuditSink::new())).with_clock(clock.clone());
        if let Some(word) = word {
            g = g.with_confirm(Arc::new(TokenConfirm::new(word)));
        }
        Executor::new(
            RunContext::new("security", "oncall@example.com", "SEC-2", Mode::Execute).expect("ctx"),
            g,
        )
    };
    let (report, evidence) = security
        .assess(
            &executor(None),
            std::time::Duration::from_secs(2 * 24 * 3600),
        )
        .await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(evidence.activity.len(), 1);
    assert_eq!(
        evidence.activity[0].caller.as_deref(),
        Some("admin@contoso.com")
    );
    let roles = evidence.roles.expect("roles");
    assert!(roles.roles.iter().any(|r| r.name == "app1" && r.can_login));

    // Isolation: the denylist.
    let isolate = security
        .isolate(
            &executor(Some("ISOLATE")),
            "fleet-ingress",
            &["203.0.113.7/32".into()],
        )
        .await;
    assert_eq!(isolate.status, RunStatus::Ok, "{}", isolate.to_text());
    let ingress = w
        .cluster
        .store()
        .get("ingresses", FLEET_NAMESPACE, "fleet-ingress")
        .expect("ingress");
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"],
        "203.0.113.7/32"
    );

    // Containment without the words is refused at the first step and changes nothing.
    let what = Containment::default()
        .with_roles(["app1"])
        .with_service_accounts(["ci-bot"])
        .with_firewall_rules(["examplefirewallrule"]);
    let refused = security.contain(&executor(None), &what).await;
    assert_eq!(refused.status, RunStatus::Refused);
    assert!(w.logs_in("app1", &w.in_k8s(1)).await);

    // With them: the role is locked out, the token Secret deleted, the rule deleted.
    let contained = security
        .contain(
            &executor(Some("DISABLE")),
            &Containment::default().with_roles(["app1"]),
        )
        .await;
    assert_eq!(contained.status, RunStatus::Ok, "{}", contained.to_text());
    assert!(!w.logs_in("app1", &w.in_k8s(1)).await, "NOLOGIN");
    let revoked = security
        .contain(
            &executor(Some("REVOKE")),
            &Containment::default().with_service_accounts(["ci-bot"]),
        )
        .await;
    assert_eq!(revoked.status, RunStatus::Ok, "{}", revoked.to_text());
    assert!(
        w.cluster
            .store()
            .get("secrets", FLEET_NAMESPACE, "ci-bot-token")
            .is_none()
    );
    let fw = security
        .contain(
            &executor(Some("FIREWALL")),
            &Containment::default().with_firewall_rules(["examplefirewallrule"]),
        )
        .await;
    assert_eq!(fw.status, RunStatus::Ok, "{}", fw.to_text());
    assert!(
        w.replay
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path.contains("firewallRules/examplefirewallrule"))
    );
    // #security was told of the isolation and of each containment.
    let posts: Vec<serde_json::Value> = told.recorded().iter().map(|r| r.json()).collect();
    assert!(posts.len() >= 4, "{posts:?}");
    assert!(
        posts.iter().all(|p| p.to_string().contains("security")),
        "{posts:?}"
    );
}
