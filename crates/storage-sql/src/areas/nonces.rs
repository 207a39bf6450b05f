//! One-time nonces: each is accepted once until it expires.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{OneTimeNonces, StoreResult};

use crate::backend::Backend;
use crate::SqlStore;

#[async_trait]
impl<B: Backend> OneTimeNonces for SqlStore<B> {
    async fn consume_nonce(
        &self,
        purpose: &str,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // Forget expired entries as we go; the table stays as small as the live nonces.
        let forget = "delete from used_nonces where expires_at < $1";
        self.execute(forget, (Utc::now(),)).await?;
        let record = "insert into used_nonces (purpose, nonce, expires_at) values ($1, $2, $3)
            on conflict (purpose, nonce) do nothing";
        Ok(self.execute(record, (purpose, nonce, expires_at)).await? == 1)
    }
}
