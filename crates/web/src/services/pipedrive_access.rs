//! A Pipedrive client acting for a dashboard user, built the way the jobs build theirs (token
//! vault, the company's shared budget), for the few things the dashboard asks Pipedrive itself.

use dealbridge_core::{TenantId, UserId};
use dealbridge_pipedrive::{CompanyClient, Lane};
use dealbridge_tokens::TokenVault;
use dealbridge_workflows::{WebhookSetup, Workflows};

use crate::AppState;

/// The workflows over this app's store, client and keys.
pub fn workflows(state: &AppState) -> Workflows {
    let vault = vault(state);
    let hooks = WebhookSetup {
        keys: state.keys.clone(),
        public_url: state.app.public_url.clone(),
    };
    let workflows = Workflows::new(state.store.clone(), state.pipedrive.clone(), vault, hooks);
    match &state.private {
        Some(private) => workflows.with_api_token(private.api_token.clone()),
        None => workflows,
    }
}

/// The OAuth token vault over this app's store and keys (no use in private mode, which has none).
pub fn vault(state: &AppState) -> TokenVault {
    TokenVault::new(
        state.store.clone(),
        state.keys.clone(),
        state.pipedrive.oauth().clone(),
    )
}

/// A client for `user_id`'s installation, spending from the interactive lane: a person is
/// waiting for the answer. The error says, in words a tenant admin can act on, why there is
/// none (uninstalled, waiting for a reconnect).
pub async fn interactive_client(
    state: &AppState,
    tenant_id: TenantId,
    user_id: UserId,
) -> Result<CompanyClient, String> {
    workflows(state)
        .company_client(tenant_id, user_id, Lane::Interactive)
        .await
        .map_err(|e| e.chain())
}
