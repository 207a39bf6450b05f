//! Running the job workers: alone (`dealbridge worker`) or next to the web server (`serve`).

use std::sync::Arc;

use dealbridge_budget::{GateConfig, LedgerGate, StoreLedger};
use dealbridge_jobs::{Finished, Registry, Worker};
use dealbridge_pipedrive::Pipedrive;
use dealbridge_storage::Store;
use dealbridge_tokens::TokenVault;
use dealbridge_web::metrics::Metrics;
use dealbridge_workflows::{
    register_pipedrive_events, register_refresh_sweep, PrivateToken, RetentionPolicy, WebhookSetup,
    Workflows,
};

use crate::pipedrive_setup::return_leases;
use crate::settings::Settings;

/// What the job handlers of this binary act with.
pub struct WorkerDeps {
    pub store: Arc<dyn Store>,
    /// Present when this process can reach Pipedrive (see `worker_only`).
    pub pipedrive: Option<(Pipedrive, TokenVault, WebhookSetup)>,
    /// Private mode: jobs act with this API token, for its company only.
    pub private: Option<PrivateToken>,
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
        // An API token is never refreshed: no sweep in private mode.
        let (workflows, sweep) = match deps.private {
            Some(private) => (workflows.with_api_token(private), false),
            None => (workflows, true),
        };
        registry = workflows.register(registry);
        registry = dealbridge_import::register(registry, deps.store, workflows);
        if sweep {
            registry = register_refresh_sweep(registry, vault);
        }
    }
    registry
}

/// Runs workers until `shutdown` completes, then stops claiming and lets running jobs finish.
/// A tenant's jobs are claimed only while its company has Pipedrive budget for their lane.
pub async fn run(
    store: Arc<dyn Store>,
    pipedrive: Option<(Pipedrive, TokenVault, WebhookSetup)>,
    private: Option<PrivateToken>,
    ledger: Arc<StoreLedger>,
    metrics: &Metrics,
    settings: &Settings,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let deps = WorkerDeps {
        store: store.clone(),
        pipedrive,
        private,
        retention: retention_policy(settings),
    };
    let gate = LedgerGate::new(store.clone(), ledger, GateConfig::default());
    let counted = metrics.clone();
    let worker = Worker::builder(store, registry(deps))
        .budget(Arc::new(gate))
        .on_finished(Arc::new(move |kind: &str, finished: Finished| {
            counted.job_finished(kind, finished.as_str())
        }))
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
        keep_events: chrono::Duration::days(i64::from(settings.event_retention_days)),
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
    let metrics = Metrics::new();
    // Only a real Pipedrive is reachable from a separate worker process: an embedded sandbox lives
    // inside its `serve` process, which runs the sweep itself.
    let reachable =
        settings.pipedrive.credentials.is_some() || settings.pipedrive.private.is_some();
    let mut private = None;
    let (pipedrive, ledger) = if reachable {
        let keys = Arc::new(crate::secrets::key_ring(settings)?);
        let setup = crate::pipedrive_setup::connect(settings, store.clone()).await?;
        let vault = TokenVault::new(store.clone(), keys.clone(), setup.pipedrive.oauth().clone());
        // Most API calls are made here, so this process exports its own figures.
        let sources = crate::metrics_export::Sources {
            metrics: &metrics,
            pipedrive: &setup.pipedrive,
            store: store.clone(),
            vault: Some(&vault),
        };
        if let Some((server, _)) = crate::metrics_export::bind(settings, sources)? {
            tokio::spawn(server);
        }
        let hooks = WebhookSetup {
            keys,
            public_url: settings.public_url.clone(),
        };
        if let Some(mode) = &settings.pipedrive.private {
            let tenant = crate::private_mode::start(mode, &setup.pipedrive, store.as_ref()).await?;
            private = Some(tenant.workflows_token());
        }
        (Some((setup.pipedrive, vault, hooks)), setup.ledger)
    } else {
        // The budgets are in the store all the same: the gate reads them.
        (None, crate::pipedrive_setup::ledger(store.clone()))
    };
    tracing::info!(concurrency = settings.worker_concurrency, "workers running");
    let outcome = run(
        store,
        pipedrive,
        private,
        ledger.clone(),
        &metrics,
        settings,
        shutdown_signal(),
    )
    .await;
    return_leases(&ledger).await;
    outcome
}
