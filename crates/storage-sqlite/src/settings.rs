use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::settings::VersionedSettings;
use dealbridge_core::TenantId;
use dealbridge_storage::{StoreError, StoreResult, TenantSettings};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{db_error, SqliteStore};

fn settings_from_row(row: &SqliteRow) -> StoreResult<VersionedSettings> {
    let body: String = row.try_get("body").map_err(StoreError::backend)?;
    Ok(VersionedSettings {
        version: row.try_get("version").map_err(StoreError::backend)?,
        body: serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("settings body: {e}")))?,
        saved_by: row.try_get("saved_by").map_err(StoreError::backend)?,
        saved_at: row.try_get("saved_at").map_err(StoreError::backend)?,
    })
}

#[async_trait]
impl TenantSettings for SqliteStore {
    async fn settings(&self, tenant_id: TenantId) -> StoreResult<Option<VersionedSettings>> {
        let row = sqlx::query(
            "select version, body, saved_by, saved_at from tenant_settings
             where tenant_id = ? order by version desc limit 1",
        )
        .bind(tenant_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        row.as_ref().map(settings_from_row).transpose()
    }

    async fn save_settings(
        &self,
        tenant_id: TenantId,
        based_on: Option<i64>,
        body: &serde_json::Value,
        saved_by: Option<&str>,
    ) -> StoreResult<VersionedSettings> {
        // One statement, so the version check and the insert cannot interleave with another save.
        let row = sqlx::query(
            "insert into tenant_settings (tenant_id, version, body, saved_by, saved_at)
             select ?1, coalesce(max(version), 0) + 1, ?2, ?3, ?4
             from tenant_settings where tenant_id = ?1
             having coalesce(max(version), 0) = ?5
             returning version, body, saved_by, saved_at",
        )
        .bind(tenant_id.to_string())
        .bind(body.to_string())
        .bind(saved_by)
        .bind(Utc::now())
        .bind(based_on.unwrap_or(0))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "tenant"))?;
        match row {
            Some(row) => settings_from_row(&row),
            None => Err(StoreError::Conflict(
                "settings were saved by someone else meanwhile",
            )),
        }
    }

    async fn settings_history(
        &self,
        tenant_id: TenantId,
        limit: u32,
    ) -> StoreResult<Vec<VersionedSettings>> {
        let rows = sqlx::query(
            "select version, body, saved_by, saved_at from tenant_settings
             where tenant_id = ? order by version desc limit ?",
        )
        .bind(tenant_id.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        rows.iter().map(settings_from_row).collect()
    }
}
