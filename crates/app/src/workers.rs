//! Running the job workers: alone (`dealbridge worker`) or next to the web server (`serve`).

use std::sync::Arc;

use dealbridge_jobs::{Registry, Worker};
use dealbridge_storage::Store;

use crate::settings::Settings;

/// Every job kind this binary knows. Kinds are added here as the workflows that enqueue them land;
/// a job whose kind no running worker knows waits and is retried (a newer instance may know it).
pub fn registry() -> Registry {
    Registry::new()
}

/// Runs workers until `shutdown` completes, then stops claiming and lets running jobs finish.
pub async fn run(
    store: Arc<dyn Store>,
    settings: &Settings,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let worker = Worker::builder(store, registry())
        .concurrency(settings.worker_concurrency)
        .shutdown_grace(settings.shutdown_timeout)
        .build();
    let report = worker.run(shutdown).await?;
    tracing::info!(
        jobs.completed = report.completed,
        jobs.retried = report.retried,
        jobs.dead = report.dead,
        "workers stopped"
    );
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// `dealbridge worker`.
pub async fn worker_only(settings: &Settings) -> anyhow::Result<()> {
    let store = crate::store::open(settings).await?;
    tracing::info!(concurrency = settings.worker_concurrency, "workers running");
    run(store, settings, shutdown_signal()).await
}
