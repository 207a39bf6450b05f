use async_trait::async_trait;
use dealbridge_storage::{Maintenance, StoreError, StoreResult};

use crate::backend::Backend;
use crate::statement::count;
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
        let mut applied = Vec::new();
        if self
            .fetch_one(B::HAS_MIGRATIONS_TABLE, (), count::<B>)
            .await?
            > 0
        {
            let statement = "select version from _sqlx_migrations where success";
            applied = self
                .fetch_all(statement, (), |row| B::get(row, "version"))
                .await?;
        }
        let known = B::migrator().iter().map(|m| m.version);
        Ok(known.filter(|v: &i64| !applied.contains(v)).collect())
    }
}
