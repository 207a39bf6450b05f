use async_trait::async_trait;
use dealbridge_storage::{Maintenance, StoreError, StoreResult};

use crate::{SqliteStore, MIGRATOR};

#[async_trait]
impl Maintenance for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::backend)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(StoreError::backend)
    }

    async fn pending_migrations(&self) -> StoreResult<Vec<i64>> {
        let table: Option<String> = sqlx::query_scalar(
            "select name from sqlite_master where type = 'table' and name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        let applied: Vec<i64> = match table {
            Some(_) => sqlx::query_scalar("select version from _sqlx_migrations where success = 1")
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::backend)?,
            None => Vec::new(),
        };
        Ok(MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }
}
