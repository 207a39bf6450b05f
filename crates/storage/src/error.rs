pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub type StoreResult<T> = Result<T, StoreError>;

/// What `TenantSettings::save_settings` reports when another save came first.
pub const SETTINGS_SAVED_MEANWHILE: &str = "settings were saved by someone else meanwhile";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row a write refers to does not exist (for this tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The write lost a race or was based on a stale version; the caller should reload.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A staff account with this email exists already (`staff_accounts_email_key`).
    #[error("a staff account with this email exists")]
    StaffEmailTaken,
    /// A unique constraint without a more specific meaning refused the write; holds its name as
    /// the migrations give it.
    #[error("duplicate value for {0}")]
    Duplicate(&'static str),
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
