#![doc = include_str!("../README.md")]

mod api;
pub mod api2cart;
mod clock;
pub mod config;
mod control;
mod delivery;
mod error;
pub mod faults;
mod limits;
mod oauth;
mod server;
pub mod spec;
mod spec_table;
mod world;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};

pub use config::{AppSpec, CompanySpec, Plan, SandboxConfig, UserSpec};
pub use control::{all_scopes, Budget, CompanyInfo, Control, DuplicateReport, WebhookStats};
pub use error::{Error, Result};
pub use faults::{FaultSpec, Latency};
pub use world::entities::EntityKind;
pub use world::{App as RegisteredApp, CallRecord, RateLimit, TokenGrant, User};

/// Every operation the sandbox implements, as (file, method, path template of the official file).
pub fn implemented_operations() -> Vec<(spec::Api, String, String)> {
    api::router::Router::declared()
}

/// A built sandbox that is not yet serving: its URL, its control API and the server future.
pub struct Sandbox {
    pub base_url: String,
    pub control: Control,
    pub server: actix_web::dev::Server,
}

/// Builds the sandbox on `listener`: state from `config`, routes, and a server that starts when
/// awaited (or spawned). The base URL is `config.public_base_url` or the listener's address.
pub fn build(config: SandboxConfig, listener: TcpListener) -> Result<Sandbox> {
    let addr = listener.local_addr().map_err(Error::Bind)?;
    let base_url = config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let mut world = world::World::new(&config);
    world.base_url = base_url.clone();
    let shared = Arc::new(server::Shared::new(
        world,
        config.time_scale,
        config.frozen_clock,
    ));
    let control = Control {
        shared: shared.clone(),
    };
    for app in config.apps.iter().cloned() {
        control.create_app(app)?;
    }
    for company in config.companies.iter().cloned() {
        control.create_company(company)?;
    }
    let data = web::Data::from(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .configure(server::configure)
    })
    .workers(config.workers.max(1))
    .disable_signals()
    .listen(listener)
    .map_err(Error::Bind)?
    .run();
    Ok(Sandbox {
        base_url,
        control,
        server,
    })
}

/// Serves until the process is asked to stop (Ctrl-C), for `dealbridge sandbox --listen ADDR`.
pub async fn run(config: SandboxConfig, listener: TcpListener) -> Result<()> {
    serve(config, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Serves until `shutdown` completes, then stops gracefully (in-flight requests finish).
pub async fn serve(
    config: SandboxConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let sandbox = build(config, listener)?;
    tracing::info!(base_url = %sandbox.base_url, "sandbox listening");
    let handle = sandbox.server.handle();
    let server = tokio::spawn(sandbox.server);
    shutdown.await;
    handle.stop(true).await;
    let _ = server.await;
    Ok(())
}

/// A sandbox running in the background of the current tokio runtime.
pub struct SandboxHandle {
    base_url: String,
    control: Control,
    server: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT`: OAuth at `/oauth/*`, the API at `/api/v1`, `/v1`, `/api/v2`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.server.stop(false).await;
        let _ = self.task.await;
    }
}

/// Starts a sandbox on `127.0.0.1` with a free port, for tests and benchmarks. Works from any
/// tokio runtime (`#[tokio::test]`, `#[tokio::main]`): actix runs its workers on their own threads.
pub async fn spawn(config: SandboxConfig) -> Result<SandboxHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::Bind)?;
    let sandbox = build(config, listener)?;
    let server = sandbox.server.handle();
    let task = tokio::spawn(sandbox.server);
    Ok(SandboxHandle {
        base_url: sandbox.base_url,
        control: sandbox.control,
        server,
        task,
    })
}
