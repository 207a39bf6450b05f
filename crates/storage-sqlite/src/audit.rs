use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::audit::{AuditEntry, NewAuditEntry};
use dealbridge_core::TenantId;
use dealbridge_storage::{AuditLog, StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{db_error, parse_uuid, SqliteStore};

fn entry_from_row(row: &SqliteRow) -> StoreResult<AuditEntry> {
    let tenant_id: Option<String> = row.try_get("tenant_id").map_err(StoreError::backend)?;
    let detail: String = row.try_get("detail").map_err(StoreError::backend)?;
    Ok(AuditEntry {
        id: row.try_get("id").map_err(StoreError::backend)?,
        tenant_id: tenant_id
            .as_deref()
            .map(parse_uuid)
            .transpose()?
            .map(TenantId::from_uuid),
        actor: row.try_get("actor").map_err(StoreError::backend)?,
        action: row.try_get("action").map_err(StoreError::backend)?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
        created_at: row.try_get("created_at").map_err(StoreError::backend)?,
    })
}

/// Inside a caller's transaction or on a pooled connection.
pub(crate) async fn append_audit_in(
    conn: &mut sqlx::SqliteConnection,
    entry: &NewAuditEntry,
) -> StoreResult<AuditEntry> {
    let row = sqlx::query(
        "insert into audit_log (tenant_id, actor, action, detail, created_at)
         values (?, ?, ?, ?, ?)
         returning id, tenant_id, actor, action, detail, created_at",
    )
    .bind(entry.tenant_id.map(|t| t.to_string()))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(entry.detail.to_string())
    .bind(Utc::now())
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| db_error(e, "tenant"))?;
    entry_from_row(&row)
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
        append_audit_in(&mut conn, entry).await
    }

    async fn audit_log(
        &self,
        tenant_id: Option<TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "select id, tenant_id, actor, action, detail, created_at from audit_log
             where tenant_id is ? order by id desc limit ?",
        )
        .bind(tenant_id.map(|t| t.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        rows.iter().map(entry_from_row).collect()
    }
}
