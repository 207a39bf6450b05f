//! What an unknown path gets: a page for browsers, JSON for everything else.

use actix_web::http::header::ACCEPT;
use actix_web::{web, HttpRequest, HttpResponse};
use tera::Context;

use crate::AppState;

pub async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        let mut context = Context::new();
        context.insert("status", &404);
        context.insert("message", "This page does not exist.");
        if let Ok(html) = state.templates.render("error.html", &context) {
            return HttpResponse::NotFound()
                .content_type("text/html; charset=utf-8")
                .body(html);
        }
    }
    HttpResponse::NotFound().json(serde_json::json!({ "success": false, "error": "not found" }))
}
