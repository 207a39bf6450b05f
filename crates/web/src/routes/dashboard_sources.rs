//! The dashboard's event sources: event API secrets (create, rotate, revoke) and store
//! connections (connect, disconnect). CSRF-checked forms; a new secret is shown once, on the
//! page the form answers with, and never again.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use dealbridge_crypto::ExposeSecret;
use tera::Context;

use crate::services::event_api_secrets::{self, ROTATION_GRACE};
use crate::services::store_connections::{self, ConnectForm};
use crate::session::{check_csrf, CsrfForm, DashboardUser};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/event-api/secrets", web::post().to(create_secret))
        .route("/event-api/secrets/rotate", web::post().to(rotate_secret))
        .route(
            "/event-api/secrets/{secret_id}/revoke",
            web::post().to(revoke_secret),
        )
        .route("/stores", web::post().to(connect_store))
        .route(
            "/stores/{connection_id}/disconnect",
            web::post().to(disconnect_store),
        );
}

fn back() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard"))
        .finish()
}

async fn create_secret(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    show_once(&state, &user, false).await
}

async fn rotate_secret(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    show_once(&state, &user, true).await
}

/// The page with the new secret: not cached, not shown again.
async fn show_once(
    state: &AppState,
    user: &DashboardUser,
    rotate: bool,
) -> Result<HttpResponse, AppError> {
    let (secret, others_expire_at) =
        event_api_secrets::create(state, user.tenant_id, &user.actor(), rotate).await?;
    let mut context = Context::new();
    context.insert("tenant", &user.tenant);
    context.insert("tenant_id", &user.tenant_id.to_string());
    context.insert("secret", secret.expose_secret());
    context.insert("others_expire_at", &others_expire_at);
    context.insert("grace_hours", &ROTATION_GRACE.num_hours());
    context.insert(
        "events_url",
        &state
            .app
            .public_url
            .join("/api/v1/events")
            .map(|u| u.to_string())
            .unwrap_or_default(),
    );
    let html = state.templates.render("event_api_secret.html", &context)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(html))
}

async fn revoke_secret(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    event_api_secrets::revoke(&state, user.tenant_id, &path, &user.actor()).await?;
    Ok(back())
}

async fn connect_store(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    form: web::Form<ConnectForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    store_connections::connect(&state, user.tenant_id, &form, &user.actor()).await?;
    Ok(back())
}

async fn disconnect_store(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    store_connections::disconnect(&state, user.tenant_id, &path, &user.actor()).await?;
    Ok(back())
}

/// What the dashboard page shows of the event sources.
pub(crate) async fn context(
    state: &AppState,
    user: &DashboardUser,
    context: &mut Context,
) -> Result<(), AppError> {
    let connections = store_connections::list(state, user.tenant_id).await?;
    context.insert(
        "stores_need_attention",
        &store_connections::needs_attention(&connections),
    );
    context.insert("stores", &connections);
    context.insert("api2cart_enabled", &state.api2cart.is_some());
    context.insert(
        "event_secrets",
        &event_api_secrets::list(state, user.tenant_id).await?,
    );
    context.insert("tenant_id", &user.tenant_id.to_string());
    context.insert("grace_hours", &ROTATION_GRACE.num_hours());
    Ok(())
}
