use async_trait::async_trait;
use dealbridge_storage::{SessionEpochs, StoreResult};

use crate::backend::Backend;
use crate::SqlStore;

// One statement, so racing bumps each count.
const BUMP: &str = "insert into session_epochs (subject, epoch) values ($1, 1)
    on conflict (subject) do update set epoch = session_epochs.epoch + 1
    returning epoch";

fn epoch<B: Backend>(row: &B::Row) -> StoreResult<i64> {
    B::get(row, "epoch")
}

#[async_trait]
impl<B: Backend> SessionEpochs for SqlStore<B> {
    async fn session_epoch(&self, subject: &str) -> StoreResult<i64> {
        let statement = "select epoch from session_epochs where subject = $1";
        let epoch = self
            .fetch_optional(statement, (subject,), epoch::<B>)
            .await?;
        Ok(epoch.unwrap_or(0))
    }

    async fn bump_session_epoch(&self, subject: &str) -> StoreResult<i64> {
        self.fetch_one(BUMP, (subject,), epoch::<B>).await
    }
}
