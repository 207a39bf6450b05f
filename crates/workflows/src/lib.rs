#![doc = include_str!("../README.md")]

mod company;
mod errors;
mod provision;
mod refresh_sweep;
mod retention;

use std::sync::Arc;

use dealbridge_jobs::Registry;
use dealbridge_pipedrive::Pipedrive;
use dealbridge_storage::Store;
use dealbridge_tokens::TokenVault;

pub use errors::job_error;
pub use provision::{provision_job, ProvisionPayload, PROVISION_KIND};
pub use refresh_sweep::{
    register_refresh_sweep, IDLE_REFRESH_AFTER, REFRESH_SWEEP_EVERY, REFRESH_SWEEP_KIND,
};
pub use retention::{RetentionPolicy, PURGE_KIND};

/// What the workflow jobs need: the store, the shared Pipedrive client and the token vault.
#[derive(Clone)]
pub struct Workflows {
    store: Arc<dyn Store>,
    pipedrive: Pipedrive,
    vault: TokenVault,
}

impl Workflows {
    pub fn new(store: Arc<dyn Store>, pipedrive: Pipedrive, vault: TokenVault) -> Self {
        Self {
            store,
            pipedrive,
            vault,
        }
    }

    /// Adds every job kind of this crate to `registry`.
    pub fn register(&self, registry: Registry) -> Registry {
        let provision = self.clone();
        registry.handle(PROVISION_KIND, move |ctx| {
            let workflows = provision.clone();
            async move { workflows.provision(ctx).await }
        })
    }
}
