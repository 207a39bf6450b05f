//! Opens the store named by `DATABASE_URL`: Postgres in production, SQLite by default.

use std::sync::Arc;

use anyhow::Context;
use dealbridge_storage::Store;
use dealbridge_storage_sql::{PgStore, SqliteStore};
use secrecy::ExposeSecret;

use crate::settings::{DatabaseKind, Settings};

/// Connects (creating the SQLite file or the Postgres database when missing) and migrates.
pub async fn open(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let url = settings.database_url.expose_secret();
    let max = settings.database_max_connections;
    let store: Arc<dyn Store> = match settings.database_kind {
        DatabaseKind::Sqlite => Arc::new(
            SqliteStore::connect(url, max)
                .await
                .context("opening the SQLite database")?,
        ),
        DatabaseKind::Postgres => Arc::new(
            PgStore::connect(url, max)
                .await
                .context("connecting to Postgres")?,
        ),
    };
    store.migrate().await.context("running migrations")?;
    tracing::info!(store = store.backend_name(), "store ready");
    Ok(store)
}

/// `dealbridge migrate`.
pub async fn migrate_only(settings: &Settings) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let pending = store.pending_migrations().await?;
    anyhow::ensure!(pending.is_empty(), "migrations still pending: {pending:?}");
    println!("migrations are current ({})", store.backend_name());
    Ok(())
}
