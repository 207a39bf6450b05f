//! Running the job workers: alone (`dealbridge worker`) or next to the web server (`serve`).

use std::sync::Arc;

use dealbridge_budget::{GateConfig, LedgerGate, StoreLedger};
use dealbridge_jobs::{Registry, Worker};
use dealbridge_pipedrive::Pipedrive;
use dealbridge_storage::Store;
use dealbridge_tokens::TokenVault;
use dealbridge_workflows::{
    register_pipedrive_events, register_refresh_sweep, RetentionPolicy, WebhookSetup, Workflows,
};

use crate::pipedrive_setup::return_leases;
use crate::settings::Settings;

/// What the job handlers of this binary act with.
pub struct WorkerDeps {
    pub store: Arc<dyn Store>,
    /// Present when this process can reach Pipedrive (see `worker_only`).
    pub pipedrive: Option<(Pipedrive, TokenVault, WebhookSetup)>,
    pub retention: RetentionPolicy,
}

/// Every job kind this binary knows. Kinds are added here as the workflows that enqueue them land;
/// a job whose kind no running worker knows waits and is retried (a newer instance may know it).
pub fn registry(deps: WorkerDeps) -> Registry {
    let mut registry = deps.retention.register(Registry::new(), deps.store.clone());
    // Applying recorded Pipedrive events calls no one, so every worker can.
    registry = register_pipedrive_events(registry, deps.store.clone());
    if let Some((pipedrive, vault, hooks)) = deps.pipedrive {
        let workflows = Workflows::new(deps.store.clone(), pipedrive, vault.clone(), hooks);
        registry = workflows.register(registry);
        registry = dealbridge_import::register(registry, deps.store, workflows);
        registry = register_refresh_sweep(registry, vault);
    }
    registry
}

/// Runs workers until `shutdown` completes, then stops claiming and lets running jobs finish.
/// A tenant's jobs are claimed only while its company has Pipedrive budget for their lane.
pub async fn run(
    store: Arc<dyn Store>,
    pipedrive: Option<(Pipedrive, TokenVault, WebhookSetup)>,
    ledger: Arc<StoreLedger>,
    settings: &Settings,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let deps = WorkerDeps {
        store: store.clone(),
        pipedrive,
        retention: retention_policy(settings),
    };
    let gate = LedgerGate::new(store.clone(), ledger, GateConfig::default());
    let worker = Worker::builder(store, registry(deps))
        .budget(Arc::new(gate))
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

fn retention_policy(settings: &Settings) -> RetentionPolicy {
    RetentionPolicy {
        keep_after_uninstall: chrono::Duration::days(i64::from(settings.retention_days)),
        ..RetentionPolicy::default()
    }
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
    // Only a real Pipedrive is reachable from a separate worker process: an embedded sandbox lives
    // inside its `serve` process, which runs the sweep itself.
    let (pipedrive, ledger) = match settings.pipedrive.credentials {
        Some(_) => {
            let keys = Arc::new(crate::secrets::key_ring(settings)?);
            let setup = crate::pipedrive_setup::connect(settings, store.clone()).await?;
            // Most API calls are made here, so this process exports its own figures.
            if let Some((server, _)) =
                crate::metrics_export::bind(settings, &setup.pipedrive, store.clone())?
            {
                tokio::spawn(server);
            }
            let vault =
                TokenVault::new(store.clone(), keys.clone(), setup.pipedrive.oauth().clone());
            let hooks = WebhookSetup {
                keys,
                public_url: settings.public_url.clone(),
            };
            (Some((setup.pipedrive, vault, hooks)), setup.ledger)
        }
        // The budgets are in the store all the same: the gate reads them.
        None => (None, crate::pipedrive_setup::ledger(store.clone())),
    };
    tracing::info!(concurrency = settings.worker_concurrency, "workers running");
    let outcome = run(
        store,
        pipedrive,
        ledger.clone(),
        settings,
        shutdown_signal(),
    )
    .await;
    return_leases(&ledger).await;
    outcome
}
