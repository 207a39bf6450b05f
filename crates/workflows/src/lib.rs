#![doc = include_str!("../README.md")]

mod company;
mod coverage;
mod errors;
mod flows;
mod pipedrive_events;
mod provision;
mod reconcile;
mod refresh_sweep;
mod retention;
mod tenant_jobs;
mod webhook_check;
mod webhooks;

use std::sync::Arc;

use dealbridge_jobs::{Backoff, JobContext, Registry};
use dealbridge_pipedrive::Pipedrive;
use dealbridge_storage::Store;
use dealbridge_tokens::TokenVault;

pub use coverage::mirror_complete;
pub use errors::job_error;
pub use flows::{flow_kind, FLOW_TYPES, SKIPPED_SOURCE_OFF};
pub use pipedrive_events::{register_pipedrive_events, remember_answer, EventProblem};
pub use provision::{provision_job, ProvisionPayload, PROVISION_KIND};
pub use reconcile::{reconcile_job, RECONCILE_ALL_KIND, RECONCILE_EVERY, RECONCILE_KIND};
pub use refresh_sweep::{
    register_refresh_sweep, IDLE_REFRESH_AFTER, REFRESH_SWEEP_EVERY, REFRESH_SWEEP_KIND,
};
pub use retention::{Pruned, RetentionPolicy, PRUNE_EVENTS_KIND, PURGE_KIND};
pub use tenant_jobs::tenant_job;
pub use webhook_check::{
    webhook_check_job, WEBHOOK_CHECK_ALL_KIND, WEBHOOK_CHECK_EVERY, WEBHOOK_CHECK_KIND,
};
pub use webhooks::{followed_webhooks, webhook_key, Registered, WebhookSetup};

/// What the workflow jobs need: the store, the shared Pipedrive client, the token vault, and what
/// webhook registration needs (the key ring and our public address).
#[derive(Clone)]
pub struct Workflows {
    store: Arc<dyn Store>,
    pipedrive: Pipedrive,
    vault: TokenVault,
    hooks: WebhookSetup,
    /// How the workflow jobs back off between attempts.
    flow_backoff: Backoff,
    /// Private mode: the one company's API token, used instead of the vault.
    private: Option<PrivateToken>,
}

/// A personal API token and the company it belongs to (private mode).
#[derive(Clone, Debug)]
pub struct PrivateToken {
    pub token: dealbridge_pipedrive::ApiToken,
    pub company_id: dealbridge_core::CompanyId,
}

/// The workflow jobs' backoff: a failed write is usually a passing fault, so the first retry
/// comes within a second, doubling to at most ten minutes.
pub const FLOW_BACKOFF: Backoff = Backoff {
    base: std::time::Duration::from_secs(1),
    max: std::time::Duration::from_secs(600),
};

impl Workflows {
    pub fn new(
        store: Arc<dyn Store>,
        pipedrive: Pipedrive,
        vault: TokenVault,
        hooks: WebhookSetup,
    ) -> Self {
        Self {
            store,
            pipedrive,
            vault,
            hooks,
            flow_backoff: FLOW_BACKOFF,
            private: None,
        }
    }

    /// The same workflows with another backoff for the workflow jobs (tests use milliseconds).
    pub fn with_flow_backoff(mut self, backoff: Backoff) -> Self {
        self.flow_backoff = backoff;
        self
    }

    /// Private mode: every job acts with `private.token`, and only for its company; the vault is
    /// not asked (an API token is never refreshed).
    pub fn with_api_token(mut self, private: PrivateToken) -> Self {
        self.private = Some(private);
        self
    }

    /// Adds every job kind of this crate that calls Pipedrive to `registry`: the workflows of the
    /// customer's events, provisioning, and the periodic webhook check and reconcile sweeps. (`event.pipedrive` calls no one: see
    /// [`register_pipedrive_events`].)
    pub fn register(&self, registry: Registry) -> Registry {
        let provision = self.clone();
        let check = self.clone();
        let check_all = self.clone();
        let reconcile = self.clone();
        let reconcile_all = self.clone();
        self.register_flows(registry, self.flow_backoff)
            .handle(PROVISION_KIND, move |ctx| {
                let workflows = provision.clone();
                async move { workflows.provision(ctx).await }
            })
            .handle(WEBHOOK_CHECK_KIND, move |ctx| {
                let workflows = check.clone();
                async move { workflows.check_webhooks(ctx).await }
            })
            .periodic(
                WEBHOOK_CHECK_ALL_KIND,
                WEBHOOK_CHECK_EVERY,
                move |_: JobContext| {
                    let workflows = check_all.clone();
                    async move { workflows.check_all_webhooks().await }
                },
            )
            .handle(RECONCILE_KIND, move |ctx| {
                let workflows = reconcile.clone();
                async move { workflows.reconcile(ctx).await }
            })
            .periodic(RECONCILE_ALL_KIND, RECONCILE_EVERY, move |_: JobContext| {
                let workflows = reconcile_all.clone();
                async move { workflows.reconcile_all().await }
            })
    }
}
