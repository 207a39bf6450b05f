//! Turning HTTP outcomes into [`Error`] classes and decoding Pipedrive's envelopes.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, FieldErrors, ForbiddenKind, TransientKind};

/// `{"success": true, "data": …, "additional_data": …}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    pub data: T,
    #[serde(default)]
    pub additional_data: Option<AdditionalData>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AdditionalData {
    /// v2 (and some v1) cursor pagination; `null` at the end.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// v1 offset pagination.
    #[serde(default)]
    pub pagination: Option<OffsetPagination>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OffsetPagination {
    #[serde(default)]
    pub more_items_in_collection: bool,
    #[serde(default)]
    pub next_start: Option<u64>,
}

/// The error envelope; every field optional because shapes vary between endpoints.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
}

pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    let kind = if e.is_connect() {
        TransientKind::Connect
    } else if e.is_timeout() {
        TransientKind::Timeout
    } else {
        TransientKind::Network
    };
    // Without the URL: its query may hold a search term such as an email address.
    Error::Transient {
        kind,
        message: "the request did not complete".into(),
        source: Some(Box::new(e.without_url())),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<Envelope<T>, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode(decode_message(&e)))
}

/// Where decoding failed, without serde's quote of the offending value (it may be personal data).
pub(crate) fn decode_message(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// A 429 caused by the spent daily budget rather than the burst window. Pipedrive documents no
/// header for the daily budget, so this is inferred: the burst window still had room, or the
/// message speaks of the daily budget. A long `Retry-After` alone is not taken as daily.
pub(crate) fn is_daily_limit(headers: &HeaderMap, body: &[u8]) -> bool {
    let remaining = headers
        .get("x-ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if remaining.is_some_and(|r| r > 0) {
        return true;
    }
    let text = String::from_utf8_lossy(body).to_lowercase();
    text.contains("daily")
}

/// Classify a non-success status.
pub(crate) fn status_error(
    status: StatusCode,
    body: &[u8],
    hint: Option<Duration>,
    daily: bool,
) -> Error {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = message(&parsed, status);
    match status.as_u16() {
        401 => Error::NeedsReauth { reason: message },
        402 => Error::PaymentRequired { message },
        403 => Error::Forbidden {
            kind: forbidden_kind(&parsed, &message),
            message,
        },
        404 => Error::NotFound { message },
        400 | 422 => Error::Invalid {
            status: status.as_u16(),
            fields: field_errors(parsed.errors.as_ref()),
            message,
        },
        429 => Error::RateLimited {
            daily,
            retry_after: hint,
        },
        s if status.is_server_error() => Error::Transient {
            kind: TransientKind::Server { status: s },
            message,
            source: None,
        },
        s => Error::Permanent { status: s, message },
    }
}

fn message(body: &ErrorBody, status: StatusCode) -> String {
    let from_error = match &body.error {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("message").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    from_error
        .or_else(|| body.message.clone())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
}

fn forbidden_kind(body: &ErrorBody, message: &str) -> ForbiddenKind {
    let code = match &body.code {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let lower = message.to_lowercase();
    if code
        .as_deref()
        .is_some_and(|c| c.contains("capping") || c.contains("limit"))
    {
        return ForbiddenKind::PlanLimit { code };
    }
    if lower.contains("scope") {
        return ForbiddenKind::MissingScope;
    }
    if lower.contains("limit") || lower.contains("upgrade") || lower.contains("plan") {
        return ForbiddenKind::PlanLimit { code };
    }
    ForbiddenKind::Other
}

/// `{"errors": {"field": ["msg", …]}}`; a single string per field is accepted too.
fn field_errors(errors: Option<&Value>) -> FieldErrors {
    let Some(Value::Object(map)) = errors else {
        return FieldErrors::new();
    };
    map.iter()
        .map(|(field, value)| {
            let messages = match value {
                Value::Array(items) => items
                    .iter()
                    .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                other => vec![other.to_string()],
            };
            (field.clone(), messages)
        })
        .collect()
}
