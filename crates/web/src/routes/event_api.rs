//! `POST /api/v1/events`: the signed event API. The tenant is named by the `dealbridge-tenant`
//! header, the request signed the Standard Webhooks way with one of its active secrets. The body
//! is bounded before it is read; the pipeline is `dealbridge_inbox::EventApiReceiver`, which the
//! app registers as app data. A 2xx goes out only once the event's row and job are committed.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use dealbridge_events::event_api::MAX_BODY_BYTES;
use dealbridge_inbox::EventApiReceiver;

use crate::ingest::{headers, recorded_word, refusal};
use crate::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/events")
            // Checked against Content-Length first, then while streaming: 413 either way.
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route(web::post().to(receive)),
    );
}

async fn receive(
    req: HttpRequest,
    receiver: web::Data<EventApiReceiver>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let recorded = receiver
        .receive(&headers(&req), &body, Utc::now())
        .await
        .map_err(refusal)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "success": true,
        "status": recorded_word(recorded),
    })))
}
