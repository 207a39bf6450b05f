//! Errors. `Error` is what the Rust and control APIs return; `ApiError` is a Pipedrive-shaped HTTP
//! error for the REST and OAuth surfaces.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

/// Failures of the in-process control API and of starting the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("cannot bind the sandbox listener")]
    Bind(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Bind(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(json!({ "error": self.to_string() }))
    }
}

/// A REST error in Pipedrive's envelope (FACTS §3.4).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    /// The common envelope: `success:false`, `error`, `error_info`, `data:null`, `additional_data:null`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let body = json!({
            "success": false,
            "error": message.into(),
            "error_info": "Please check developers.pipedrive.com",
            "data": null,
            "additional_data": null,
        });
        Self { status, body }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Unknown route, as Pipedrive answers it.
    pub fn unknown_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Unknown method .")
    }

    pub fn unauthorized() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized access");
        e.body["errorCode"] = json!(401);
        e
    }

    pub fn forbidden_scope() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Scope and URL mismatch: the token lacks a scope this operation requires",
        )
    }

    pub fn payment_required() -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "Company account is not open (possible reason: trial expired, payment details not entered)",
        )
    }

    pub fn too_many(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, message);
        e.body["errorCode"] = json!(429);
        e
    }

    pub fn server(status: StatusCode) -> Self {
        Self::new(status, "Internal server error")
    }
}
