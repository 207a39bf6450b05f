//! Runs the store conformance suite against SQLite, one fresh database file per check.

use std::sync::Arc;

use dealbridge_storage::conformance::{trials, TestStore};
use dealbridge_storage::Maintenance;
use dealbridge_storage_sqlite::SqliteStore;

async fn fresh_store() -> anyhow::Result<TestStore> {
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

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    libtest_mimic::run(&args, trials("sqlite", fresh_store, None)).exit();
}
