//! Completing an install: exchange the code, learn who installed, seal the tokens, and write tenant,
//! installation, audit entry and post-install job in one transaction (nothing half-created on
//! failure).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::{Installation, NewInstallation};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, UserId};
use dealbridge_pipedrive::{CompanyCtx, Lane, TokenError, TokenSource};
use secrecy::SecretString;

use crate::{AppError, AppState};

/// Why an install could not complete, in words for the person installing.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("Pipedrive did not accept the authorization (it may have expired or been used already). Please install again.")]
    CodeRefused(#[source] dealbridge_pipedrive::Error),
    #[error("Pipedrive could not be reached. Please try again in a minute.")]
    Pipedrive(#[source] dealbridge_pipedrive::Error),
    #[error(transparent)]
    App(#[from] AppError),
}

/// The token of a fresh exchange, for the one call that learns who installed.
struct JustIssued(SecretString);

#[async_trait]
impl TokenSource for JustIssued {
    async fn access_token(&self) -> Result<SecretString, TokenError> {
        Ok(self.0.clone())
    }

    async fn refresh(&self, _rejected: &SecretString) -> Result<SecretString, TokenError> {
        Err(TokenError::NeedsReauth(
            "a just-issued token was refused".into(),
        ))
    }
}

pub async fn complete(
    state: &AppState,
    code: String,
) -> Result<(Tenant, Installation), InstallError> {
    let oauth = state.pipedrive.oauth();
    let tokens = oauth
        .exchange_code(SecretString::from(code))
        .await
        .map_err(|e| match e.class() {
            dealbridge_pipedrive::ErrorClass::NeedsReauth
            | dealbridge_pipedrive::ErrorClass::Invalid
            | dealbridge_pipedrive::ErrorClass::Permanent => InstallError::CodeRefused(e),
            _ => InstallError::Pipedrive(e),
        })?;
    let refresh_token = tokens.refresh_token.clone().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("token response without refresh_token"))
    })?;
    // Whose company this is, we learn from this very call: its 2 tokens are accounted to the
    // "unknown company" (0) in this process's figures rather than guessed.
    let ctx = CompanyCtx {
        company_id: dealbridge_pipedrive::CompanyId(0),
        user_id: dealbridge_pipedrive::UserId(0),
        api_domain: tokens.api_domain.clone(),
        token_source: Arc::new(JustIssued(tokens.access_token.clone())),
        lane: Lane::Interactive,
    };
    let me = state
        .pipedrive
        .company(ctx)
        .users()
        .me()
        .await
        .map_err(InstallError::Pipedrive)?;
    let company = CompanyId::new(i64::try_from(me.company_id).map_err(internal)?);
    let user = UserId::new(i64::try_from(me.id).map_err(internal)?);
    let expires_in = tokens
        .expires_in
        .unwrap_or(std::time::Duration::from_secs(3600));
    let expires_at = Utc::now() + chrono::Duration::from_std(expires_in).map_err(internal)?;
    let sealed = dealbridge_tokens::seal(
        &state.keys,
        company,
        user,
        &tokens.access_token,
        &refresh_token,
        expires_at,
    )
    .map_err(internal)?;
    let tenant = NewTenant {
        company_id: company,
        company_name: me
            .company_name
            .clone()
            .unwrap_or_else(|| format!("Company {company}")),
        company_domain: me.company_domain.clone().unwrap_or_default(),
    };
    let installation = NewInstallation {
        user_id: user,
        api_domain: tokens.api_domain.as_str().trim_end_matches('/').to_string(),
        scopes: tokens.scopes.clone(),
        tokens: sealed,
    };
    let audit = NewAuditEntry {
        tenant_id: None,
        actor: format!("pipedrive_user:{user}"),
        action: "install".into(),
        detail: serde_json::json!({ "scopes": tokens.scopes, "api_domain": installation.api_domain }),
    };
    // Post-install work (custom fields now, webhooks later) is a job written with the install,
    // so it exists exactly when the install does and survives a crash right after.
    let follow_up = [dealbridge_workflows::provision_job(user)];
    let recorded = state
        .store
        .record_install(&tenant, &installation, &audit, &follow_up)
        .await;
    Ok(recorded.map_err(AppError::from)?)
}

fn internal(err: impl std::error::Error + Send + Sync + 'static) -> InstallError {
    InstallError::App(AppError::Internal(anyhow::Error::new(err)))
}
