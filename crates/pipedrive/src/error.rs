//! Error classes. Each says what the caller should do: refresh and re-authorise, give up, fix the
//! request, or retry later. Pipedrive's own message is kept where it explains the failure; tokens
//! and request bodies never appear here.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ledger::{LedgerError, WaitReason};
use crate::token::TokenError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from below (the HTTP stack, the ledger's store, the token vault), kept as the
/// `source` of the client's error so its whole chain reaches the log where the error is handled.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Field name → messages, from Pipedrive's `errors` object on validation failures.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Why a 403 was refused: the fix differs (ask the user to re-install with the scope, or
/// to upgrade the plan / free capacity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForbiddenKind {
    MissingScope,
    /// A plan limit, e.g. `code: "feature_capping_deals_limit"`.
    PlanLimit {
        code: Option<String>,
    },
    Other,
}

/// What went wrong on the way to a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    Server {
        status: u16,
    },
    Timeout,
    Connect,
    /// The connection broke after the request was sent.
    Network,
    /// The budget ledger could not be reached.
    Ledger,
    /// The token source (the caller's vault) could not hand out a token now.
    TokenSource,
}

/// Coarse class, for metrics and for the job queue's retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    NeedsReauth,
    Permanent,
    NotFound,
    Invalid,
    RateLimited,
    Transient,
    Deferred,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401 after one refresh, or the refresh token itself is no longer valid: the user must
    /// install again.
    #[error("Pipedrive authorisation lost; the user must re-authorise: {reason}")]
    NeedsReauth { reason: String },

    /// 402: the company account is not open or the trial expired.
    #[error("Pipedrive account not active (402): {message}")]
    PaymentRequired { message: String },

    /// 403: not allowed (missing scope, plan limit or permissions).
    #[error("Pipedrive refused the request (403, {kind:?}): {message}")]
    Forbidden {
        kind: ForbiddenKind,
        message: String,
    },

    #[error("not found in Pipedrive: {message}")]
    NotFound { message: String },

    /// 400 or 422: the request is wrong; retrying it unchanged will fail again.
    #[error("Pipedrive rejected the request ({status}): {message}")]
    Invalid {
        status: u16,
        message: String,
        fields: FieldErrors,
    },

    /// 429 that retries did not get past.
    #[error("rate limited by Pipedrive (daily budget: {daily})")]
    RateLimited {
        daily: bool,
        retry_after: Option<Duration>,
    },

    /// 5xx, timeouts, connection errors: worth retrying later. `source` is the error met on the
    /// way (the transport's, the ledger's, the token source's), when there was one.
    #[error("transient Pipedrive failure ({kind:?}): {message}")]
    Transient {
        kind: TransientKind,
        message: String,
        #[source]
        source: Option<Cause>,
    },

    /// The call was not sent: the budget allows it again at `until`. The job queue parks the
    /// job until then.
    #[error("call deferred until {until} ({reason:?})")]
    Deferred {
        until: DateTime<Utc>,
        reason: WaitReason,
    },

    /// Any other status Pipedrive documents as final (405, 410, 415, ...).
    #[error("Pipedrive answered {status}: {message}")]
    Permanent { status: u16, message: String },

    /// A success response whose body does not match the model.
    #[error("unexpected Pipedrive response body: {0}")]
    Decode(String),

    /// The OAuth server refused a code exchange, refresh or revoke for a reason other than an
    /// invalid grant (which is [`Error::NeedsReauth`]).
    #[error("OAuth request failed: {0}")]
    OAuth(String),

    /// The client was asked for an operation missing from the cost table (a bug: every typed
    /// call is covered by a test).
    #[error("no token cost for {method} {path}")]
    UnknownOperation {
        method: &'static str,
        path: &'static str,
    },

    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::NeedsReauth { .. } => ErrorClass::NeedsReauth,
            Error::PaymentRequired { .. }
            | Error::Forbidden { .. }
            | Error::Permanent { .. }
            | Error::Decode(_)
            | Error::OAuth(_)
            | Error::UnknownOperation { .. }
            | Error::Config(_) => ErrorClass::Permanent,
            Error::NotFound { .. } => ErrorClass::NotFound,
            Error::Invalid { .. } => ErrorClass::Invalid,
            Error::RateLimited { .. } => ErrorClass::RateLimited,
            Error::Transient { .. } => ErrorClass::Transient,
            Error::Deferred { .. } => ErrorClass::Deferred,
        }
    }

    /// Whether the same call may succeed later without a change by a person.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.class(),
            ErrorClass::RateLimited | ErrorClass::Transient | ErrorClass::Deferred
        )
    }
}

/// Writes an error with every cause under it (outermost first, joined by ": "), for the log
/// lines of errors this crate handles itself (a failed settle, a retried call). This crate depends
/// on nothing internal, so it keeps its own copy of `dealbridge_core::ErrorChain`.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NeedsReauth(reason) => Error::NeedsReauth {
                reason: reason.into_owned(),
            },
            unavailable @ TokenError::Unavailable { .. } => Error::Transient {
                kind: TransientKind::TokenSource,
                message: "no access token".into(),
                source: Some(Box::new(unavailable)),
            },
        }
    }
}

impl From<LedgerError> for Error {
    fn from(e: LedgerError) -> Self {
        Error::Transient {
            kind: TransientKind::Ledger,
            message: "no budget reservation".into(),
            source: Some(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn chain(err: &Error) -> String {
        Chain(err).to_string()
    }

    #[test]
    fn an_unavailable_token_keeps_its_cause_below_the_transient_error() {
        let root = std::io::Error::new(std::io::ErrorKind::TimedOut, "vault store timed out");
        let err = Error::from(TokenError::unavailable_because(
            "reading the installation",
            root,
        ));
        assert!(
            matches!(
                err,
                Error::Transient {
                    kind: TransientKind::TokenSource,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            chain(&err),
            "transient Pipedrive failure (TokenSource): no access token: \
             token unavailable: reading the installation: vault store timed out"
        );
    }

    #[test]
    fn a_ledger_failure_keeps_the_store_error_below_it() {
        let root = std::io::Error::other("connection refused");
        let err = Error::from(LedgerError::because("budget store", root));
        let ledger = err.source().map(ToString::to_string);
        assert_eq!(
            ledger.as_deref(),
            Some("budget ledger unavailable: budget store")
        );
        assert!(
            chain(&err).ends_with("budget store: connection refused"),
            "{}",
            chain(&err)
        );
    }

    #[test]
    fn lost_authorisation_stays_needs_reauth_with_its_reason() {
        let err = Error::from(TokenError::needs_reauth("uninstalled"));
        assert!(
            matches!(&err, Error::NeedsReauth { reason } if reason == "uninstalled"),
            "{err:?}"
        );
    }
}
