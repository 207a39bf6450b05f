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
        let present: i64 = B::get(
            &self.fetch_one(B::HAS_MIGRATIONS_TABLE, ()).await?,
            "present",
        )?;
        let mut applied = Vec::new();
        if present > 0 {
            let statement = "select version from _sqlx_migrations where success";
            for row in self.fetch_all(statement, ()).await? {
                applied.push(B::get(&row, "version")?);
            }
        }
        let known = B::migrator().iter().map(|m| m.version);
        Ok(known.filter(|v: &i64| !applied.contains(v)).collect())
    }
}
