use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::audit::{AuditEntry, NewAuditEntry};
use dealbridge_core::TenantId;
use dealbridge_storage::{AuditLog, StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row;
use uuid::Uuid;

use crate::{db_error, PgStore};

fn entry_from_row(row: &PgRow) -> StoreResult<AuditEntry> {
    let tenant_id: Option<Uuid> = row.try_get("tenant_id").map_err(StoreError::backend)?;
    let Json(detail) = row.try_get("detail").map_err(StoreError::backend)?;
    Ok(AuditEntry {
        id: row.try_get("id").map_err(StoreError::backend)?,
        tenant_id: tenant_id.map(TenantId::from_uuid),
        actor: row.try_get("actor").map_err(StoreError::backend)?,
        action: row.try_get("action").map_err(StoreError::backend)?,
        detail,
        created_at: row.try_get("created_at").map_err(StoreError::backend)?,
    })
}

/// Inside a caller's transaction or on a pooled connection.
pub(crate) async fn append_audit_in(
    conn: &mut sqlx::PgConnection,
    entry: &NewAuditEntry,
) -> StoreResult<AuditEntry> {
    let row = sqlx::query(
        "insert into audit_log (tenant_id, actor, action, detail, created_at)
         values ($1, $2, $3, $4, $5)
         returning id, tenant_id, actor, action, detail, created_at",
    )
    .bind(entry.tenant_id.map(|t| t.as_uuid()))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(Json(&entry.detail))
    .bind(Utc::now())
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| db_error(e, "tenant"))?;
    entry_from_row(&row)
}

#[async_trait]
impl AuditLog for PgStore {
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
             where tenant_id is not distinct from $1 order by id desc limit $2",
        )
        .bind(tenant_id.map(|t| t.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        rows.iter().map(entry_from_row).collect()
    }
}
