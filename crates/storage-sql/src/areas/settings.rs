use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::settings::VersionedSettings;
use dealbridge_core::TenantId;
use dealbridge_storage::{StoreError, StoreResult, TenantSettings, SETTINGS_SAVED_MEANWHILE};

use crate::backend::Backend;
use crate::values::Id;
use crate::SqlStore;

const NEWEST_FIRST: &str = "select version, body, saved_by, saved_at from tenant_settings
    where tenant_id = $1 order by version desc limit $2";

// The version check and insert are one statement; two saves that both pass the check collide on
// the primary key, which maps to the same Conflict as a stale version.
const SAVE: &str = "insert into tenant_settings (tenant_id, version, body, saved_by, saved_at)
    select $1, coalesce(max(version), 0) + 1, $2, $3, $4
    from tenant_settings where tenant_id = $1
    having coalesce(max(version), 0) = $5
    returning version, body, saved_by, saved_at";

fn settings_from_row<B: Backend>(row: &B::Row) -> StoreResult<VersionedSettings> {
    Ok(VersionedSettings {
        version: B::get(row, "version")?,
        body: B::get(row, "body")?,
        saved_by: B::get(row, "saved_by")?,
        saved_at: B::get(row, "saved_at")?,
    })
}

#[async_trait]
impl<B: Backend> TenantSettings for SqlStore<B> {
    async fn settings(&self, tenant_id: TenantId) -> StoreResult<Option<VersionedSettings>> {
        let mut newest = self.settings_history(tenant_id, 1).await?;
        Ok(newest.pop())
    }

    async fn save_settings(
        &self,
        tenant_id: TenantId,
        based_on: Option<i64>,
        body: &serde_json::Value,
        saved_by: Option<&str>,
    ) -> StoreResult<VersionedSettings> {
        let (tenant, now, based_on) = (Id(tenant_id.as_uuid()), Utc::now(), based_on.unwrap_or(0));
        let values = (tenant, body, saved_by, now, based_on);
        let saved = self
            .fetch_optional(SAVE, values, settings_from_row::<B>)
            .await?;
        saved.ok_or(StoreError::Conflict(SETTINGS_SAVED_MEANWHILE))
    }

    async fn settings_history(
        &self,
        tenant_id: TenantId,
        limit: u32,
    ) -> StoreResult<Vec<VersionedSettings>> {
        let values = (Id(tenant_id.as_uuid()), i64::from(limit));
        self.fetch_all(NEWEST_FIRST, values, settings_from_row::<B>)
            .await
    }
}
