//! `GET /dashboard/activity`: the tenant's events with filters and pages; `POST
//! /dashboard/activity/{event_id}/retry`: a failed event run again. Both within the signed-in
//! tenant: another tenant's event id is answered 404.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use tera::Context;
use uuid::Uuid;

use crate::services::activity::{self, ActivityQuery};
use crate::services::events_view::state_label;
use crate::session::{check_csrf, csrf_token, CsrfForm, DashboardUser};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/activity", web::get().to(show))
        .route("/activity/{event_id}/retry", web::post().to(retry));
}

async fn show(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    query: web::Query<ActivityQuery>,
) -> Result<HttpResponse, AppError> {
    let domain = &user.tenant.company_domain;
    let page = activity::page(&state, user.tenant_id, domain, &query).await?;
    let mut context = Context::new();
    context.insert("tenant", &user.tenant);
    context.insert("csrf", &csrf_token(&session));
    context.insert("query", &*query);
    context.insert("page", &page);
    context.insert(
        "sources",
        &dealbridge_core::event::EventSource::ALL.map(|s| s.as_str()),
    );
    context.insert("types", &activity::type_names());
    let states = dealbridge_storage::InboxState::ALL.map(|s| (s.as_str(), state_label(s)));
    context.insert("states", &states);
    let body = state.templates.render("activity.html", &context)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

async fn retry(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    let id: Uuid = path.parse().map_err(|_| AppError::NotFound)?;
    let actor = user.actor();
    activity::retry(&state, user.tenant_id, id, &actor).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard/activity?state=pending"))
        .finish())
}
