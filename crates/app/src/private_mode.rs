//! Private mode's start-up: Dealbridge for one company, acting with a personal API token instead
//! of a Marketplace app's OAuth tokens. Every instance asks Pipedrive who the token belongs to
//! (`GET /v1/users/me`) and records that company's tenant and installation (active, no tokens
//! stored: the token stays configuration) with the post-install job, idempotently, so restarts
//! and several instances agree on one tenant.

use std::sync::Arc;

use anyhow::Context;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, ErrorChain, TenantId, UserId};
use dealbridge_pipedrive::{ApiToken, CompanyCtx, ErrorClass, Lane, Pipedrive};
use dealbridge_storage::Store;

use crate::settings::PrivateMode;

/// The company private mode serves, as recorded at start-up.
#[derive(Debug, Clone)]
pub struct PrivateTenant {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub company_id: CompanyId,
    pub company_name: String,
    pub token: ApiToken,
}

impl PrivateTenant {
    /// What the dashboard needs to know of it.
    pub fn dashboard(&self, private: &PrivateMode) -> dealbridge_web::PrivateDashboard {
        dealbridge_web::PrivateDashboard {
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            company_name: self.company_name.clone(),
            admin_email: private.admin_email.clone(),
            api_token: self.workflows_token(),
        }
    }

    /// What the workflow jobs act with.
    pub fn workflows_token(&self) -> dealbridge_workflows::PrivateToken {
        dealbridge_workflows::PrivateToken {
            token: self.token.clone(),
            company_id: self.company_id,
        }
    }
}

/// Learns the token's company and user and records them. A token Pipedrive refuses stops
/// start-up with a message naming the setting, never its value.
pub async fn start(
    private: &PrivateMode,
    pipedrive: &Pipedrive,
    store: &dyn Store,
) -> anyhow::Result<PrivateTenant> {
    let token = ApiToken::new(private.api_token.clone());
    // The company is what this call tells us: its 2 tokens go to the "unknown company" (0).
    let client = pipedrive.company(CompanyCtx {
        company_id: dealbridge_pipedrive::CompanyId(0),
        user_id: dealbridge_pipedrive::UserId(0),
        api_domain: private.api_url.clone(),
        token_source: Arc::new(token.clone()),
        lane: Lane::Interactive,
    });
    let me = client.users().me().await.map_err(|e| match e.class() {
        ErrorClass::NeedsReauth => anyhow::anyhow!(
            "Pipedrive refused DEALBRIDGE_PIPEDRIVE_API_TOKEN at {} (401): check the token (Pipedrive: Personal preferences › API) and DEALBRIDGE_PIPEDRIVE_API_URL",
            private.api_url
        ),
        _ => anyhow::anyhow!(
            "could not ask Pipedrive at {} who DEALBRIDGE_PIPEDRIVE_API_TOKEN belongs to: {}",
            private.api_url,
            ErrorChain(&e)
        ),
    })?;
    let company_id = CompanyId::new(i64::try_from(me.company_id).context("company id")?);
    let user_id = UserId::new(i64::try_from(me.id).context("user id")?);
    let tenant = NewTenant {
        company_id,
        company_name: me
            .company_name
            .clone()
            .unwrap_or_else(|| format!("Company {company_id}")),
        company_domain: me.company_domain.clone().unwrap_or_default(),
    };
    let api_domain = private.api_url.as_str().trim_end_matches('/').to_string();
    let audit = NewAuditEntry {
        tenant_id: None,
        actor: format!("pipedrive_user:{user_id}"),
        action: "private.start".into(),
        detail: serde_json::json!({ "api_domain": api_domain }),
    };
    // The post-install job runs again on each start (once however many instances start: its
    // key is unique while open); it is idempotent, and re-checks fields and webhooks.
    let follow_up = [dealbridge_workflows::provision_job(user_id)];
    let (tenant, installation) = store
        .record_token_install(&tenant, user_id, &api_domain, &[], &audit, &follow_up)
        .await
        .context("recording the private mode's tenant")?;
    tracing::info!(
        tenant.id = %tenant.id,
        company.id = %company_id,
        pipedrive.user_id = %user_id,
        "private mode: acting for one company with a personal API token"
    );
    Ok(PrivateTenant {
        tenant_id: tenant.id,
        user_id: installation.user_id,
        company_id,
        company_name: tenant.company_name,
        token,
    })
}
