//! What can be wrong with a delivery, in terms that map one-to-one onto an HTTP answer.

use serde::Serialize;

/// One problem with one field of a payload (or a header), as the sender is told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where the problem is: a dotted path into the body (`data.customer.email`,
    /// `line_items[0].quantity`) or `header:<name>` for a header.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn header(name: &str, message: impl Into<String>) -> Self {
        Self::new(format!("header:{name}"), message)
    }
}

/// Why a delivery was refused. Nothing about a refused delivery is to be recorded; see
/// [`IngestError::status`] for the HTTP answer each variant calls for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The signature (or the callback token) is missing or matches none of the secrets.
    #[error("the request's signature is missing or matches no current secret")]
    BadSignature,
    /// The signed timestamp is further from now than the tolerance: a replay, or a sender
    /// whose clock is wrong. Checked only after the signature, so it tells nothing to a forger.
    #[error("the request's timestamp is {skew_seconds}s from now, beyond the {tolerance_seconds}s tolerance")]
    Stale {
        skew_seconds: i64,
        tolerance_seconds: i64,
    },
    /// The body or a required header is malformed or fails validation.
    #[error("the request is invalid: {}", summary(.0))]
    Invalid(Vec<FieldError>),
    /// The body is longer than the source's limit. Receivers should refuse it before reading it
    /// whole (from `Content-Length`, or by capping the read at the source's `MAX_BODY_BYTES`).
    #[error("the body is {len} bytes, over the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|error| format!("{}: {}", error.field, error.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl IngestError {
    /// The HTTP status to answer with: 401 for signatures and stale timestamps, 400 for invalid
    /// payloads, 413 for oversized bodies.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadSignature | Self::Stale { .. } => 401,
            Self::Invalid(_) => 400,
            Self::TooLarge { .. } => 413,
        }
    }

    /// The field-level messages of an invalid payload (empty for the other variants).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid(errors) => errors,
            _ => &[],
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub(crate) fn missing_header(name: &str) -> Self {
        Self::Invalid(vec![FieldError::header(name, "is required")])
    }
}

/// Refuses a body over `limit` bytes.
pub(crate) fn check_size(body: &[u8], limit: usize) -> Result<(), IngestError> {
    if body.len() > limit {
        return Err(IngestError::TooLarge {
            len: body.len(),
            limit,
        });
    }
    Ok(())
}
