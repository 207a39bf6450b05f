use chrono::{DateTime, Utc};
use dealbridge_storage::StoreError;

/// How a handler reports failure. The worker decides what happens next: a retry after a backoff
/// (until the job's attempt limit), or dead at once.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient (timeouts, 5xx, lost connections): retried with exponential backoff and jitter.
    #[error("{0}")]
    Retry(String),
    /// Transient with a known time to try again (a rate limit's reset): retried then, still
    /// counting the attempt.
    #[error("{0}")]
    RetryAt(String, DateTime<Utc>),
    /// Retrying cannot help (invalid payload, a 4xx the request caused): dead now.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn retry(err: impl std::fmt::Display) -> Self {
        Self::Retry(err.to_string())
    }

    pub fn permanent(err: impl std::fmt::Display) -> Self {
        Self::Permanent(err.to_string())
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
