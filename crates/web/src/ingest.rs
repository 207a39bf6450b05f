//! What the event API and the store webhook routes share: the request's headers in the events
//! crate's terms, and one answer per way a delivery can be refused.

use actix_web::HttpRequest;
use dealbridge_events::{Headers, IngestError};
use dealbridge_inbox::SourceError;
use dealbridge_storage::Recorded;

use crate::AppError;

pub(crate) fn headers(req: &HttpRequest) -> Headers {
    Headers::from_pairs(
        req.headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    )
}

/// The word an accepted delivery's answer carries: a sender retrying learns that its first
/// attempt was recorded (`duplicate`), and nothing was recorded twice.
pub(crate) fn recorded_word(recorded: Recorded) -> &'static str {
    match recorded {
        Recorded::New => "recorded",
        Recorded::Stale => "stale",
        Recorded::Duplicate => "duplicate",
    }
}

pub(crate) fn refusal(err: SourceError) -> AppError {
    match err {
        SourceError::Unknown => AppError::NotFound,
        SourceError::ForeignShop => AppError::Forbidden("the delivery comes from another shop"),
        SourceError::Refused(IngestError::BadSignature) => {
            AppError::Unauthorized("the signature is missing or matches no current secret")
        }
        // The skew is the sender's own clock against ours: safe, and what they need to fix it.
        SourceError::Refused(stale @ IngestError::Stale { .. }) => {
            AppError::UnauthorizedBecause(stale.to_string())
        }
        SourceError::Refused(IngestError::Invalid(fields)) => AppError::Invalid(fields),
        SourceError::Refused(too_large @ IngestError::TooLarge { .. }) => {
            AppError::PayloadTooLarge(too_large.to_string())
        }
        SourceError::Unavailable(cause) => {
            // The cause stays in the log; the client learns only to retry.
            tracing::warn!(error.cause = %cause, "event not recorded");
            AppError::Unavailable("the event could not be recorded; retry".into())
        }
    }
}
