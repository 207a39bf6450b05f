//! Binds the metrics page (`dealbridge_web::metrics`) to `DEALBRIDGE_METRICS_LISTEN`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use anyhow::Context;
use dealbridge_pipedrive::Pipedrive;
use dealbridge_storage::Store;
use dealbridge_tokens::TokenVault;
use dealbridge_web::metrics::{serve, Metrics, MetricsExporter};

/// What the page reports on: the app's recorder, its Pipedrive client, store and token vault.
pub struct Sources<'a> {
    pub metrics: &'a Metrics,
    pub pipedrive: &'a Pipedrive,
    pub store: Arc<dyn Store>,
    pub vault: Option<&'a TokenVault>,
}

/// The metrics server of this process when `DEALBRIDGE_METRICS_LISTEN` is set, and its port.
/// Not yet running: spawn the server where the process runs its others.
pub fn bind(
    settings: &crate::settings::Settings,
    sources: Sources<'_>,
) -> anyhow::Result<Option<(Server, u16)>> {
    let Some(address) = settings.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address)
        .with_context(|| format!("binding the metrics address {address}"))?;
    let port = listener.local_addr()?.port();
    let exporter = MetricsExporter::new(
        sources.metrics.clone(),
        sources.pipedrive.clone(),
        sources.store,
        sources.vault.cloned(),
        settings.metrics_max_companies,
    );
    let server = serve(listener, exporter).context("serving metrics")?;
    tracing::info!(%address, port, "metrics served at /metrics");
    Ok(Some((server, port)))
}
