//! Liveness and readiness for load balancers and orchestrators.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// The process is up and serving. Deliberately touches nothing else, so it stays cheap.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Ready to take traffic: the store answers and its schema is the one this binary expects.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.store.backend_name();
    if let Err(err) = state.store.ping().await {
        tracing::warn!(error.cause = ?err, "readiness: store unreachable");
        return unavailable(backend, "store unreachable");
    }
    match state.store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => {
            HttpResponse::Ok().json(json!({ "status": "ready", "store": backend }))
        }
        Ok(pending) => unavailable(backend, &format!("migrations pending: {pending:?}")),
        Err(err) => {
            tracing::warn!(error.cause = ?err, "readiness: migrations unreadable");
            unavailable(backend, "migration state unreadable")
        }
    }
}

fn unavailable(backend: &str, reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(json!({ "status": "unavailable", "store": backend, "reason": reason }))
}
