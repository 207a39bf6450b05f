//! `GET /install`: starts an install by sending the browser to Pipedrive's consent page with a
//! signed, expiring, browser-bound `state`.

use actix_session::Session;
use actix_web::{http::header, web, HttpResponse};

use crate::session::OAUTH_NONCE;
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/install", web::get().to(install));
}

async fn install(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    state.marketplace_only()?;
    let (token, claims) = state
        .states
        .issue(chrono::Utc::now().timestamp())
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    session
        .insert(OAUTH_NONCE, &claims.nonce)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    let url = state
        .pipedrive
        .oauth()
        .authorize_url(&token)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url.as_str()))
        .finish())
}
