//! Pages that end an install, rendered from handlers.

use actix_web::HttpResponse;
use tera::Context;

use crate::{AppError, AppState};

/// The install did not complete: say why and offer to start again. Nothing was stored.
pub fn install_problem(state: &AppState, message: &str) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("title", "The install did not complete");
    context.insert("message", message);
    context.insert("retry", &true);
    let html = state.templates.render("install_result.html", &context)?;
    Ok(HttpResponse::BadRequest()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// Installed from the Marketplace (no state of ours): the dashboard opens from Pipedrive.
pub fn installed_elsewhere(state: &AppState, company: &str) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("title", "Dealbridge is installed");
    context.insert(
        "message",
        &format!("Dealbridge is now connected to {company}. Open it from Pipedrive: Settings › Tools and apps › Marketplace apps › Dealbridge."),
    );
    context.insert("retry", &false);
    let html = state.templates.render("install_result.html", &context)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// A 200 page from a template, for support staff: it shows other companies' data, so no browser or
/// proxy may keep a copy.
pub fn staff_html(
    state: &AppState,
    template: &str,
    context: &Context,
) -> Result<HttpResponse, AppError> {
    let html = state.templates.render(template, context)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(html))
}
