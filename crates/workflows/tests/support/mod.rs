//! The test environment the workflow tests share: a sandbox Pipedrive, a SQLite store, the
//! workflows, and a webhook receiver on a real port that the sandbox delivers to. Each test binary
//! uses part of it.
#![allow(dead_code)]

pub mod scenario;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use chrono::Utc;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::NewInstallation;
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::KeyRing;
use dealbridge_inbox::{PipedriveReceiver, ReceiveError};
use dealbridge_jobs::{Backoff, Registry, Worker};
use dealbridge_pipedrive::ledger::{InMemoryLedger, LedgerConfig};
use dealbridge_pipedrive::{CompanyClient, Pipedrive, PipedriveConfig};
use dealbridge_sandbox::{AppSpec, CompanySpec, Plan, SandboxConfig, SandboxHandle, UserSpec};
use dealbridge_storage::{Maintenance, Store};
use dealbridge_storage_sql::{PgStore, SqliteStore};
use dealbridge_tokens::TokenVault;
use dealbridge_workflows::{provision_job, register_pipedrive_events, WebhookSetup, Workflows};
use secrecy::SecretString;

pub const CLIENT_ID: &str = "dealbridge-test";
const CLIENT_SECRET: &str = "test-secret";
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

/// Workflow jobs retry within milliseconds here, so fault tests stay fast.
const FAST_RETRIES: Backoff = Backoff {
    base: Duration::from_millis(20),
    max: Duration::from_millis(200),
};

/// What a test may change about its environment.
#[derive(Default)]
pub struct Options {
    pub public_url: Option<url::Url>,
    /// The Pipedrive client's whole-request timeout (default 30 s).
    pub request_timeout: Option<Duration>,
    /// The client's own retries wait milliseconds instead of up to seconds.
    pub fast_client_retries: bool,
    pub ledger: LedgerConfig,
    /// A Postgres server's URL: the test gets a database of its own there instead of SQLite.
    pub postgres: Option<String>,
}

pub struct Env {
    pub sandbox: SandboxHandle,
    pub store: Arc<dyn Store>,
    pub workflows: Workflows,
    pub keys: Arc<KeyRing>,
    pub pd: Pipedrive,
    pub ledger: Arc<InMemoryLedger>,
    pub company: u64,
    pub user: UserId,
    pub api_domain: String,
    /// Where the receiver listens (`{base}/hooks/pipedrive/{path}`).
    pub public_url: url::Url,
    receiver: actix_web::dev::ServerHandle,
    /// The admin URL and the database made for this test, dropped by `stop`.
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// The web crate's route, reduced to what the tests need: the receiver's answer as a status.
async fn receive(
    req: HttpRequest,
    receiver: web::Data<PipedriveReceiver>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    match receiver.receive(&path, authorization, &body).await {
        Ok(_) => HttpResponse::Ok().finish(),
        Err(ReceiveError::UnknownPath) => HttpResponse::NotFound().finish(),
        Err(ReceiveError::Unauthorized) => HttpResponse::Unauthorized().finish(),
        Err(ReceiveError::ForeignCompany) => HttpResponse::Forbidden().finish(),
        Err(ReceiveError::Malformed(_)) => HttpResponse::BadRequest().finish(),
        Err(ReceiveError::Unavailable(_)) => HttpResponse::ServiceUnavailable().finish(),
    }
}

impl Env {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None).await
    }

    /// `public_url` overrides where Pipedrive is told to deliver (an unreachable address makes
    /// every delivery fail).
    pub async fn start_with(public_url: Option<url::Url>) -> anyhow::Result<Self> {
        Self::start_opts(Options {
            public_url,
            ..Options::default()
        })
        .await
    }

    pub async fn start_opts(options: Options) -> anyhow::Result<Self> {
        let public_url = options.public_url;
        let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
            apps: vec![AppSpec {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                callback_url: CALLBACK.into(),
                scopes: vec![
                    "deals:full".into(),
                    "contacts:full".into(),
                    "activities:full".into(),
                    "search:read".into(),
                    "deal-fields:full".into(),
                    "webhooks:full".into(),
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
            // Webhook retries at +3 ms, +30 ms, +150 ms; the delivery timeout stays at 1 s.
            time_scale: 0.001,
            ..SandboxConfig::default()
        })
        .await?;
        let company = sandbox.control().companies().remove(0);
        let dir = tempfile::tempdir()?;
        let (store, postgres) = match options.postgres {
            Some(admin_url) => {
                let (store, database) = postgres_store(&admin_url).await?;
                (store, Some((admin_url, database)))
            }
            None => {
                let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
                let store = SqliteStore::connect(&url, 4).await?;
                store.migrate().await?;
                (Arc::new(store) as Arc<dyn Store>, None)
            }
        };
        let ledger = Arc::new(InMemoryLedger::new(options.ledger));
        let mut config = PipedriveConfig::new(
            sandbox.base_url().parse()?,
            CLIENT_ID,
            SecretString::from(CLIENT_SECRET),
            CALLBACK.parse()?,
        );
        if let Some(timeout) = options.request_timeout {
            config.timeouts.request = timeout;
        }
        if options.fast_client_retries {
            config.retry.base = Duration::from_millis(20);
            config.retry.cap = Duration::from_millis(200);
        }
        let pd = Pipedrive::new(config, ledger.clone())?;
        let keys = Arc::new(KeyRing::generate("k1")?.0);
        let (receiver, listening) = serve_receiver(store.clone(), keys.clone())?;
        let public_url = public_url.unwrap_or(listening);
        let vault = TokenVault::new(store.clone(), keys.clone(), pd.oauth().clone());
        let hooks = WebhookSetup {
            keys: keys.clone(),
            public_url: public_url.clone(),
        };
        Ok(Self {
            workflows: Workflows::new(store.clone(), pd.clone(), vault, hooks)
                .with_flow_backoff(FAST_RETRIES),
            user: UserId::new(i64::try_from(company.user_ids[0])?),
            company: company.id,
            api_domain: company.api_domain.clone(),
            sandbox,
            store,
            keys,
            pd,
            ledger,
            public_url,
            receiver,
            postgres,
            _dir: dir,
        })
    }

    /// Installs through the sandbox's OAuth and records it the way the callback does, with the
    /// provisioning job enqueued in the same transaction.
    pub async fn install(&self) -> anyhow::Result<Tenant> {
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

    /// Every job kind the app runs: the workflows and the Pipedrive event jobs.
    pub fn registry(&self) -> Registry {
        register_pipedrive_events(self.workflows.register(Registry::new()), self.store.clone())
    }

    /// Runs a worker until the tenant has no job ready to run or running; returns the dead count.
    /// (A job waiting for a later time, such as one deferred by the budget, does not hold it up.)
    pub async fn work_off(&self, tenant: &Tenant) -> anyhow::Result<u64> {
        let worker = Worker::builder(self.store.clone(), self.registry())
            .poll_interval(Duration::from_millis(20))
            .build();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker.run(async {
            let _ = stopped.await;
        }));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        // Idle on three polls in a row: a job claimed between the two reads of one poll, or one
        // enqueued by a job finishing then, shows on the next.
        let mut idle_polls = 0;
        let counts = loop {
            let counts = self.store.job_counts(Some(tenant.id)).await?;
            let ready = ready_queues_of(self.store.as_ref(), tenant).await?;
            idle_polls = if ready == 0 && counts.running == 0 {
                idle_polls + 1
            } else {
                0
            };
            if idle_polls == 3 {
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

    /// A client acting for the installing user, as the jobs build it.
    pub async fn client(&self, tenant: &Tenant) -> anyhow::Result<CompanyClient> {
        self.workflows
            .company_client(
                tenant.id,
                self.user,
                dealbridge_pipedrive::Lane::Interactive,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.chain()))
    }

    pub fn field_creations(&self) -> usize {
        self.posts_to("/dealFields")
    }

    /// Successful `POST`s to paths ending in `suffix`.
    pub fn posts_to(&self, suffix: &str) -> usize {
        self.sandbox
            .control()
            .calls(None)
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with(suffix) && c.status < 300)
            .count()
    }

    pub async fn deal_field_codes(&self) -> anyhow::Result<Vec<(String, String)>> {
        let tenant = self
            .store
            .tenant_by_company(CompanyId::new(i64::try_from(self.company)?))
            .await?
            .context("tenant")?;
        let page = self
            .client(&tenant)
            .await?
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

    pub async fn stop(self) {
        self.receiver.stop(true).await;
        self.sandbox.stop().await;
        if let Some((admin_url, database)) = &self.postgres {
            drop(self.store);
            drop(self.workflows);
            if let Err(e) = drop_database(admin_url, database).await {
                eprintln!("test database {database} left behind: {e}");
            }
        }
    }
}

/// A fresh, migrated database on the server at `admin_url`; returns the store and its name.
async fn postgres_store(admin_url: &str) -> anyhow::Result<(Arc<dyn Store>, String)> {
    let database = format!("dealbridge_flows_test_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(admin_url);
    let store = PgStore::connect(&format!("{base}/{database}"), 8).await?;
    store.migrate().await?;
    Ok((Arc::new(store), database))
}

async fn drop_database(admin_url: &str, database: &str) -> anyhow::Result<()> {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
    // The store's pool may still be closing; force its connections off.
    sqlx::query(&format!("drop database if exists {database} with (force)"))
        .execute(&mut admin)
        .await?;
    Ok(())
}

/// How many of the tenant's queues (one per lane) have a job ready to run now.
async fn ready_queues_of(store: &dyn Store, tenant: &Tenant) -> anyhow::Result<usize> {
    let queues = store.ready_queues(Utc::now(), None, 1000).await?;
    Ok(queues
        .iter()
        .filter(|q| q.tenant_id == Some(tenant.id))
        .count())
}

/// The receiver on `127.0.0.1:0`, recording each event on its own; returns its base URL.
fn serve_receiver(
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
) -> anyhow::Result<(actix_web::dev::ServerHandle, url::Url)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let receiver = web::Data::new(PipedriveReceiver::one_by_one(store, keys));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(receiver.clone())
            .route("/hooks/pipedrive/{path}", web::post().to(receive))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((handle, format!("http://127.0.0.1:{port}/").parse()?))
}
