//! Runs the store conformance suite against Postgres when `TEST_POSTGRES_URL` is set; each check
//! gets its own schema (dropped when the check passes, kept for inspection when it fails).

use std::str::FromStr;
use std::sync::Arc;

use dealbridge_storage::conformance::{trials, TestStore};
use dealbridge_storage::Maintenance;
use dealbridge_storage_postgres::PgStore;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

const URL_VAR: &str = "TEST_POSTGRES_URL";

async fn fresh_store() -> anyhow::Result<TestStore> {
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
    libtest_mimic::run(&args, trials("postgres", fresh_store, unavailable)).exit();
}
