//! `GET /oauth/callback`: Pipedrive sends the browser back here with `code` and `state` (or
//! `error`). With our state, the installer is signed into the dashboard. Without one (an install
//! started from the Marketplace, which may not carry our state) the install is completed (the code is
//! bound to our client and callback, so only Pipedrive could have issued it) but no session is
//! opened: the browser could be a victim of login CSRF. The user then opens the dashboard from
//! Pipedrive, where the settings page signs them in with Pipedrive's JWT.

use actix_session::Session;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::client_address::client_network;
use crate::oauth_state::StateError;
use crate::services::install::{self, InstallError};
use crate::services::rejections::reserve_callout;
use crate::session::{sign_in, OAUTH_NONCE};
use crate::{pages, AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/callback", web::get().to(callback));
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    state.marketplace_only()?;
    let query = query.into_inner();
    if let Some(error) = query.error {
        tracing::info!(oauth.error = %error, "install not approved");
        return pages::install_problem(&state, "The install was not approved in Pipedrive.");
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return pages::install_problem(&state, "Pipedrive sent no authorization code.");
    };
    let signed_in = match query.state.as_deref() {
        None => false,
        Some(given) => match check_state(&state, &session, given).await {
            Ok(()) => true,
            Err(problem) => return pages::install_problem(&state, &problem.to_string()),
        },
    };
    // Each exchange is a call to Pipedrive's `/oauth/token`, which anyone can trigger with a
    // made-up code (a callback without state needs none of ours): bounded per network.
    reserve_callout(&state, "oauth_exchange", &client_network(&req)).await?;
    let (tenant, installation) = match install::complete(&state, code).await {
        Ok(done) => done,
        Err(InstallError::App(err)) => return Err(err),
        Err(problem) => {
            tracing::warn!(error.cause = ?problem, "install failed");
            return pages::install_problem(&state, &problem.to_string());
        }
    };
    crate::services::demo_store::offer(&state, tenant.id).await;
    if !signed_in {
        return pages::installed_elsewhere(&state, &tenant.company_name);
    }
    sign_in(
        state.store.as_ref(),
        &session,
        tenant.id,
        installation.user_id,
    )
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard"))
        .finish())
}

/// Signature, expiry and browser binding, then single use across all instances.
async fn check_state(state: &AppState, session: &Session, given: &str) -> Result<(), StateError> {
    let nonce = session
        .remove_as::<String>(OAUTH_NONCE)
        .and_then(Result::ok);
    let claims = state.states.verify(
        Some(given),
        nonce.as_deref(),
        chrono::Utc::now().timestamp(),
    )?;
    let expires = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
    match state
        .store
        .consume_nonce("oauth_state", &claims.nonce, expires)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(StateError::Replayed),
        Err(err) => {
            tracing::error!(error.cause = ?err, "state nonce could not be recorded");
            Err(StateError::Forged)
        }
    }
}
