//! `Sql`: a statement written once, run on any `Backend`, with driver errors mapped to
//! `StoreError` by what the database says failed.

use dealbridge_storage::{StoreError, StoreResult};

use crate::backend::{Backend, Bind, Query};
use crate::SqlStore;

/// The statement `text`; bind values in `$N` order (sqlx's SQLite driver reads `$N` too).
pub(crate) fn sql<B: Backend>(text: &str) -> Sql<'_, B> {
    Sql(sqlx::query(text))
}

pub(crate) struct Sql<'q, B: Backend>(Query<'q, B>);

impl<'q, B: Backend> Sql<'q, B> {
    pub(crate) fn bind<T>(self, value: T) -> Self
    where
        B: Bind<'q, T>,
    {
        Self(B::bind_value(self.0, value))
    }

    /// Binds a tuple of values in order.
    pub(crate) fn binds(self, values: impl Values<'q, B>) -> Self {
        values.bind_to(self)
    }

    pub(crate) async fn fetch_all(self, conn: &mut B::Connection) -> StoreResult<Vec<B::Row>> {
        B::fetch_all(self.0, conn).await.map_err(store_error::<B>)
    }

    /// The first row, of a statement that returns at most one.
    pub(crate) async fn fetch_optional(
        self,
        conn: &mut B::Connection,
    ) -> StoreResult<Option<B::Row>> {
        Ok(self.fetch_all(conn).await?.into_iter().next())
    }

    /// Exactly one row: statements that always return one (`insert ... returning`, aggregates).
    pub(crate) async fn fetch_one(self, conn: &mut B::Connection) -> StoreResult<B::Row> {
        let row = self.fetch_optional(conn).await?;
        row.ok_or_else(|| StoreError::backend(sqlx::Error::RowNotFound))
    }

    /// Runs the statement; how many rows it changed.
    pub(crate) async fn execute(self, conn: &mut B::Connection) -> StoreResult<u64> {
        B::execute(self.0, conn).await.map_err(store_error::<B>)
    }
}

/// One statement on a pooled connection: `text` with `values` bound in `$N` order, each row read
/// by `read` (an area's `*_from_row`, or a closure over `B::get`).
impl<B: Backend> SqlStore<B> {
    pub(crate) async fn execute<'q>(
        &self,
        text: &'q str,
        values: impl Values<'q, B>,
    ) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        sql(text).binds(values).execute(&mut conn).await
    }

    pub(crate) async fn fetch_all<'q, T>(
        &self,
        text: &'q str,
        values: impl Values<'q, B>,
        read: impl Fn(&B::Row) -> StoreResult<T> + Send,
    ) -> StoreResult<Vec<T>> {
        let mut conn = self.conn().await?;
        let rows = sql(text).binds(values).fetch_all(&mut conn).await?;
        rows.iter().map(read).collect()
    }

    pub(crate) async fn fetch_optional<'q, T>(
        &self,
        text: &'q str,
        values: impl Values<'q, B>,
        read: impl Fn(&B::Row) -> StoreResult<T> + Send,
    ) -> StoreResult<Option<T>> {
        let mut conn = self.conn().await?;
        let row = sql(text).binds(values).fetch_optional(&mut conn).await?;
        row.as_ref().map(read).transpose()
    }

    pub(crate) async fn fetch_one<'q, T>(
        &self,
        text: &'q str,
        values: impl Values<'q, B>,
        read: impl Fn(&B::Row) -> StoreResult<T> + Send,
    ) -> StoreResult<T> {
        let mut conn = self.conn().await?;
        read(&sql(text).binds(values).fetch_one(&mut conn).await?)
    }
}

/// The `n` of a `count(*) as n`.
pub(crate) fn count<B: Backend>(row: &B::Row) -> StoreResult<u64> {
    let n: i64 = B::get(row, "n")?;
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("count {n}")))
}

/// A tuple of values a statement binds in order.
pub(crate) trait Values<'q, B: Backend>: Send {
    fn bind_to(self, sql: Sql<'q, B>) -> Sql<'q, B>;
}

impl<'q, B: Backend> Values<'q, B> for () {
    fn bind_to(self, sql: Sql<'q, B>) -> Sql<'q, B> {
        sql
    }
}

/// Implements `Values` for the tuple of the given arity and every shorter one.
macro_rules! tuple_values {
    ($first:ident $(, $value:ident)*) => {
        impl<'q, B: Backend, $first: Send $(, $value: Send)*> Values<'q, B> for ($first, $($value,)*)
        where
            B: Bind<'q, $first> $(+ Bind<'q, $value>)*
        {
            #[allow(non_snake_case)] // the type parameters name the values
            fn bind_to(self, sql: Sql<'q, B>) -> Sql<'q, B> {
                let ($first, $($value,)*) = self;
                sql.bind($first)$(.bind($value))*
            }
        }
        tuple_values!($($value),*);
    };
    () => {};
}

tuple_values!(A, C, D, E, F, G, H, I, J, K);

/// Maps a driver error by kind and, for unique violations, by the constraint's name (the
/// migrations name every one), so the caller gets an error it can act on.
pub(crate) fn store_error<B: Backend>(err: sqlx::Error) -> StoreError {
    let Some(db) = err.as_database_error() else {
        return StoreError::backend(err);
    };
    match db.kind() {
        // Every foreign key of the schema references `tenants`.
        sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::NotFound("tenant"),
        sqlx::error::ErrorKind::UniqueViolation => match B::unique_constraint(db) {
            Some(constraint) => unique_violation(constraint),
            None => StoreError::backend(err),
        },
        _ => StoreError::backend(err),
    }
}

/// What a violated unique constraint means to the caller.
fn unique_violation(constraint: &'static str) -> StoreError {
    match constraint {
        "staff_accounts_email_key" => StoreError::StaffEmailTaken,
        // Two saves based on the same version both passed the check; the later one lost.
        "tenant_settings_pkey" => {
            StoreError::Conflict(dealbridge_storage::SETTINGS_SAVED_MEANWHILE)
        }
        // A dead job retried while another open job holds its unique key.
        "jobs_unique_key_key" => StoreError::Conflict("an open job holds the same unique key"),
        other => StoreError::Duplicate(other),
    }
}

/// Unique constraints by name, one a line, with the columns SQLite reports instead of a name
/// ("UNIQUE constraint failed: staff_accounts.email" is `staff_accounts (email)`).
const UNIQUE_CONSTRAINTS: &str = "
    tenants_pkey: tenants (id)
    tenants_company_id_key: tenants (company_id)
    installations_pkey: installations (tenant_id, user_id)
    tenant_settings_pkey: tenant_settings (tenant_id, version)
    audit_log_pkey: audit_log (id)
    used_nonces_pkey: used_nonces (purpose, nonce)
    jobs_pkey: jobs (tenant_id, id)
    jobs_unique_key_key: jobs (tenant_id, unique_key)
    budget_companies_pkey: budget_companies (company_id)
    budget_slots_pkey: budget_slots (company_id, user_id, kind, slot)
    budget_figures_pkey: budget_figures (company_id)
    staff_accounts_pkey: staff_accounts (id)
    staff_accounts_email_key: staff_accounts (email)
    provisioned_fields_pkey: provisioned_fields (tenant_id, purpose)
    sign_in_failures_pkey: sign_in_failures (key)
    session_epochs_pkey: session_epochs (subject)
    inbox_events_pkey: inbox_events (tenant_id, id)
    inbox_events_dedupe_key: inbox_events (tenant_id, source, dedupe_key)
    pipedrive_webhooks_pkey: pipedrive_webhooks (tenant_id)
    pipedrive_webhooks_path_token_key: pipedrive_webhooks (path_token)
    pipedrive_mirror_pkey: pipedrive_mirror (tenant_id, entity, record_id)
    step_journal_pkey: step_journal (tenant_id, job_key, step)
    event_api_secrets_pkey: event_api_secrets (tenant_id, id)
    store_connections_pkey: store_connections (tenant_id, id)
    store_connections_path_token_key: store_connections (path_token)
    imports_pkey: imports (tenant_id, id)
    import_rows_pkey: import_rows (tenant_id, import_id, row_number)
    token_refreshes_pkey: token_refreshes (tenant_id, id)
";

/// The name of the first unique constraint `is` accepts by (name, columns).
pub(crate) fn unique_constraint(is: impl Fn(&str, &str) -> bool) -> Option<&'static str> {
    let mut table = UNIQUE_CONSTRAINTS
        .lines()
        .filter_map(|l| l.trim().split_once(": "));
    table
        .find(|&(name, columns)| is(name, columns))
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    /// A malformed line of the table would be skipped, and its violations go unnamed on SQLite.
    #[test]
    fn every_constraint_line_is_an_entry() {
        let lines = super::UNIQUE_CONSTRAINTS.lines().map(str::trim);
        for line in lines.filter(|line| !line.is_empty()) {
            let (name, on) = line.split_once(": ").expect("`name: table (columns)`");
            assert!(on.contains(" (") && on.ends_with(')'), "{line}");
            let found = super::unique_constraint(|known, columns| known == name && columns == on);
            assert_eq!(found, Some(name));
        }
    }
}
