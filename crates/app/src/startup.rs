//! Builds the whole app from settings. `build` binds the listener and returns before serving, so
//! tests can use port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use dealbridge_storage::Store;
use dealbridge_web::metrics::Metrics;
use dealbridge_web::{AppIdentity, AppState, ConsoleState, RequestSpan, StateSigner, Templates};
use tracing_actix_web::TracingLogger;

use crate::pipedrive_setup::{return_leases, EmbeddedSandbox};
use crate::settings::Settings;
use dealbridge_budget::StoreLedger;
use dealbridge_tokens::TokenVault;

pub struct Application {
    port: u16,
    server: Server,
    store: Arc<dyn Store>,
    sandbox: Option<EmbeddedSandbox>,
    keys: Arc<dealbridge_crypto::KeyRing>,
    vault: TokenVault,
    pipedrive: dealbridge_pipedrive::Pipedrive,
    ledger: Arc<StoreLedger>,
    /// The `/metrics` server and its port, when configured.
    metrics: Option<(Server, u16)>,
    /// What requests, jobs and webhooks count into (exported on `/metrics`).
    recorder: Metrics,
    settings: Settings,
    /// Private mode: the API token the jobs act with, for its company only.
    private: Option<dealbridge_workflows::PrivateToken>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = crate::store::open(&settings).await?;
        let templates = Templates::load(settings.dev_reload).context("loading templates")?;
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let mut settings = settings;
        if settings.public_url.port() == Some(0) {
            // Tests bind port 0: the public address is only known now.
            let _ = settings.public_url.set_port(Some(port));
        }
        let keys = Arc::new(crate::secrets::key_ring(&settings)?);
        let session_key = crate::secrets::session_key(&settings)?;
        let pipedrive = crate::pipedrive_setup::connect(&settings, store.clone()).await?;
        let vault = TokenVault::new(
            store.clone(),
            keys.clone(),
            pipedrive.pipedrive.oauth().clone(),
        );
        let sandbox = pipedrive.sandbox.clone();
        let private = match &settings.pipedrive.private {
            Some(mode) => {
                let tenant =
                    crate::private_mode::start(mode, &pipedrive.pipedrive, store.as_ref()).await?;
                Some((tenant.dashboard(mode), tenant.workflows_token()))
            }
            None => None,
        };
        let recorder = Metrics::new();
        let metrics = crate::metrics_export::bind(
            &settings,
            crate::metrics_export::Sources {
                metrics: &recorder,
                pipedrive: &pipedrive.pipedrive,
                store: store.clone(),
                vault: Some(&vault),
            },
        )?;
        let client = pipedrive.pipedrive.clone();
        let console_password = crate::console_bootstrap::first_staff_account(
            store.as_ref(),
            &settings,
            sandbox.is_some(),
        )
        .await?;
        let ledger = pipedrive.ledger.clone();
        let state = AppState {
            store: store.clone(),
            templates,
            pipedrive: pipedrive.pipedrive,
            keys: keys.clone(),
            app: Arc::new(AppIdentity {
                client_id: pipedrive.client_id,
                client_secret: pipedrive.client_secret,
                jwt_secret: pipedrive.jwt_secret,
                public_url: settings.public_url.clone(),
                sandbox_url: sandbox.as_ref().map(|s| s.base_url.clone()),
            }),
            // One secret to configure: the OAuth state is signed with the session key.
            states: StateSigner::new(&session_key),
            console: Arc::new(ConsoleState::new(console_password)),
            session_max_age: settings.session_max_age,
            api2cart: api2cart_account(&settings, sandbox.as_ref()),
            demo_store: sandbox
                .as_ref()
                .map(|s| dealbridge_web::DemoStore::new(s.api2cart.demo_store_key.clone())),
            choices: Arc::default(),
            installer_names: Arc::default(),
            private: private
                .as_ref()
                .map(|(dashboard, _)| Arc::new(dashboard.clone())),
        };
        // Pipedrive's webhooks are recorded through group commit (see the inbox crate).
        let writer = dealbridge_inbox::InboxWriter::spawn(store.clone(), Default::default());
        let receivers = Receivers {
            pipedrive: dealbridge_inbox::PipedriveReceiver::new(
                store.clone(),
                keys.clone(),
                writer.clone(),
            ),
            event_api: dealbridge_inbox::EventApiReceiver::new(
                store.clone(),
                keys.clone(),
                writer.clone(),
            ),
            stores: dealbridge_inbox::StoreReceiver::new(store.clone(), keys.clone(), writer),
        };
        let server = serve(
            listener,
            state,
            receivers,
            recorder.clone(),
            &settings,
            session_key.clone(),
        )?;
        tracing::info!(address = %settings.listen, port, public_url = %settings.public_url, "listening");
        Ok(Self {
            port,
            server,
            store,
            sandbox,
            keys,
            vault,
            pipedrive: client,
            ledger,
            metrics,
            recorder,
            settings,
            private: private.map(|(_, token)| token),
        })
    }

    /// The embedded sandbox, when running without Pipedrive credentials.
    pub fn sandbox(&self) -> Option<&EmbeddedSandbox> {
        self.sandbox.as_ref()
    }

    pub fn keys(&self) -> Arc<dealbridge_crypto::KeyRing> {
        self.keys.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on, when `DEALBRIDGE_METRICS_LISTEN` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Serves and runs job workers until SIGTERM or SIGINT; both stop gracefully.
    pub async fn run_with_workers(self) -> anyhow::Result<()> {
        let Self {
            server,
            store,
            vault,
            pipedrive,
            ledger,
            metrics,
            recorder,
            settings,
            keys,
            private,
            ..
        } = self;
        spawn_metrics(metrics);
        let shutdown = crate::workers::shutdown_signal();
        let hooks = dealbridge_workflows::WebhookSetup {
            keys,
            public_url: settings.public_url.clone(),
        };
        let workers = crate::workers::run(
            store,
            Some((pipedrive, vault, hooks)),
            private,
            ledger.clone(),
            &recorder,
            &settings,
            shutdown,
        );
        let web = async { server.await.context("web server") };
        let (web, jobs) = tokio::join!(web, workers);
        return_leases(&ledger).await;
        tracing::info!("stopped");
        web.and(jobs)
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting and lets requests in flight finish
    /// (up to the shutdown timeout).
    pub async fn run(self) -> anyhow::Result<()> {
        spawn_metrics(self.metrics);
        let served = self.server.await.context("web server");
        return_leases(&self.ledger).await;
        served?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Our API2Cart account: the configured one, else the embedded sandbox's stand-in.
fn api2cart_account(
    settings: &Settings,
    sandbox: Option<&EmbeddedSandbox>,
) -> Option<dealbridge_inbox::Api2Cart> {
    match (&settings.api2cart_api_key, sandbox) {
        (Some(key), _) => Some(dealbridge_inbox::Api2Cart::new(
            settings.api2cart_url.clone(),
            key.clone(),
        )),
        (None, Some(sandbox)) => Some(dealbridge_inbox::Api2Cart::new(
            sandbox.api2cart.base_url.clone(),
            sandbox.api2cart.api_key.clone(),
        )),
        (None, None) => None,
    }
}

/// The metrics server stops on the same signals as the others (actix listens for them itself).
fn spawn_metrics(metrics: Option<(Server, u16)>) {
    if let Some((server, _)) = metrics {
        tokio::spawn(server);
    }
}

/// The pipelines of every route that takes events in, sharing one group-commit writer.
struct Receivers {
    pipedrive: dealbridge_inbox::PipedriveReceiver,
    event_api: dealbridge_inbox::EventApiReceiver,
    stores: dealbridge_inbox::StoreReceiver,
}

fn serve(
    listener: TcpListener,
    state: AppState,
    receivers: Receivers,
    recorder: Metrics,
    settings: &Settings,
    session_key: Vec<u8>,
) -> anyhow::Result<Server> {
    let state = web::Data::new(state);
    let pipedrive = web::Data::new(receivers.pipedrive);
    let event_api = web::Data::new(receivers.event_api);
    let stores = web::Data::new(receivers.stores);
    let recorder = web::Data::new(recorder);
    let https = settings.public_url.scheme() == "https";
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(dealbridge_web::html_errors))
            .wrap(dealbridge_web::session_middleware(&session_key, https))
            .wrap(Compress::default())
            .wrap(dealbridge_web::security_headers(https))
            .wrap(from_fn(dealbridge_web::request_id_header))
            // Logs the path only: query strings carry OAuth codes and Pipedrive's JWTs.
            .wrap(TracingLogger::<RequestSpan>::new())
            // Outermost: the time includes every other middleware.
            .wrap(from_fn(dealbridge_web::metrics::record_requests))
            .app_data(state.clone())
            .app_data(pipedrive.clone())
            .app_data(event_api.clone())
            .app_data(stores.clone())
            .app_data(recorder.clone())
            .configure(dealbridge_web::configure)
    })
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    // Responses go out in more than one write (headers, then a compressed body in chunks): with
    // Nagle's algorithm on, a later write waited for the client's delayed ACK, which added about
    // 40 ms to a third of the dashboard's loads (measured with `dealbridge-bench pages`).
    .tcp_nodelay(true)
    .listen(listener)?
    .run();
    Ok(server)
}
