//! Postgres: the production backend. Several instances share one database, so everything that
//! must hold across them (claims, leases, budgets) is decided by the database.

mod queue;

use std::str::FromStr;
use std::time::Duration;

use dealbridge_storage::{StoreError, StoreResult};
use futures::future::BoxFuture;
use sqlx::postgres::{
    PgArgumentBuffer, PgConnectOptions, PgHasArrayType, PgPoolOptions, PgTypeInfo,
};
use sqlx::Pool;
use sqlx::{ConnectOptions, Connection, Postgres};
use uuid::Uuid;

use crate::backend::{sqlx_execution, Backend, Query};
use crate::statement::unique_constraint;
use crate::values::{column_via, Batch, Id, QueueTime, Scopes};
use crate::SqlStore;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The Postgres store.
pub type PgStore = SqlStore<Postgres>;

column_via!(Id, Postgres, Uuid, |id: &Id| id.0, |id| Ok(Id(id)));
column_via!(
    Scopes,
    Postgres,
    Vec<String>,
    |s: &Scopes| s.0.clone(),
    |s| Ok(Scopes(s))
);
column_via!(
    QueueTime,
    Postgres,
    chrono::DateTime<chrono::Utc>,
    |t: &QueueTime| t.0,
    |t| Ok(QueueTime(t))
);

/// A batch column is bound as an array of its elements.
impl<T> sqlx::Type<Postgres> for Batch<T>
where
    Vec<T>: sqlx::Type<Postgres>,
{
    fn type_info() -> PgTypeInfo {
        <Vec<T> as sqlx::Type<Postgres>>::type_info()
    }
}

impl<'q, T> sqlx::Encode<'q, Postgres> for Batch<T>
where
    Vec<T>: sqlx::Encode<'q, Postgres>,
{
    fn encode_by_ref(
        &self,
        buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <Vec<T> as sqlx::Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl PgHasArrayType for Id {
    fn array_type_info() -> PgTypeInfo {
        Uuid::array_type_info()
    }
}

impl PgHasArrayType for QueueTime {
    fn array_type_info() -> PgTypeInfo {
        chrono::DateTime::<chrono::Utc>::array_type_info()
    }
}

impl SqlStore<Postgres> {
    /// Connects to `url`, creating its database first if the server does not have it.
    /// Does not migrate; call `Maintenance::migrate`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::backend)?;
        ensure_database(&options).await?;
        Self::connect_with(options, max_connections).await
    }

    /// Connects with prepared options (tests use this to pin a `search_path`).
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it takes from the pool: a round trip before each
            // statement. Returning a connection already pings it (a broken one is closed then),
            // and one that breaks while idle fails its next statement, which callers retry.
            .test_before_acquire(false)
            .connect_with(options.log_statements(tracing::log::LevelFilter::Debug))
            .await
            .map_err(StoreError::backend)?;
        Ok(Self { pool })
    }
}

/// Creates the target database when missing, through the server's `postgres` database.
async fn ensure_database(options: &PgConnectOptions) -> StoreResult<()> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(()); // no database named: the server's default for the user
    };
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .map_err(StoreError::backend)?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .map_err(StoreError::backend)?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let created = sqlx::query(&format!("create database {quoted}"))
            .execute(&mut admin)
            .await;
        match created {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another instance created it between our check and our create.
            Err(e) if e.as_database_error().and_then(|e| e.code()).as_deref() == Some("42P04") => {}
            Err(e) => return Err(StoreError::backend(e)),
        }
    }
    admin.close().await.map_err(StoreError::backend)
}

impl Backend for Postgres {
    const BACKEND_NAME: &'static str = "postgres";
    const GREATEST: &'static str = "greatest";
    const LEAST: &'static str = "least";
    const SKIP_LOCKED: &'static str = "for update skip locked";
    const JSON_ELEMENTS: &'static str = "jsonb_array_elements";
    const ARRIVING_EVENTS: &'static str = "unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],
            $5::text[], $6::text[], $7::timestamptz[], $8::jsonb[]) with ordinality
        as a(tenant_id, id, source, kind, dedupe_key, entity_key, occurred_at, payload, n)";
    const BEGIN_WRITE: &'static str = "begin";
    const READY_QUEUES: &'static str = queue::READY_QUEUES;
    const HAS_MIGRATIONS_TABLE: &'static str = "select count(to_regclass('_sqlx_migrations')) as n";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn migrate(pool: &Pool<Self>) -> BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>> {
        Box::pin(MIGRATOR.run(pool))
    }

    sqlx_execution!();

    fn unique_constraint(err: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
        let name = err.constraint()?;
        unique_constraint(|known, _| known == name)
    }
}
