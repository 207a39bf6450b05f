#![doc = include_str!("../README.md")]

mod audit;
mod installations;
mod maintenance;
mod settings;
mod tenants;

use std::str::FromStr;
use std::time::Duration;

use dealbridge_storage::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The SQLite store. Cheap to clone: it is a handle on a connection pool.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url`, e.g. `sqlite://data/dealbridge.db`.
    /// Does not migrate; call `Maintenance::migrate`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(StoreError::backend)?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(StoreError::backend)?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Turns a driver error into the store's error, naming the constraint cases callers act on.
fn db_error(err: sqlx::Error, on_foreign_key: &'static str) -> StoreError {
    if let Some(db) = err.as_database_error() {
        match db.kind() {
            sqlx::error::ErrorKind::ForeignKeyViolation => return StoreError::NotFound(on_foreign_key),
            sqlx::error::ErrorKind::UniqueViolation => {
                return StoreError::Conflict("a concurrent write won")
            }
            _ => {}
        }
    }
    StoreError::backend(err)
}

fn parse_uuid(text: &str) -> StoreResult<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("uuid column: {e}")))
}
