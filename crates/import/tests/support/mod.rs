//! A sandbox Pipedrive with one company, a SQLite store with that company installed, and the
//! import's chunk jobs run by a real worker.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::NewInstallation;
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::KeyRing;
use dealbridge_import::control;
use dealbridge_import::{ingest_file, target_fields, Mapping, Upload};
use dealbridge_jobs::{Registry, Worker};
use dealbridge_pipedrive::ledger::{InMemoryLedger, LedgerConfig};
use dealbridge_pipedrive::{Pipedrive, PipedriveConfig};
use dealbridge_sandbox::{AppSpec, CompanySpec, Plan, SandboxConfig, SandboxHandle, UserSpec};
use dealbridge_storage::{DuplicatePolicy, Import, ImportKind, ImportRow, Maintenance, Store};
use dealbridge_storage_sql::SqliteStore;
use dealbridge_tokens::TokenVault;
use dealbridge_workflows::{WebhookSetup, Workflows};
use secrecy::SecretString;

const CLIENT_ID: &str = "dealbridge-test";
const CLIENT_SECRET: &str = "test-secret";
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

pub struct Env {
    pub sandbox: SandboxHandle,
    pub store: Arc<dyn Store>,
    pub workflows: Workflows,
    pub company: u64,
    pub user: UserId,
    pub tenant: Tenant,
}

/// A SQLite store in a temporary folder, migrated.
pub async fn sqlite() -> anyhow::Result<(Arc<dyn Store>, Cleanup)> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = SqliteStore::connect(&url, 4).await?;
    store.migrate().await?;
    Ok((Arc::new(store), Cleanup::Dir(dir)))
}

/// A Postgres store in a fresh schema of the server at `url`, migrated; the schema is dropped by
/// [`Cleanup::run`] once the test passed.
pub async fn postgres(url: &str) -> anyhow::Result<(Arc<dyn Store>, Cleanup)> {
    use sqlx::{Connection, Executor};
    let schema = format!("import_{}", uuid::Uuid::new_v4().simple());
    let base = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url)?;
    let mut admin = sqlx::PgConnection::connect_with(&base).await?;
    admin
        .execute(format!("create schema {schema}").as_str())
        .await?;
    admin.close().await?;
    let options = base.clone().options([("search_path", schema.as_str())]);
    let store = dealbridge_storage_sql::PgStore::connect_with(options, 4).await?;
    store.migrate().await?;
    Ok((Arc::new(store), Cleanup::Schema(Box::new(base), schema)))
}

/// What a test's store leaves behind.
pub enum Cleanup {
    Dir(tempfile::TempDir),
    Schema(Box<sqlx::postgres::PgConnectOptions>, String),
}

impl Cleanup {
    pub async fn run(self) {
        if let Cleanup::Schema(base, schema) = self {
            use sqlx::{Connection, Executor};
            if let Ok(mut admin) = sqlx::PgConnection::connect_with(&base).await {
                let _ = admin
                    .execute(format!("drop schema {schema} cascade").as_str())
                    .await;
            }
        }
    }
}

impl Env {
    pub async fn start(store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
            apps: vec![AppSpec {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                callback_url: CALLBACK.into(),
                scopes: vec![
                    "contacts:full".into(),
                    "deals:full".into(),
                    "search:read".into(),
                ],
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
        let ledger = Arc::new(InMemoryLedger::new(LedgerConfig::default()));
        let config = PipedriveConfig::new(
            sandbox.base_url().parse()?,
            CLIENT_ID,
            SecretString::from(CLIENT_SECRET),
            CALLBACK.parse()?,
        );
        let pd = Pipedrive::new(config, ledger)?;
        let keys = Arc::new(KeyRing::generate("k1")?.0);
        let vault = TokenVault::new(store.clone(), keys.clone(), pd.oauth().clone());
        let hooks = WebhookSetup {
            keys: keys.clone(),
            public_url: "http://127.0.0.1:9".parse()?,
        };
        let user = UserId::new(i64::try_from(company.user_ids[0])?);
        let tenant = install(
            &sandbox,
            store.as_ref(),
            &pd,
            &keys,
            company.id,
            user,
            &company.api_domain,
        )
        .await?;
        Ok(Self {
            workflows: Workflows::new(store.clone(), pd, vault, hooks),
            company: company.id,
            user,
            tenant,
            sandbox,
            store,
        })
    }

    /// Uploads `csv`, maps it as suggested (the dry run must accept it) with `policy`, starts it.
    pub async fn start_import(
        &self,
        kind: ImportKind,
        csv: &str,
        policy: DuplicatePolicy,
    ) -> anyhow::Result<Import> {
        let mut file = tempfile::NamedTempFile::new()?;
        file.write_all(csv.as_bytes())?;
        file.flush()?;
        let upload = Upload {
            tenant_id: self.tenant.id,
            user_id: self.user,
            kind,
            file_name: "test.csv".into(),
        };
        let import = ingest_file(self.store.clone(), upload, file.path().to_owned()).await?;
        let fields = target_fields(kind, &[]);
        let mapping = Mapping(dealbridge_import::suggest_mapping(
            kind,
            &import.headers,
            &fields,
        ));
        control::dry_run(self.store.as_ref(), &import, &mapping, policy, &fields).await?;
        let import = control::load(self.store.as_ref(), self.tenant.id, import.id).await?;
        control::start(self.store.as_ref(), &import, "test").await?;
        Ok(import)
    }

    pub fn registry(&self) -> Registry {
        dealbridge_import::register(Registry::new(), self.store.clone(), self.workflows.clone())
    }

    /// Runs workers until the import is no longer running (retries waiting for their time are
    /// picked up as they come due), at most `limit`.
    /// Starts an import of `csv` and runs it until it ends (at most 30 s); the import as started
    /// and as it ended.
    pub async fn import_to_end(
        &self,
        kind: ImportKind,
        csv: &str,
        policy: DuplicatePolicy,
    ) -> anyhow::Result<(Import, Import)> {
        let import = self.start_import(kind, csv, policy).await?;
        let done = self.run_import(&import, Duration::from_secs(30)).await?;
        Ok((import, done))
    }

    /// The import's first ten rows, in row order.
    pub async fn rows(&self, import: &Import) -> anyhow::Result<Vec<ImportRow>> {
        let rows = self
            .store
            .import_rows(self.tenant.id, import.id, None, 0, 10);
        Ok(rows.await?)
    }

    pub async fn run_import(&self, import: &Import, limit: Duration) -> anyhow::Result<Import> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            Worker::builder(self.store.clone(), self.registry())
                .build()
                .run_until_idle()
                .await?;
            let current = control::load(self.store.as_ref(), self.tenant.id, import.id).await?;
            if current.state != dealbridge_storage::ImportState::Running
                || tokio::time::Instant::now() > deadline
            {
                return Ok(current);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn persons(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        Ok(self
            .sandbox
            .control()
            .records(self.company, dealbridge_sandbox::EntityKind::Person)?)
    }

    /// Extra records sharing an email (0 when every email is on one person).
    pub fn duplicate_persons(&self) -> anyhow::Result<usize> {
        let report = self.sandbox.control().duplicates(
            self.company,
            dealbridge_sandbox::EntityKind::Person,
            "email",
        )?;
        Ok(report.extra_records)
    }
}

async fn install(
    sandbox: &SandboxHandle,
    store: &dyn Store,
    pd: &Pipedrive,
    keys: &KeyRing,
    company: u64,
    user: UserId,
    api_domain: &str,
) -> anyhow::Result<Tenant> {
    let redirect =
        sandbox
            .control()
            .approve_install(CLIENT_ID, company, u64::try_from(user.get())?, None)?;
    let code = url::Url::parse(&redirect)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code in the callback")?;
    let set = pd.oauth().exchange_code(SecretString::from(code)).await?;
    let company_id = CompanyId::new(i64::try_from(company)?);
    let sealed = dealbridge_tokens::seal(
        keys,
        company_id,
        user,
        &set.access_token,
        &set.refresh_token.context("no refresh token")?,
        Utc::now() + chrono::Duration::hours(1),
    )?;
    let (tenant, _) = store
        .record_install(
            &NewTenant {
                company_id,
                company_name: "Acme".into(),
                company_domain: "acme".into(),
            },
            &NewInstallation {
                user_id: user,
                api_domain: api_domain.to_owned(),
                scopes: vec!["contacts:full".into()],
                tokens: sealed,
            },
            &NewAuditEntry {
                tenant_id: None,
                actor: "test".into(),
                action: "install".into(),
                detail: serde_json::json!({}),
            },
            &[],
        )
        .await?;
    Ok(tenant)
}
