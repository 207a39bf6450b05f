//! `GET /api/v1/openapi.json`: the OpenAPI document of the API other systems call.

use actix_web::{web, HttpResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/openapi.json", web::get().to(document));
}

async fn document() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}
