//! What the `pipeline` scenario runs against: an in-process sandbox with one company per tenant
//! (limits sized so budgets do not dominate), the store, the real workflows and the webhook
//! receiver the sandbox delivers to, and each tenant installed through the sandbox's OAuth.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use chrono::Utc;
use dealbridge_budget::{StoreLedger, StoreLedgerConfig};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::NewInstallation;
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::KeyRing;
use dealbridge_inbox::PipedriveReceiver;
use dealbridge_jobs::Registry;
use dealbridge_pipedrive::{Pipedrive, PipedriveConfig};
use dealbridge_sandbox::{AppSpec, CompanySpec, Plan, SandboxConfig, SandboxHandle, UserSpec};
use dealbridge_storage::Store;
use dealbridge_tokens::TokenVault;
use dealbridge_workflows::{provision_job, register_pipedrive_events, WebhookSetup, Workflows};
use secrecy::SecretString;

const CLIENT_ID: &str = "dealbridge-bench";
const CLIENT_SECRET: &str = "bench-secret";
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

/// One tenant: its store row, its sandbox company and the installing user.
pub struct BenchTenant {
    pub tenant: Tenant,
    pub company: u64,
    pub user: UserId,
}

pub struct World {
    pub sandbox: SandboxHandle,
    pub store: Arc<dyn Store>,
    pub workflows: Workflows,
    pub tenants: Vec<BenchTenant>,
    receiver: actix_web::dev::ServerHandle,
    flusher: tokio::task::JoinHandle<()>,
}

impl World {
    pub async fn start(store: Arc<dyn Store>, tenants: usize) -> anyhow::Result<Self> {
        let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
            apps: vec![AppSpec {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                callback_url: CALLBACK.into(),
                scopes: dealbridge_sandbox::all_scopes(),
            }],
            // Webhook retries in milliseconds, not minutes.
            time_scale: 0.001,
            call_log_capacity: 2_000_000,
            ..SandboxConfig::default()
        })
        .await?;
        let keys = Arc::new(KeyRing::generate("bench")?.0);
        // The app's ledger: budgets kept in the store, flushed in the background.
        let ledger = Arc::new(StoreLedger::new(
            store.clone(),
            StoreLedgerConfig::default(),
        ));
        let flusher = ledger.spawn_flusher();
        let pd = Pipedrive::new(
            PipedriveConfig::new(
                sandbox.base_url().parse()?,
                CLIENT_ID,
                SecretString::from(CLIENT_SECRET),
                CALLBACK.parse()?,
            ),
            ledger.clone(),
        )?;
        let (receiver, public_url) = serve_receiver(store.clone(), keys.clone())?;
        let vault = TokenVault::new(store.clone(), keys.clone(), pd.oauth().clone());
        let hooks = WebhookSetup {
            keys: keys.clone(),
            public_url,
        };
        let workflows = Workflows::new(store.clone(), pd.clone(), vault, hooks);
        let mut world = Self {
            sandbox,
            store,
            workflows,
            tenants: Vec::with_capacity(tenants),
            receiver,
            flusher,
        };
        for n in 0..tenants {
            let tenant = world.install(n, &pd, &keys).await?;
            world.tenants.push(tenant);
        }
        Ok(world)
    }

    /// A company of its own, installed the way the OAuth callback records an install (with the
    /// provisioning job in the same transaction).
    async fn install(
        &self,
        n: usize,
        pd: &Pipedrive,
        keys: &KeyRing,
    ) -> anyhow::Result<BenchTenant> {
        let info = self.sandbox.control().create_company(CompanySpec {
            name: format!("Bench {n}"),
            domain: format!("bench{n}"),
            plan: Plan::Ultimate,
            seats: 1,
            // Budgets sized far above the run's spend, so the figures measure the workflows.
            daily_budget: Some(100_000_000),
            burst_limit: Some(100_000),
            users: vec![UserSpec {
                name: format!("Admin {n}"),
                email: format!("admin@bench{n}.test"),
                is_admin: true,
            }],
        })?;
        let user_id = *info.user_ids.first().context("the company has no user")?;
        let redirect = self
            .sandbox
            .control()
            .approve_install(CLIENT_ID, info.id, user_id, None)?;
        let code = url::Url::parse(&redirect)?
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .context("no code in the callback")?;
        let set = pd.oauth().exchange_code(SecretString::from(code)).await?;
        let company = CompanyId::new(i64::try_from(info.id)?);
        let user = UserId::new(i64::try_from(user_id)?);
        let sealed = dealbridge_tokens::seal(
            keys,
            company,
            user,
            &set.access_token,
            &set.refresh_token.context("no refresh token")?,
            Utc::now() + chrono::Duration::hours(1),
        )?;
        let (tenant, _) = self
            .store
            .record_install(
                &NewTenant {
                    company_id: company,
                    company_name: info.name.clone(),
                    company_domain: info.domain.clone(),
                },
                &NewInstallation {
                    user_id: user,
                    api_domain: info.api_domain.clone(),
                    scopes: set.scopes.clone(),
                    tokens: sealed,
                },
                &NewAuditEntry {
                    tenant_id: None,
                    actor: "bench".into(),
                    action: "install".into(),
                    detail: serde_json::json!({}),
                },
                &[provision_job(user)],
            )
            .await?;
        Ok(BenchTenant {
            tenant,
            company: info.id,
            user,
        })
    }

    /// Every job kind the app runs: the workflows and the Pipedrive event jobs.
    pub fn registry(&self) -> Registry {
        register_pipedrive_events(self.workflows.register(Registry::new()), self.store.clone())
    }

    pub async fn stop(self) {
        self.receiver.stop(true).await;
        self.sandbox.stop().await;
        self.flusher.abort();
    }
}

/// The web crate's receiver route, reduced to its answer as a status.
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
        Err(_) => HttpResponse::BadRequest().finish(),
    }
}

/// The receiver on `127.0.0.1:0`; returns its handle and base URL.
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
