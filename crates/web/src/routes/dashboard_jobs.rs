//! `POST /dashboard/jobs/{job_id}/retry`: the tenant admin queues one of their dead jobs again.
//! The job must belong to the session's tenant; any other id is answered 404.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::services::{job_retry, tenant_health};
use crate::session::{check_csrf, CsrfForm, DashboardUser};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs/{job_id}/retry", web::post().to(retry));
}

async fn retry(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    let job = tenant_health::job_id(&path)?;
    let actor = user.actor();
    job_retry::retry(&state, Some(user.tenant_id), job, &actor, None).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard"))
        .finish())
}
