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
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The Postgres store. Cheap to clone: it is a handle on a connection pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
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
            .connect_with(options.log_statements(tracing::log::LevelFilter::Debug))
            .await
            .map_err(StoreError::backend)?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
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
            Err(e) if is_duplicate_database(&e) => {}
            Err(e) => return Err(StoreError::backend(e)),
        }
    }
    admin.close().await.map_err(StoreError::backend)
}

fn is_duplicate_database(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|e| e.code()).as_deref() == Some("42P04")
}
