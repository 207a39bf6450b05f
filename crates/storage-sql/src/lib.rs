#![doc = include_str!("../README.md")]

mod areas;
mod backend;
mod statement;
pub mod values;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use dealbridge_storage::{StoreError, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::Pool;

#[doc(hidden)]
pub use areas::budgets::take_slots_sql;
pub use backend::{Backend, Bind, Get, Queue};
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// The store on database `B`. Cheap to clone: it is a handle on a connection pool. Every area of
/// the `Store` contract is implemented once, for any `Backend`.
#[derive(Debug)]
pub struct SqlStore<B: Backend> {
    pool: Pool<B>,
}

impl<B: Backend> Clone for SqlStore<B> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<B: Backend> SqlStore<B> {
    pub fn pool(&self) -> &Pool<B> {
        &self.pool
    }

    async fn conn(&self) -> StoreResult<PoolConnection<B>> {
        self.pool.acquire().await.map_err(StoreError::backend)
    }

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, B>> {
        self.pool.begin().await.map_err(StoreError::backend)
    }

    /// A transaction that reads, then writes what it read decides (see `Backend::BEGIN_WRITE`).
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, B>> {
        self.pool
            .begin_with(B::BEGIN_WRITE)
            .await
            .map_err(StoreError::backend)
    }
}

async fn commit<B: Backend>(tx: sqlx::Transaction<'_, B>) -> StoreResult<()> {
    tx.commit().await.map_err(StoreError::backend)
}
