//! The dialect seam: what a database must provide so the statements of `areas/` run on it.
//!
//! `Backend` bundles the sqlx bounds with the few things that truly differ between SQLite and
//! Postgres. Areas are written once against it; `sqlite.rs` and `postgres.rs` implement it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{JobWakeups, StoreResult};
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::{Database, Decode, Encode, Pool, Type};

use crate::values::{Batch, Id, QueueTime, Scopes};

pub(crate) type Query<'q, B> = sqlx::query::Query<'q, B, <B as Database>::Arguments<'q>>;

/// `T` can be bound in a statement of this database.
pub trait Bind<'q, T>: Database {
    fn bind_value(query: Query<'q, Self>, value: T) -> Query<'q, Self>;
}

impl<'q, DB: Database, T: 'q + Encode<'q, DB> + Type<DB>> Bind<'q, T> for DB {
    fn bind_value(query: Query<'q, Self>, value: T) -> Query<'q, Self> {
        query.bind(value)
    }
}

/// `T` can be read from a column of this database's rows, by name.
pub trait Get<T>: Database {
    fn get(row: &Self::Row, column: &str) -> StoreResult<T>;
}

impl<DB: Database, T> Get<T> for DB
where
    T: for<'r> Decode<'r, DB> + Type<DB>,
    for<'c> &'c str: sqlx::ColumnIndex<DB::Row>,
{
    fn get(row: &Self::Row, column: &str) -> StoreResult<T> {
        sqlx::Row::try_get(row, column).map_err(dealbridge_storage::StoreError::backend)
    }
}

/// A database the store runs on: every value type the areas bind and read (as supertraits, which
/// Rust carries to every use site, unlike `where` clauses), statement execution, and what differs.
pub trait Backend:
    for<'q> Bind<'q, i32>
    + for<'q> Bind<'q, i64>
    + for<'q> Bind<'q, Option<i64>>
    + for<'q> Bind<'q, bool>
    + for<'q> Bind<'q, &'q str>
    + for<'q> Bind<'q, Option<&'q str>>
    + for<'q> Bind<'q, &'q String>
    + for<'q> Bind<'q, &'q Option<String>>
    + for<'q> Bind<'q, &'q Vec<u8>>
    + for<'q> Bind<'q, &'q Option<Vec<u8>>>
    + for<'q> Bind<'q, DateTime<Utc>>
    + for<'q> Bind<'q, &'q Value>
    + for<'q> Bind<'q, Id>
    + for<'q> Bind<'q, Option<Id>>
    + for<'q> Bind<'q, Scopes>
    + for<'q> Bind<'q, QueueTime>
    + for<'q> Bind<'q, Option<QueueTime>>
    + for<'q> Bind<'q, Batch<Id>>
    + for<'q> Bind<'q, Batch<&'q str>>
    + for<'q> Bind<'q, Batch<Option<&'q str>>>
    + for<'q> Bind<'q, Batch<&'q Value>>
    + for<'q> Bind<'q, Batch<i16>>
    + for<'q> Bind<'q, Batch<i32>>
    + for<'q> Bind<'q, Batch<QueueTime>>
    + Get<i16>
    + Get<i32>
    + Get<i64>
    + Get<Option<i64>>
    + Get<String>
    + Get<Option<String>>
    + Get<Option<Vec<u8>>>
    + Get<Vec<u8>>
    + Get<DateTime<Utc>>
    + Get<Option<DateTime<Utc>>>
    + Get<Value>
    + Get<Option<Value>>
    + Get<Id>
    + Get<Option<Id>>
    + Get<Scopes>
    + Get<QueueTime>
    + Get<Option<QueueTime>>
    + Queue
{
    /// `"postgres"` or `"sqlite"`.
    const BACKEND_NAME: &'static str;
    /// The larger / smaller of two values (`greatest`/`least` against `max`/`min`).
    const GREATEST: &'static str;
    const LEAST: &'static str;
    /// Appended to a `select` whose rows the statement then updates: concurrent instances skip
    /// each other's rows instead of waiting (Postgres); SQLite has one writer at a time.
    const SKIP_LOCKED: &'static str;
    /// The table function that lists a JSON array's elements as rows with a `value` column.
    const JSON_ELEMENTS: &'static str;
    /// The inbox batch `$1`..`$8` (tenants, ids, sources, kinds, dedupe keys, entity keys,
    /// occurred at, payloads) as rows `a(tenant_id, id, source, kind, dedupe_key, entity_key,
    /// occurred_at, payload, n)`, `n` ascending in the batch's order.
    const ARRIVING_EVENTS: &'static str;
    /// Starts a transaction that reads before it writes. SQLite's default (deferred) transaction
    /// would fail with "database is locked" at its first write if another connection wrote since
    /// its first read; `begin immediate` takes the write lock up front and waits for it instead.
    const BEGIN_WRITE: &'static str;
    /// The first ready (tenant, lane) queues after a cursor, one index probe per queue: `$1` tenant
    /// and `$2` lane of the cursor, `$3` now, `$4` limit.
    const READY_QUEUES: &'static str;
    /// Whether the table of applied migrations exists: one row, `n` = 0 or 1.
    const HAS_MIGRATIONS_TABLE: &'static str;

    /// The migrations of this database's folder, embedded in the binary.
    fn migrator() -> &'static sqlx::migrate::Migrator;

    /// Applies the pending migrations.
    fn migrate(pool: &Pool<Self>) -> BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>>;

    fn fetch_all<'c, 'q: 'c>(
        query: Query<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> BoxFuture<'c, Result<Vec<Self::Row>, sqlx::Error>>;

    /// Runs the statement; how many rows it changed.
    fn execute<'c, 'q: 'c>(
        query: Query<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>>;

    /// The name the migrations gave the unique constraint a database error reports, if any.
    fn unique_constraint(err: &dyn sqlx::error::DatabaseError) -> Option<&'static str>;
}

/// The job queue's batch statements and wake-ups. The areas bind the same `Batch` columns on
/// both databases; Postgres reads them with `unnest` and claims with `skip locked`, SQLite reads
/// them by position and has one writer at a time, which makes each statement atomic.
#[async_trait]
pub trait Queue: Database {
    /// Inserts a batch of jobs: `$1`..`$9` the columns tenant, id, kind, payload, lane, priority,
    /// max attempts, run at and unique key; `$10` now. The open-duplicate clause follows.
    const ENQUEUE_BATCH: &'static str;
    /// The most jobs one `ENQUEUE_BATCH` takes; a larger batch is several, in one transaction.
    const ENQUEUE_ROWS: usize;
    /// Sets `locked_until` to `$4` on the jobs the leases hold (`$1`..`$3` tenants, job ids,
    /// lease ids); returns their `id`.
    const EXTEND_LEASES: &'static str;
    /// Deletes the jobs the leases (`$1`..`$3`) hold. Where `COUNT_DONE` is `None` it also adds
    /// them to `job_days` (day `$4`, shard `$5`) and returns one row, `n` the jobs deleted.
    const COMPLETE_JOBS: &'static str;
    /// Adds the jobs the leases hold to `job_days`, run before `COMPLETE_JOBS` in its transaction
    /// where that statement cannot count itself. Same binds.
    const COUNT_DONE: Option<&'static str>;
    /// Queues the jobs the leases (`$1`..`$3`) hold again at `$4`, the attempt not counted.
    const RELEASE_JOBS: &'static str;

    /// Marks up to a take of the ready jobs of each of `takes` queues running, returning their
    /// columns: `$1`..`$3` tenants, lanes and takes, `$4` now, `$5` worker, `$6` lease id, `$7`
    /// locked until.
    fn claim_jobs(takes: usize) -> String;

    /// How sleeping workers hear of new work.
    async fn job_wakeups(pool: &Pool<Self>) -> StoreResult<Box<dyn JobWakeups>>;
    /// Wakes this process's sleeping workers (SQLite); Postgres workers hear NOTIFY instead.
    fn wake_local_workers();
    /// A dead job was queued again. No insert fires the Postgres trigger, so notify explicitly.
    async fn notify_retry(pool: &Pool<Self>) -> StoreResult<()>;
}

/// The statement execution of `Backend`, for a database whose connections are sqlx executors.
macro_rules! sqlx_execution {
    () => {
        fn fetch_all<'c, 'q: 'c>(
            query: Query<'q, Self>,
            conn: &'c mut Self::Connection,
        ) -> BoxFuture<'c, Result<Vec<Self::Row>, sqlx::Error>> {
            Box::pin(query.fetch_all(conn))
        }

        fn execute<'c, 'q: 'c>(
            query: Query<'q, Self>,
            conn: &'c mut Self::Connection,
        ) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
            Box::pin(async move { Ok(query.execute(conn).await?.rows_affected()) })
        }
    };
}
pub(crate) use sqlx_execution;
