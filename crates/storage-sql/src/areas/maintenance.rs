use async_trait::async_trait;
use dealbridge_storage::{Maintenance, StoreError, StoreResult};

use crate::backend::Backend;
use crate::SqlStore;

#[async_trait]
impl<B: Backend> Maintenance for SqlStore<B> {
    fn backend_name(&self) -> &'static str {
        B::BACKEND_NAME
    }

    async fn migrate(&self) -> StoreResult<()> {
        // On Postgres sqlx takes an advisory lock, so instances starting together migrate in turn.
        B::migrate(&self.pool).await.map_err(StoreError::backend)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.execute("select 1", ()).await.map(drop)
    }

    async fn pending_migrations(&self) -> StoreResult<Vec<i64>> {
        let present = |row: &B::Row| B::get(row, "present").map(|n: i64| n > 0);
        let mut applied = Vec::new();
        if self.fetch_one(B::HAS_MIGRATIONS_TABLE, (), present).await? {
            let statement = "select version from _sqlx_migrations where success";
            applied = self
                .fetch_all(statement, (), |row| B::get(row, "version"))
                .await?;
        }
        let known = B::migrator().iter().map(|m| m.version);
        Ok(known.filter(|v: &i64| !applied.contains(v)).collect())
    }
}
