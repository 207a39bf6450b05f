//! Response building: JSON with the `x-ratelimit-*` headers, and the deliberately broken
//! responses of the connection-drop faults.

use actix_web::http::StatusCode;
use actix_web::{web::Bytes, HttpResponse, HttpResponseBuilder};
use serde_json::Value;

use crate::error::ApiError;
use crate::limits::Window;

fn with_headers(status: StatusCode, window: Option<Window>) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    if let Some(w) = window {
        b.insert_header(("x-ratelimit-limit", w.limit.to_string()))
            .insert_header(("x-ratelimit-remaining", w.remaining.to_string()))
            .insert_header(("x-ratelimit-reset", w.reset_secs.to_string()));
    }
    b
}

pub fn ok(status: StatusCode, value: &Value, window: Option<Window>) -> HttpResponse {
    with_headers(status, window).json(value)
}

pub fn error(e: &ApiError, window: Option<Window>) -> HttpResponse {
    with_headers(e.status, window).json(&e.body)
}

/// A response whose body fails before any byte is sent: the server closes the connection and the
/// client sees a transport error instead of an answer.
pub fn dropped() -> HttpResponse {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("sandbox fault: connection dropped"))
    });
    HttpResponse::Ok().streaming(failing)
}
