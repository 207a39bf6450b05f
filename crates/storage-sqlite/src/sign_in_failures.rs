use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{
    read_failure_window, to_millis, FailureWindow, SignInFailures, StoreError, StoreResult,
};

use crate::SqliteStore;

#[async_trait]
impl SignInFailures for SqliteStore {
    async fn reserve_sign_in_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> StoreResult<FailureWindow> {
        let now_ms = to_millis(now);
        sqlx::query("delete from sign_in_failures where window_ends_ms <= ?1")
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        // One statement, so failures racing on several instances each count.
        let row = sqlx::query(
            "insert into sign_in_failures (key, failures, window_ends_ms) values (?1, 1, ?3)
             on conflict (key) do update set
                 failures = case when window_ends_ms <= ?2 then 1 else failures + 1 end,
                 window_ends_ms = case when window_ends_ms <= ?2 then ?3 else window_ends_ms end
             returning failures, window_ends_ms",
        )
        .bind(key)
        .bind(now_ms)
        .bind(to_millis(now + window))
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        read_failure_window(&row)
    }

    async fn sign_in_failures(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<FailureWindow>> {
        let row = sqlx::query(
            "select failures, window_ends_ms from sign_in_failures
             where key = ?1 and window_ends_ms > ?2",
        )
        .bind(key)
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        row.as_ref().map(read_failure_window).transpose()
    }

    async fn clear_sign_in_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("delete from sign_in_failures where key = ?1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }
}
