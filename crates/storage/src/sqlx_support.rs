//! Shared by the sqlx-based backends: one mapping from driver errors to `StoreError`, by error kind
//! (never by message text, which differs between databases and versions).

use crate::StoreError;

/// Maps a driver error. A foreign-key violation means the parent row (named by `on_foreign_key`) is
/// missing; a unique violation means a concurrent write won.
pub fn sqlx_error(err: sqlx::Error, on_foreign_key: &'static str) -> StoreError {
    if let Some(db) = err.as_database_error() {
        match db.kind() {
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                return StoreError::NotFound(on_foreign_key)
            }
            sqlx::error::ErrorKind::UniqueViolation => {
                return StoreError::Conflict("a concurrent write won")
            }
            _ => {}
        }
    }
    StoreError::backend(err)
}
