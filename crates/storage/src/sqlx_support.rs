//! Shared by the sqlx-based backends: one mapping from driver errors to `StoreError`, by error kind
//! (never by message text, which differs between databases and versions).

use crate::{StoreError, StoreResult};

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

/// Rows whose columns are read by name, with the driver's decoding of `T`. Both backends' rows
/// qualify; the row readers below are written once for the tables whose columns have the same
/// types on both (integers and text), so only the SQL differs between the backends.
pub trait NamedRow<'r, T>: sqlx::Row {
    fn get_named(&'r self, name: &'r str) -> StoreResult<T>;
}

impl<'r, R, T> NamedRow<'r, T> for R
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn get_named(&'r self, name: &'r str) -> StoreResult<T> {
        self.try_get(name).map_err(StoreError::backend)
    }
}

/// A `budget_companies` row (see [`crate::BudgetColumns`]).
pub fn read_budget_columns<'r, R>(row: &'r R) -> StoreResult<crate::BudgetColumns>
where
    R: NamedRow<'r, i64> + NamedRow<'r, Option<i64>>,
{
    Ok((
        row.get_named("daily_limit")?,
        row.get_named("learned_limit")?,
        row.get_named("spent")?,
        row.get_named("period_end_ms")?,
        row.get_named("exhausted_until_ms")?,
    ))
}

/// A `budget_figures` row.
pub fn read_budget_figures<'r, R>(row: &'r R) -> StoreResult<crate::BudgetFigures>
where
    R: NamedRow<'r, i64>,
{
    Ok(crate::BudgetFigures {
        calls: row.get_named("calls")?,
        tokens_spent: row.get_named("tokens_spent")?,
        rate_limited: row.get_named("rate_limited")?,
        waited_ms: row.get_named("waited_ms")?,
        deferred: row.get_named("deferred")?,
    })
}

/// A `sign_in_failures` row.
pub fn read_failure_window<'r, R>(row: &'r R) -> StoreResult<crate::FailureWindow>
where
    R: NamedRow<'r, i64>,
{
    Ok(crate::failure_window_from_columns(
        row.get_named("failures")?,
        row.get_named("window_ends_ms")?,
    ))
}

/// A `provisioned_fields` row (both backends decode the time column as UTC).
pub fn read_provisioned_field<'r, R>(
    row: &'r R,
) -> StoreResult<dealbridge_core::fields::ProvisionedField>
where
    R: NamedRow<'r, String> + NamedRow<'r, chrono::DateTime<chrono::Utc>>,
{
    let purpose: String = row.get_named("purpose")?;
    let entity: String = row.get_named("entity")?;
    crate::provisioned_field_from_columns(
        &purpose,
        &entity,
        row.get_named("field_code")?,
        row.get_named("recorded_at")?,
    )
}
