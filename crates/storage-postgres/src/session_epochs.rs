use async_trait::async_trait;
use dealbridge_storage::{SessionEpochs, StoreError, StoreResult};

use crate::PgStore;

// Written with `$N` placeholders and no dialect-specific syntax: the same statements run on both
// backends.
#[async_trait]
impl SessionEpochs for PgStore {
    async fn session_epoch(&self, subject: &str) -> StoreResult<i64> {
        let epoch: Option<i64> =
            sqlx::query_scalar("select epoch from session_epochs where subject = $1")
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        Ok(epoch.unwrap_or(0))
    }

    async fn bump_session_epoch(&self, subject: &str) -> StoreResult<i64> {
        sqlx::query_scalar(
            "insert into session_epochs (subject, epoch) values ($1, 1)
             on conflict (subject) do update set epoch = session_epochs.epoch + 1
             returning epoch",
        )
        .bind(subject)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::backend)
    }
}
