use async_trait::async_trait;
use dealbridge_storage::{Maintenance, StoreError, StoreResult};

use crate::backend::Backend;
use crate::statement::sql;
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
        sql::<B>("select 1")
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> StoreResult<Vec<i64>> {
        let mut conn = self.conn().await?;
        let table = sql::<B>(B::HAS_MIGRATIONS_TABLE)
            .fetch_one(&mut conn)
            .await?;
        let present: i64 = B::get(&table, "present")?;
        let applied: Vec<i64> = if present > 0 {
            let rows = sql::<B>("select version from _sqlx_migrations where success")
                .fetch_all(&mut conn)
                .await?;
            rows.iter()
                .map(|row| B::get(row, "version"))
                .collect::<StoreResult<_>>()?
        } else {
            Vec::new()
        };
        Ok(B::migrator()
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }
}
