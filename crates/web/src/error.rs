//! The one error type handlers return. It decides what the client may see; the cause is logged once,
//! here, with the request's span (which carries the request id).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use dealbridge_storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// The message is shown to the client, so it must describe their input, never our internals.
    #[error("{0}")]
    BadRequest(String),
    /// A payload refused field by field; the client gets every `{field, message}`.
    #[error("the request is invalid")]
    Invalid(Vec<dealbridge_events::FieldError>),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A 401 whose message is built from the client's own input (a stale timestamp's skew).
    #[error("{0}")]
    UnauthorizedBecause(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    TooManyRequests(&'static str),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything unexpected. The client gets an opaque message; the log gets the whole chain.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<crate::TemplateError> for AppError {
    fn from(err: crate::TemplateError) -> Self {
        Self::Internal(anyhow::Error::new(err))
    }
}

impl AppError {
    /// What an error page says: the safe message, in a sentence where the JSON word is terse.
    pub fn page_message(&self) -> String {
        match self {
            Self::NotFound => "This page does not exist.".into(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) | Self::UnauthorizedBecause(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(error.cause = ?cause, "request failed"),
            Self::Unavailable(reason) => tracing::warn!(error.reason = %reason, "unavailable"),
            other => tracing::info!(error.message = %other, "request refused"),
        }
        let mut body = serde_json::json!({ "success": false, "error": self.to_string() });
        if let Self::Invalid(fields) = self {
            body["errors"] = serde_json::json!(fields);
        }
        HttpResponse::build(self.status_code()).json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = AppError::Internal(anyhow::anyhow!("password=hunter2 in connection string"));
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().try_into_bytes().unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("internal error"), "{text}");
    }

    #[test]
    fn store_errors_map_to_client_statuses() {
        let cases = [
            (StoreError::NotFound("tenant"), StatusCode::NOT_FOUND),
            (StoreError::Conflict("stale"), StatusCode::CONFLICT),
            (
                StoreError::Corrupt("x".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (store_error, status) in cases {
            assert_eq!(AppError::from(store_error).status_code(), status);
        }
    }
}
