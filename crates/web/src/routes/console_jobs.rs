//! `GET /console/jobs/dead`: dead system jobs (periodic sweeps, which belong to no tenant), and
//! retrying them.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::services::tenant_actions::{reason, ReasonForm};
use crate::services::{console, job_retry, tenant_health};
use crate::staff_session::{check_staff_csrf, staff_csrf_token, StaffUser};
use crate::{pages, AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs/dead", web::get().to(show))
        .route("/jobs/{job_id}/retry", web::post().to(retry));
}

async fn show(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let mut context = console::context(&staff, &staff_csrf_token(&session)?);
    context.insert("counts", &tenant_health::counts(&state, None).await?);
    context.insert(
        "dead_jobs",
        &tenant_health::dead_jobs(&state, None, 100).await?,
    );
    context.insert("retry_base", "/console/jobs");
    context.insert("reason_required", &true);
    pages::staff_html(&state, "console/dead_jobs.html", &context)
}

async fn retry(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    check_staff_csrf(&session, &form.csrf)?;
    let job = tenant_health::job_id(&path)?;
    let why = reason(&form.reason)?;
    job_retry::retry(&state, None, job, &staff.actor(), Some(&why)).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/jobs/dead"))
        .finish())
}
