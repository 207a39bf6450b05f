#![doc = include_str!("../README.md")]

mod audit;
mod budgets;
mod install;
mod installations;
mod jobs;
mod maintenance;
mod queue_overview;
mod retention;
mod session_epochs;
mod settings;
mod sign_in_failures;
mod staff;
mod tenant_directory;
mod tenants;
mod tokens;

use std::str::FromStr;
use std::time::Duration;

use dealbridge_storage::{StoreError, StoreResult};

use dealbridge_storage::sqlx_error as db_error;
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

fn parse_uuid(text: &str) -> StoreResult<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("uuid column: {e}")))
}
