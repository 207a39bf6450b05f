//! `POST /hooks/pipedrive/{path_token}`: Pipedrive's webhook deliveries. The body is bounded
//! before it is read; the pipeline (credentials, payload, company, inbox) is
//! `dealbridge_inbox::PipedriveReceiver`, which the app registers as app data. A 2xx goes out only
//! once the event's row is committed; a duplicate delivery is acknowledged the same way.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};
use dealbridge_inbox::{PipedriveReceiver, ReceiveError};
use dealbridge_storage::Recorded;

use crate::metrics::{Metrics, WebhookOutcome};
use crate::AppError;

/// Larger than any v2 delivery (a deal with every custom field filled stays well below).
pub const MAX_HOOK_BODY: usize = 256 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/hooks/pipedrive/{path_token}")
            // Checked against Content-Length first, then while streaming: 413 either way.
            .app_data(web::PayloadConfig::new(MAX_HOOK_BODY))
            .route(web::post().to(receive)),
    );
}

async fn receive(
    req: HttpRequest,
    receiver: web::Data<PipedriveReceiver>,
    path_token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let received = receiver.receive(&path_token, authorization, &body).await;
    if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
        metrics.webhook("pipedrive", outcome(&received));
    }
    let recorded = received.map_err(refusal)?;
    let status = match recorded {
        Recorded::New => "recorded",
        Recorded::Stale => "stale",
        Recorded::Duplicate => "duplicate",
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true, "status": status })))
}

fn outcome(received: &Result<Recorded, ReceiveError>) -> WebhookOutcome {
    match received {
        // A stale event's row is kept all the same.
        Ok(Recorded::New | Recorded::Stale) => WebhookOutcome::Recorded,
        Ok(Recorded::Duplicate) => WebhookOutcome::Duplicate,
        Err(ReceiveError::Unavailable(_)) => WebhookOutcome::Unavailable,
        Err(_) => WebhookOutcome::Refused,
    }
}

fn refusal(err: ReceiveError) -> AppError {
    match err {
        ReceiveError::UnknownPath => AppError::NotFound,
        ReceiveError::Unauthorized => AppError::Unauthorized("wrong webhook credentials"),
        ReceiveError::ForeignCompany => AppError::Forbidden("the event belongs to another company"),
        ReceiveError::Malformed(problem) => AppError::BadRequest(problem.to_string()),
        ReceiveError::Unavailable(cause) => {
            // The cause stays in the log; the client learns only to retry.
            tracing::warn!(error.cause = %cause, "webhook not recorded");
            AppError::Unavailable("the event could not be recorded; retry".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_receiver_answer_has_its_metrics_outcome() {
        let unavailable = ReceiveError::Unavailable("database gone".into());
        let cases = [
            (Ok(Recorded::New), WebhookOutcome::Recorded),
            (Ok(Recorded::Stale), WebhookOutcome::Recorded),
            (Ok(Recorded::Duplicate), WebhookOutcome::Duplicate),
            (Err(ReceiveError::UnknownPath), WebhookOutcome::Refused),
            (Err(ReceiveError::Unauthorized), WebhookOutcome::Refused),
            (Err(ReceiveError::ForeignCompany), WebhookOutcome::Refused),
            (Err(unavailable), WebhookOutcome::Unavailable),
        ];
        for (received, expected) in cases {
            assert_eq!(outcome(&received), expected, "{received:?}");
        }
    }
}
