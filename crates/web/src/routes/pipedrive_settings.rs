//! `GET /pipedrive/settings`: the app's settings page inside Pipedrive. Pipedrive loads it in an
//! iframe with a `token` JWT; a valid, fresh, unused token for a known, active installation opens a
//! dashboard session for that user and answers with the workflow settings form itself (the same
//! page as `/dashboard/settings`), which initialises Pipedrive's App Extensions SDK with the
//! iframe's `id` so Pipedrive shows it. It answers in place rather than redirecting: the SDK reads
//! its id from this URL. A browser already signed in as someone else is not switched silently
//! (login CSRF: a third party's own token would move the victim into its company): it is refused
//! until that session is signed out.

use actix_session::Session;
use actix_web::{web, HttpResponse};
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::{CompanyId, UserId};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::iframe_jwt::{self, IframeTokenError};
use crate::services::settings_page::{self, Embedding, Notices};
use crate::session::{authorise, sign_in, DashboardUser};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/pipedrive/settings", web::get().to(settings_page));
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsQuery {
    token: String,
    company_id: i64,
    user_id: i64,
    /// The runtime id Pipedrive's SDK must be initialised with.
    id: Option<String>,
}

async fn settings_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<SettingsQuery>,
) -> Result<HttpResponse, AppError> {
    state.marketplace_only()?;
    let secret = state.app.jwt_secret.expose_secret().as_bytes();
    let now = chrono::Utc::now().timestamp();
    let who = iframe_jwt::verify(&query.token, secret, query.company_id, query.user_id, now)
        .map_err(|e| match e {
            IframeTokenError::Expired => AppError::Unauthorized("the Pipedrive token has expired"),
            _ => AppError::Unauthorized("the Pipedrive token is not valid for this page"),
        })?;
    let tenant = state
        .store
        .tenant_by_company(CompanyId::new(who.company_id))
        .await?
        .ok_or(AppError::Forbidden(
            "Dealbridge is not installed for this company",
        ))?;
    let installation = state
        .store
        .installation(tenant.id, UserId::new(who.user_id))
        .await?
        .filter(|i| i.status != InstallationStatus::Uninstalled)
        .ok_or(AppError::Forbidden(
            "Dealbridge is not installed for this user",
        ))?;
    if let Some(current) = authorise(&state, &session).await? {
        if (current.tenant_id, current.user_id) != (tenant.id, installation.user_id) {
            return Err(AppError::Conflict(
                "this browser is signed in to Dealbridge as another Pipedrive user; sign out of the dashboard first",
            ));
        }
    }
    let expires = chrono::DateTime::from_timestamp(who.exp, 0).unwrap_or_default();
    if !state
        .store
        .consume_nonce("iframe_jwt", &who.single_use_id, expires)
        .await?
    {
        return Err(AppError::Unauthorized(
            "this Pipedrive token was used already; reload the page in Pipedrive",
        ));
    }
    sign_in(
        state.store.as_ref(),
        &session,
        tenant.id,
        installation.user_id,
    )
    .await?;
    let user = DashboardUser {
        tenant_id: tenant.id,
        user_id: installation.user_id,
        tenant,
        installation,
    };
    let embedding = Embedding::from_id(query.id.as_deref());
    let mut page =
        settings_page::show_saved(&state, &user, &session, &Notices::default(), &embedding).await?;
    // One company's settings, like every dashboard answer.
    crate::middleware::no_store(page.headers_mut());
    Ok(page)
}
