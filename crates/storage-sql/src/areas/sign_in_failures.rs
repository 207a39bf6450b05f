use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{
    failure_window_from_columns, to_millis, FailureWindow, SignInFailures, StoreResult,
};

use crate::backend::Backend;
use crate::SqlStore;

// One statement, so failures racing on several instances each count.
const RECORD: &str = "insert into sign_in_failures as f (key, failures, window_ends_ms)
    values ($1, 1, $3)
    on conflict (key) do update set
        failures = case when f.window_ends_ms <= $2 then 1 else f.failures + 1 end,
        window_ends_ms = case when f.window_ends_ms <= $2 then $3 else f.window_ends_ms end
    returning failures, window_ends_ms";

fn window_from_row<B: Backend>(row: &B::Row) -> StoreResult<FailureWindow> {
    let (failures, ends) = (B::get(row, "failures")?, B::get(row, "window_ends_ms")?);
    Ok(failure_window_from_columns(failures, ends))
}

#[async_trait]
impl<B: Backend> SignInFailures for SqlStore<B> {
    async fn reserve_sign_in_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> StoreResult<FailureWindow> {
        let now_ms = to_millis(now);
        let forget = "delete from sign_in_failures where window_ends_ms <= $1";
        self.execute(forget, (now_ms,)).await?;
        let values = (key, now_ms, to_millis(now + window));
        self.fetch_one(RECORD, values, window_from_row::<B>).await
    }

    async fn sign_in_failures(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<FailureWindow>> {
        let statement = "select failures, window_ends_ms from sign_in_failures
            where key = $1 and window_ends_ms > $2";
        let values = (key, to_millis(now));
        self.fetch_optional(statement, values, window_from_row::<B>)
            .await
    }

    async fn clear_sign_in_failures(&self, key: &str) -> StoreResult<()> {
        let statement = "delete from sign_in_failures where key = $1";
        self.execute(statement, (key,)).await.map(drop)
    }
}
