//! The console's actions on one tenant, each a form with a required reason: `POST
//! /console/tenants/{id}/pause`, `/resume`, `/webhooks/check`, `/reconcile` and
//! `/tokens/refresh`. Only operators get
//! here (the console guard refuses a viewer's POST); the tenant is the one in the path.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use dealbridge_core::TenantId;

use crate::services::tenant_actions::{self, reason, ReasonForm};
use crate::services::token_refresh;
use crate::staff_session::{check_staff_csrf, StaffUser};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants/{id}/pause", web::post().to(pause))
        .route("/tenants/{id}/resume", web::post().to(resume))
        .route(
            "/tenants/{id}/webhooks/check",
            web::post().to(check_webhooks),
        )
        .route("/tenants/{id}/reconcile", web::post().to(reconcile))
        .route(
            "/tenants/{id}/tokens/refresh",
            web::post().to(refresh_tokens),
        );
}

/// The form token, the tenant id and the reason, checked in that order.
fn checked(
    session: &Session,
    path: &str,
    form: &ReasonForm,
) -> Result<(TenantId, String), AppError> {
    check_staff_csrf(session, &form.csrf)?;
    let tenant = path.parse().map_err(|_| AppError::NotFound)?;
    Ok((tenant, reason(&form.reason)?))
}

fn back_to(tenant: TenantId) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/console/tenants/{tenant}")))
        .finish()
}

async fn pause(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, why) = checked(&session, &path, &form)?;
    tenant_actions::pause(&state, tenant, &staff.actor(), &why).await?;
    Ok(back_to(tenant))
}

async fn resume(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, why) = checked(&session, &path, &form)?;
    tenant_actions::resume(&state, tenant, &staff.actor(), &why).await?;
    Ok(back_to(tenant))
}

async fn check_webhooks(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, why) = checked(&session, &path, &form)?;
    tenant_actions::check_webhooks(&state, tenant, &staff.actor(), &why).await?;
    Ok(back_to(tenant))
}

async fn reconcile(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, why) = checked(&session, &path, &form)?;
    tenant_actions::reconcile(&state, tenant, &staff.actor(), &why).await?;
    Ok(back_to(tenant))
}

async fn refresh_tokens(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, why) = checked(&session, &path, &form)?;
    token_refresh::force(&state, tenant, &staff.actor(), &why).await?;
    Ok(back_to(tenant))
}
