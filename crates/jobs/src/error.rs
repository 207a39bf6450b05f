use chrono::{DateTime, Utc};
use dealbridge_core::ErrorChain;
use dealbridge_storage::StoreError;

/// What made a job fail: a message of the handler's own, or the error it met, with its causes.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How a handler reports failure. The worker decides what happens next: a retry after a backoff
/// (until the job's attempt limit), or dead at once. The cause is kept as an error (not flattened
/// to a string) so its whole chain reaches the log once, where the worker records the failure.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient (timeouts, 5xx, lost connections): retried with exponential backoff and jitter.
    #[error("transient failure")]
    Retry(#[source] Cause),
    /// Transient with a known time to try again (a rate limit's reset): retried then, still
    /// counting the attempt.
    #[error("transient failure, to be retried at {1}")]
    RetryAt(#[source] Cause, DateTime<Utc>),
    /// Retrying cannot help (invalid payload, a 4xx the request caused): dead now.
    #[error("permanent failure")]
    Permanent(#[source] Cause),
}

impl JobError {
    pub fn retry(cause: impl Into<Cause>) -> Self {
        Self::Retry(cause.into())
    }

    pub fn retry_at(cause: impl Into<Cause>, at: DateTime<Utc>) -> Self {
        Self::RetryAt(cause.into(), at)
    }

    pub fn permanent(cause: impl Into<Cause>) -> Self {
        Self::Permanent(cause.into())
    }

    pub fn cause(&self) -> &Cause {
        match self {
            Self::Retry(cause) | Self::RetryAt(cause, _) | Self::Permanent(cause) => cause,
        }
    }

    /// The cause and every error under it, outermost first, joined by ": ": what the worker logs.
    /// The job row keeps only the cause's own message (`cause().to_string()`), which the
    /// dashboard shows to the tenant's admin.
    pub fn chain(&self) -> String {
        let cause: &(dyn std::error::Error + 'static) = &**self.cause();
        ErrorChain(cause).to_string()
    }
}

/// What can stop a worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("job store")]
    Store(#[from] StoreError),
    #[error("handler task")]
    Task(#[from] tokio::task::JoinError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading the tenant")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_keeps_every_cause_in_order() {
        let root = std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out");
        let err = JobError::retry(Outer(root));
        assert_eq!(err.chain(), "reading the tenant: connection timed out");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("reading the tenant"));
    }

    #[test]
    fn a_message_is_its_own_chain() {
        assert_eq!(
            JobError::permanent("payload without n").chain(),
            "payload without n"
        );
    }
}
