//! Runs the store conformance suite against both backends: SQLite on one fresh database file per
//! check, and Postgres when `TEST_POSTGRES_URL` is set, one schema per check (dropped when the
//! check passes, kept for inspection when it fails).

use std::str::FromStr;
use std::sync::Arc;

use dealbridge_storage::conformance::{trials, TestStore};
use dealbridge_storage::Maintenance;
use dealbridge_storage_sql::{PgStore, SqliteStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

const URL_VAR: &str = "TEST_POSTGRES_URL";

async fn fresh_sqlite() -> anyhow::Result<TestStore> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = SqliteStore::connect(&url, 4).await?;
    store.migrate().await?;
    Ok(TestStore {
        store: Arc::new(store),
        // Keeping the TempDir alive until the check passed; dropping it removes the file.
        cleanup: Some(Box::pin(async move { drop(dir) })),
    })
}

async fn fresh_postgres() -> anyhow::Result<TestStore> {
    let url = std::env::var(URL_VAR)?;
    let schema = format!("conformance_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(&url)?;
    let mut admin = sqlx::PgConnection::connect_with(&base).await?;
    admin
        .execute(format!("create schema {schema}").as_str())
        .await?;
    admin.close().await?;

    let options = base.clone().options([("search_path", schema.as_str())]);
    let store = PgStore::connect_with(options, 4).await?;
    store.migrate().await?;
    let cleanup = async move {
        if let Ok(mut admin) = sqlx::PgConnection::connect_with(&base).await {
            let _ = admin
                .execute(format!("drop schema {schema} cascade").as_str())
                .await;
        }
    };
    Ok(TestStore {
        store: Arc::new(store),
        cleanup: Some(Box::pin(cleanup)),
    })
}

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let unavailable = std::env::var(URL_VAR).is_err().then_some(
        "TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)",
    );
    let mut all = trials("sqlite", fresh_sqlite, None);
    all.extend(trials("postgres", fresh_postgres, unavailable));
    libtest_mimic::run(&args, all).exit();
}
