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

    pub(crate) async fn fetch_optional(
        self,
        conn: &mut B::Connection,
    ) -> StoreResult<Option<B::Row>> {
        B::fetch_optional(self.0, conn)
            .await
            .map_err(store_error::<B>)
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

/// One statement on a pooled connection: `text` with `values` bound in `$N` order.
impl<B: Backend> SqlStore<B> {
    pub(crate) async fn execute<'q>(
        &self,
        text: &'q str,
        values: impl Values<'q, B>,
    ) -> StoreResult<u64> {
        sql(text)
            .binds(values)
            .execute(&mut *self.conn().await?)
            .await
    }

    pub(crate) async fn fetch_all<'q>(
        &self,
        text: &'q str,
        values: impl Values<'q, B>,
    ) -> StoreResult<Vec<B::Row>> {
        sql(text)
            .binds(values)
            .fetch_all(&mut *self.conn().await?)
            .await
    }

    pub(crate) async fn fetch_optional<'q>(
        &self,
        text: &'q str,
        values: impl Values<'q, B>,
    ) -> StoreResult<Option<B::Row>> {
        sql(text)
            .binds(values)
            .fetch_optional(&mut *self.conn().await?)
            .await
    }

    pub(crate) async fn fetch_one<'q>(
        &self,
        text: &'q str,
        values: impl Values<'q, B>,
    ) -> StoreResult<B::Row> {
        sql(text)
            .binds(values)
            .fetch_one(&mut *self.conn().await?)
            .await
    }
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

/// Unique constraints by name, with the columns SQLite reports instead of a name
/// ("UNIQUE constraint failed: staff_accounts.email").
pub(crate) const UNIQUE_CONSTRAINTS: &[(&str, &str)] = &[
    ("tenants_pkey", "tenants.id"),
    ("tenants_company_id_key", "tenants.company_id"),
    (
        "installations_pkey",
        "installations.tenant_id, installations.user_id",
    ),
    (
        "tenant_settings_pkey",
        "tenant_settings.tenant_id, tenant_settings.version",
    ),
    ("audit_log_pkey", "audit_log.id"),
    ("used_nonces_pkey", "used_nonces.purpose, used_nonces.nonce"),
    ("jobs_pkey", "jobs.tenant_id, jobs.id"),
    ("jobs_unique_key_key", "jobs.tenant_id, jobs.unique_key"),
    ("budget_companies_pkey", "budget_companies.company_id"),
    (
        "budget_slots_pkey",
        "budget_slots.company_id, budget_slots.user_id, budget_slots.kind, budget_slots.slot",
    ),
    ("budget_figures_pkey", "budget_figures.company_id"),
    ("staff_accounts_pkey", "staff_accounts.id"),
    ("staff_accounts_email_key", "staff_accounts.email"),
    (
        "provisioned_fields_pkey",
        "provisioned_fields.tenant_id, provisioned_fields.purpose",
    ),
    ("sign_in_failures_pkey", "sign_in_failures.key"),
    ("session_epochs_pkey", "session_epochs.subject"),
    (
        "inbox_events_pkey",
        "inbox_events.tenant_id, inbox_events.id",
    ),
    (
        "inbox_events_dedupe_key",
        "inbox_events.tenant_id, inbox_events.source, inbox_events.dedupe_key",
    ),
    ("pipedrive_webhooks_pkey", "pipedrive_webhooks.tenant_id"),
    (
        "pipedrive_webhooks_path_token_key",
        "pipedrive_webhooks.path_token",
    ),
    (
        "pipedrive_mirror_pkey",
        "pipedrive_mirror.tenant_id, pipedrive_mirror.entity, pipedrive_mirror.record_id",
    ),
    (
        "event_api_secrets_pkey",
        "event_api_secrets.tenant_id, event_api_secrets.id",
    ),
    (
        "store_connections_pkey",
        "store_connections.tenant_id, store_connections.id",
    ),
    (
        "store_connections_path_token_key",
        "store_connections.path_token",
    ),
];
