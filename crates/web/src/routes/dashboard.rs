//! The tenant admin's dashboard: the installation's state, a reconnect banner when Pipedrive
//! refused our tokens, the company's jobs and API budget, recent activity, and Disconnect.

use actix_session::Session;
use actix_web::{http::header, web, HttpResponse};
use dealbridge_core::installation::InstallationStatus;
use tera::Context;

use crate::services::{tenant_health, uninstall};
use crate::session::{check_csrf, csrf_token, sign_out, CsrfForm, DashboardUser};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(show))
        .route("/dashboard/disconnect", web::post().to(disconnect));
}

async fn show(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let tenant = state
        .store
        .tenant(user.tenant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let installation = state
        .store
        .installation(user.tenant_id, user.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let activity = state.store.audit_log(Some(user.tenant_id), 10).await?;
    let mut context = Context::new();
    context.insert("tenant", &tenant);
    context.insert("status", installation.status.as_str());
    context.insert(
        "needs_reauth",
        &(installation.status == InstallationStatus::NeedsReauth),
    );
    context.insert("scopes", &installation.scopes);
    context.insert("api_domain", &installation.api_domain);
    context.insert("user_id", &user.user_id);
    context.insert("activity", &activity);
    context.insert("csrf", &csrf_token(&session));
    let company = tenant.company_id;
    context.insert(
        "counts",
        &tenant_health::counts(&state, Some(user.tenant_id)).await?,
    );
    context.insert("budget", &tenant_health::budget(&state, company).await);
    context.insert("figures", &tenant_health::figures(&state, company).await?);
    context.insert(
        "dead_jobs",
        &tenant_health::dead_jobs(&state, Some(user.tenant_id), 20).await?,
    );
    context.insert("retry_base", "/dashboard/jobs");
    context.insert(
        "fields",
        &tenant_health::fields(&state, user.tenant_id).await?,
    );
    let html = state.templates.render("dashboard.html", &context)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

async fn disconnect(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    uninstall::disconnect(&state, user.tenant_id, user.user_id).await?;
    sign_out(&session);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/?disconnected=1"))
        .finish())
}
