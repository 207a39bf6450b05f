//! Pipedrive and store failures, mapped onto the job queue's retry rules.

use chrono::Utc;
use dealbridge_jobs::JobError;
use dealbridge_pipedrive::Error;
use dealbridge_storage::StoreError;

/// How long a job that met lost authorisation waits before it is looked at again. The budget
/// gate keeps a tenant in `needs_reauth` from being claimed at all, so this only matters for the
/// attempt that found out.
const RECONNECT_RECHECK: chrono::Duration = chrono::Duration::minutes(10);

/// When a rate limit names no time, try again after this.
const RATE_LIMIT_PAUSE: chrono::Duration = chrono::Duration::minutes(1);

pub fn job_error(err: Error) -> JobError {
    match err {
        Error::Transient { .. } => JobError::retry(err),
        Error::Deferred { until, .. } => JobError::retry_at(err, until),
        Error::RateLimited { retry_after, .. } => {
            let pause = retry_after
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .unwrap_or(RATE_LIMIT_PAUSE);
            JobError::retry_at(err, Utc::now() + pause)
        }
        Error::NeedsReauth { .. } => wait_for_reconnect(Some(err)),
        // The server gave up reading the request (a busy server's read timeout), so it did not
        // act on it; a retried step that may have written looks its record up first anyway.
        Error::Permanent { status: 408, .. } => JobError::retry(err),
        Error::PaymentRequired { .. }
        | Error::Forbidden { .. }
        | Error::NotFound { .. }
        | Error::Invalid { .. }
        | Error::Permanent { .. }
        | Error::Decode(_)
        | Error::OAuth(_)
        | Error::UnknownOperation { .. }
        | Error::Config(_) => JobError::permanent(err),
    }
}

/// Why a job waits for its user: what Pipedrive said, when a call found out.
#[derive(Debug, thiserror::Error)]
#[error("waiting for a user to reconnect Dealbridge to Pipedrive")]
pub(crate) struct WaitingForReconnect(#[source] Option<Error>);

pub(crate) fn wait_for_reconnect(found_by: Option<Error>) -> JobError {
    JobError::retry_at(
        WaitingForReconnect(found_by),
        Utc::now() + RECONNECT_RECHECK,
    )
}

/// The installation row holds an `api_domain` that is not a URL (corrupt data).
#[derive(Debug, thiserror::Error)]
#[error("stored api_domain is not a URL")]
pub(crate) struct BadApiDomain(#[source] pub(crate) url::ParseError);

/// The store being unreachable is transient; anything else it reports is a bug or corrupt data.
pub(crate) fn store_error(err: StoreError) -> JobError {
    match err {
        StoreError::Backend(_) => JobError::retry(err),
        other => JobError::permanent(other),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn transient_failures_retry_with_backoff() {
        let err = Error::Transient {
            kind: dealbridge_pipedrive::TransientKind::Timeout,
            message: "slow".into(),
            source: None,
        };
        assert!(matches!(job_error(err), JobError::Retry(_)));
    }

    #[test]
    fn rate_limits_retry_at_the_time_given() {
        let err = Error::RateLimited {
            daily: false,
            retry_after: Some(Duration::from_secs(7)),
        };
        let JobError::RetryAt(_, at) = job_error(err) else {
            panic!("not a timed retry");
        };
        let wait = at - Utc::now();
        assert!(wait > chrono::Duration::seconds(5) && wait <= chrono::Duration::seconds(7));
    }

    #[test]
    fn budget_deferrals_retry_when_the_ledger_said() {
        let until = Utc::now() + chrono::Duration::hours(3);
        let err = Error::Deferred {
            until,
            reason: dealbridge_pipedrive::WaitReason::DailyBudget,
        };
        assert!(matches!(job_error(err), JobError::RetryAt(_, at) if at == until));
    }

    #[test]
    fn the_pipedrive_error_is_kept_as_the_cause() {
        let err = Error::Transient {
            kind: dealbridge_pipedrive::TransientKind::Connect,
            message: "the request did not complete".into(),
            source: Some(Box::new(std::io::Error::other("connection refused"))),
        };
        let job = job_error(err);
        assert!(job.cause().downcast_ref::<Error>().is_some(), "{job:?}");
        assert!(
            job.chain().ends_with("connection refused"),
            "{}",
            job.chain()
        );
    }

    #[test]
    fn waiting_for_reconnect_says_what_pipedrive_answered() {
        let err = Error::NeedsReauth {
            reason: "invalid_grant".into(),
        };
        let job = job_error(err);
        assert_eq!(
            job.cause().to_string(),
            "waiting for a user to reconnect Dealbridge to Pipedrive"
        );
        assert!(job.chain().contains("invalid_grant"), "{}", job.chain());
    }

    #[test]
    fn lost_authorisation_waits_instead_of_dying() {
        let err = Error::NeedsReauth {
            reason: "invalid_grant".into(),
        };
        assert!(matches!(job_error(err), JobError::RetryAt(_, at) if at > Utc::now()));
    }

    #[test]
    fn refusals_are_permanent_and_keep_pipedrives_message() {
        let err = Error::Forbidden {
            kind: dealbridge_pipedrive::ForbiddenKind::MissingScope,
            message: "Scope deals:full is missing".into(),
        };
        let JobError::Permanent(cause) = job_error(err) else {
            panic!("not permanent");
        };
        let message = cause.to_string();
        assert!(message.contains("Scope deals:full is missing"), "{message}");
    }

    #[test]
    fn a_request_timeout_is_retried_not_dead() {
        let err = Error::Permanent {
            status: 408,
            message: "Request Timeout".into(),
        };
        assert!(matches!(job_error(err), JobError::Retry(_)));
        let err = Error::Permanent {
            status: 410,
            message: "Gone".into(),
        };
        assert!(matches!(job_error(err), JobError::Permanent(_)));
    }
}
