//! Public pages.

use actix_web::{web, HttpResponse};
use tera::Context;

use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(landing));
}

async fn landing(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("sandbox_url", &state.app.sandbox_url);
    context.insert(
        "private_company",
        &state.private.as_ref().map(|p| p.company_name.as_str()),
    );
    let html = state.templates.render("landing.html", &context)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}
