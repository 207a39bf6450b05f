//! The workflow jobs against the sandbox, run by a real worker on a SQLite store.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::fields::FieldPurpose;
use dealbridge_core::installation::{InstallationStatus, NewInstallation};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::KeyRing;
use dealbridge_jobs::{Registry, Worker};
use dealbridge_pipedrive::ledger::{InMemoryLedger, LedgerConfig};
use dealbridge_pipedrive::{Pipedrive, PipedriveConfig};
use dealbridge_sandbox::{AppSpec, CompanySpec, Plan, SandboxConfig, SandboxHandle, UserSpec};
use dealbridge_storage::{Maintenance, Store};
use dealbridge_storage_sqlite::SqliteStore;
use dealbridge_tokens::TokenVault;
use dealbridge_workflows::{provision_job, RetentionPolicy, Workflows};
use secrecy::SecretString;

const CLIENT_ID: &str = "dealbridge-test";
const CLIENT_SECRET: &str = "test-secret";
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

struct Env {
    sandbox: SandboxHandle,
    store: Arc<dyn Store>,
    workflows: Workflows,
    keys: Arc<KeyRing>,
    pd: Pipedrive,
    company: u64,
    user: UserId,
    api_domain: String,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> anyhow::Result<Self> {
        let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
            apps: vec![AppSpec {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                callback_url: CALLBACK.into(),
                scopes: vec!["deals:full".into(), "deal-fields:full".into()],
            }],
            companies: vec![CompanySpec {
                name: "Acme".into(),
                domain: "acme".into(),
                plan: Plan::Growth,
                seats: 3,
                daily_budget: None,
                burst_limit: None,
                users: vec![UserSpec {
                    name: "Ada".into(),
                    email: "ada@acme.test".into(),
                    is_admin: true,
                }],
            }],
            ..SandboxConfig::default()
        })
        .await?;
        let company = sandbox.control().companies().remove(0);
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = SqliteStore::connect(&url, 4).await?;
        store.migrate().await?;
        let store: Arc<dyn Store> = Arc::new(store);
        let pd = Pipedrive::new(
            PipedriveConfig::new(
                sandbox.base_url().parse()?,
                CLIENT_ID,
                SecretString::from(CLIENT_SECRET),
                CALLBACK.parse()?,
            ),
            Arc::new(InMemoryLedger::new(LedgerConfig::default())),
        )?;
        let keys = Arc::new(KeyRing::generate("k1")?.0);
        let vault = TokenVault::new(store.clone(), keys.clone(), pd.oauth().clone());
        Ok(Self {
            workflows: Workflows::new(store.clone(), pd.clone(), vault),
            user: UserId::new(i64::try_from(company.user_ids[0])?),
            company: company.id,
            api_domain: company.api_domain.clone(),
            sandbox,
            store,
            keys,
            pd,
            _dir: dir,
        })
    }

    /// Installs through the sandbox's OAuth and records it the way the callback does, with the
    /// provisioning job enqueued in the same transaction.
    async fn install(&self) -> anyhow::Result<Tenant> {
        let user = u64::try_from(self.user.get())?;
        let redirect =
            self.sandbox
                .control()
                .approve_install(CLIENT_ID, self.company, user, None)?;
        let code = url::Url::parse(&redirect)?
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .context("no code in the callback")?;
        let set = self
            .pd
            .oauth()
            .exchange_code(SecretString::from(code))
            .await?;
        let company = CompanyId::new(i64::try_from(self.company)?);
        let sealed = dealbridge_tokens::seal(
            &self.keys,
            company,
            self.user,
            &set.access_token,
            &set.refresh_token.context("no refresh token")?,
            Utc::now() + chrono::Duration::hours(1),
        )?;
        let (tenant, _) = self
            .store
            .record_install(
                &NewTenant {
                    company_id: company,
                    company_name: "Acme".into(),
                    company_domain: "acme".into(),
                },
                &NewInstallation {
                    user_id: self.user,
                    api_domain: self.api_domain.clone(),
                    scopes: vec!["deals:full".into()],
                    tokens: sealed,
                },
                &NewAuditEntry {
                    tenant_id: None,
                    actor: "test".into(),
                    action: "install".into(),
                    detail: serde_json::json!({}),
                },
                &[provision_job(self.user)],
            )
            .await?;
        Ok(tenant)
    }

    /// Runs a worker until the tenant has no queued or running job; returns the dead count.
    async fn work_off(&self, tenant: &Tenant) -> anyhow::Result<u64> {
        let registry = self.workflows.register(Registry::new());
        let worker = Worker::builder(self.store.clone(), registry)
            .poll_interval(Duration::from_millis(20))
            .build();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker.run(async {
            let _ = stopped.await;
        }));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let counts = loop {
            let counts = self.store.job_counts(Some(tenant.id)).await?;
            if counts.queued + counts.running == 0 {
                break counts;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "jobs not done: {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = stop.send(());
        running.await??;
        for dead in self.store.dead_jobs(Some(tenant.id), 10).await? {
            eprintln!("dead job {}: {:?}", dead.kind, dead.last_error);
        }
        Ok(counts.dead)
    }

    fn field_creations(&self) -> usize {
        self.sandbox
            .control()
            .calls(None)
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/dealFields") && c.status < 300)
            .count()
    }

    async fn deal_field_codes(&self) -> anyhow::Result<Vec<(String, String)>> {
        let source = self.workflows.clone();
        let tenant = self
            .store
            .tenant_by_company(CompanyId::new(i64::try_from(self.company)?))
            .await?
            .context("tenant")?;
        let client = source
            .company_client(
                tenant.id,
                self.user,
                dealbridge_pipedrive::Lane::Interactive,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let page = client
            .fields(dealbridge_pipedrive::models::FieldEntity::Deal)
            .list(dealbridge_pipedrive::models::ListQuery::new().limit(500))
            .await?;
        Ok(page
            .items
            .into_iter()
            .filter(|f| f.is_custom_field)
            .map(|f| (f.field_name, f.field_code))
            .collect())
    }
}

#[tokio::test]
async fn an_install_provisions_its_deal_fields_once() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = env.install().await?;
    assert_eq!(env.work_off(&tenant).await?, 0, "provisioning died");

    let recorded = env.store.provisioned_fields(tenant.id).await?;
    let mut expected: Vec<_> = FieldPurpose::ALL.iter().map(|p| p.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(
        recorded
            .iter()
            .map(|f| f.purpose.as_str())
            .collect::<Vec<_>>(),
        expected,
        "every purpose recorded"
    );
    let in_pipedrive = env.deal_field_codes().await?;
    for field in &recorded {
        let name = field.purpose.spec().name;
        assert!(
            in_pipedrive
                .iter()
                .any(|(n, code)| n == name && *code == field.field_code),
            "{name} not in Pipedrive under {}: {in_pipedrive:?}",
            field.field_code
        );
    }
    assert_eq!(env.field_creations(), 3, "one creation per field");
    let log = env.store.audit_log(Some(tenant.id), 10).await?;
    assert!(
        log.iter().any(|e| e.action == "install.provisioned"),
        "no audit entry"
    );

    // A reinstall runs the job again: nothing new is created and the codes stay.
    env.install().await?;
    assert_eq!(env.work_off(&tenant).await?, 0);
    assert_eq!(env.field_creations(), 3, "a reinstall created fields again");
    assert_eq!(env.store.provisioned_fields(tenant.id).await?, recorded);
    Ok(())
}

#[tokio::test]
async fn a_tenant_that_lost_its_records_adopts_the_fields_it_made() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = env.install().await?;
    env.work_off(&tenant).await?;
    let first = env.store.provisioned_fields(tenant.id).await?;

    // Uninstalled and purged, then installed again: the fields are still in Pipedrive.
    env.store.retire_installation(tenant.id, env.user).await?;
    let purge = RetentionPolicy {
        keep_after_uninstall: chrono::Duration::zero(),
        ..RetentionPolicy::default()
    };
    assert_eq!(purge.purge(env.store.as_ref()).await.ok(), Some(1));
    let again = env.install().await?;
    assert_ne!(again.id, tenant.id, "a purged tenant comes back as new");
    env.work_off(&again).await?;

    assert_eq!(env.field_creations(), 3, "fields were created twice");
    let codes = |fields: &[dealbridge_core::fields::ProvisionedField]| {
        fields
            .iter()
            .map(|f| f.field_code.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        codes(&env.store.provisioned_fields(again.id).await?),
        codes(&first)
    );
    Ok(())
}

#[tokio::test]
async fn a_tenant_waiting_for_reconnect_is_not_provisioned_yet() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = env.install().await?;
    env.store
        .set_installation_status(tenant.id, env.user, InstallationStatus::NeedsReauth)
        .await?;
    let result = env
        .workflows
        .company_client(tenant.id, env.user, dealbridge_pipedrive::Lane::Interactive)
        .await;
    match result {
        Err(dealbridge_jobs::JobError::RetryAt(_, at)) => assert!(at > Utc::now()),
        Err(other) => anyhow::bail!("expected a timed wait, got {other}"),
        Ok(_) => anyhow::bail!("a client for an installation that needs reauth"),
    }

    // The provisioning job itself, run by a worker: it waits, and Pipedrive sees nothing.
    env.sandbox.control().clear_calls();
    let registry = env.workflows.register(Registry::new());
    let report = Worker::builder(env.store.clone(), registry)
        .build()
        .run_until_idle()
        .await?;
    assert_eq!(
        (report.completed, report.retried, report.dead),
        (0, 1, 0),
        "the job ran once and was put back: {report:?}"
    );
    let counts = env.store.job_counts(Some(tenant.id)).await?;
    assert_eq!(
        (counts.queued, counts.running, counts.dead),
        (1, 0, 0),
        "the job waits for the reconnect"
    );
    assert!(
        env.store.provisioned_fields(tenant.id).await?.is_empty(),
        "fields recorded"
    );
    assert_eq!(env.field_creations(), 0, "a field was created in Pipedrive");
    let calls = env.sandbox.control().calls(None);
    assert!(calls.is_empty(), "Pipedrive was called: {calls:?}");
    Ok(())
}

#[tokio::test]
async fn the_purge_keeps_tenants_inside_the_retention_period() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = env.install().await?;
    env.store.retire_installation(tenant.id, env.user).await?;

    let policy = RetentionPolicy::default();
    assert_eq!(policy.purge(env.store.as_ref()).await.ok(), Some(0));
    assert!(env.store.tenant(tenant.id).await?.is_some());

    let due = RetentionPolicy {
        keep_after_uninstall: chrono::Duration::zero(),
        batch: 1,
        ..policy
    };
    assert_eq!(due.purge(env.store.as_ref()).await.ok(), Some(1));
    assert!(env.store.tenant(tenant.id).await?.is_none());
    Ok(())
}
