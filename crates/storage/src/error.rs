pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row a write refers to does not exist (for this tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The write lost a race or was based on a stale version; the caller should reload.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A stored value could not be understood (for example an unknown status string).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database could not be reached or refused the statement.
    #[error("storage backend error")]
    Backend(#[source] BoxError),
}

impl StoreError {
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(err))
    }
}
