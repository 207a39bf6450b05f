//! Builds the whole app from settings. `build` binds the listener and returns before serving, so
//! tests can use port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use dealbridge_storage::Store;
use dealbridge_web::{AppState, Templates};
use tracing_actix_web::TracingLogger;

use crate::settings::Settings;

pub struct Application {
    port: u16,
    server: Server,
    store: Arc<dyn Store>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = crate::store::open(&settings).await?;
        let templates = Templates::load(settings.dev_reload).context("loading templates")?;
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            store: store.clone(),
            templates,
        };
        let server = serve(listener, state, &settings)?;
        tracing::info!(address = %settings.listen, port, public_url = %settings.public_url, "listening");
        Ok(Self {
            port,
            server,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting and lets requests in flight finish
    /// (up to the shutdown timeout).
    pub async fn run(self) -> anyhow::Result<()> {
        self.server.await.context("web server")?;
        tracing::info!("stopped");
        Ok(())
    }
}

fn serve(listener: TcpListener, state: AppState, settings: &Settings) -> anyhow::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(Compress::default())
            .wrap(dealbridge_web::security_headers())
            .wrap(from_fn(dealbridge_web::request_id_header))
            .wrap(TracingLogger::default())
            .app_data(state.clone())
            .configure(dealbridge_web::configure)
    })
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}
