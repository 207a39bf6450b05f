//! The middleware that times every request into `dealbridge_http_request_duration_seconds`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use super::Metrics;

/// The `route` label of requests no route matched (scanners' guesses, mistyped links).
pub const UNMATCHED: &str = "unmatched";

/// Times the request and records it under actix's matched pattern; reads [`Metrics`] from the
/// app data, and records nothing where there is none. Wrap it outermost, so the time includes
/// every other middleware.
pub async fn record_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().clone();
    // The pattern, never the path: paths carry tokens and ids, one series per customer.
    let route = req.match_pattern();
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        let route = route.as_deref().unwrap_or(UNMATCHED);
        metrics.http_request(&method, route, status, started.elapsed());
    }
    result
}
