use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::audit::{AuditEntry, NewAuditEntry};
use dealbridge_core::TenantId;
use dealbridge_storage::{AuditLog, StoreResult};

use crate::backend::Backend;
use crate::statement::sql;
use crate::values::Id;
use crate::SqlStore;

const APPEND: &str = "insert into audit_log (tenant_id, actor, action, detail, created_at)
    values ($1, $2, $3, $4, $5) returning id, tenant_id, actor, action, detail, created_at";

const LOG: &str = "select id, tenant_id, actor, action, detail, created_at from audit_log
    where tenant_id is not distinct from $1 order by id desc limit $2";

fn entry_from_row<B: Backend>(row: &B::Row) -> StoreResult<AuditEntry> {
    let tenant_id: Option<Id> = B::get(row, "tenant_id")?;
    Ok(AuditEntry {
        id: B::get(row, "id")?,
        tenant_id: tenant_id.map(|t| TenantId::from_uuid(t.0)),
        actor: B::get(row, "actor")?,
        action: B::get(row, "action")?,
        detail: B::get(row, "detail")?,
        created_at: B::get(row, "created_at")?,
    })
}

fn tenant_column(tenant_id: Option<TenantId>) -> Option<Id> {
    tenant_id.map(|t| Id(t.as_uuid()))
}

/// Inside a caller's transaction or on a pooled connection.
pub(super) async fn append_audit_in<B: Backend>(
    conn: &mut B::Connection,
    entry: &NewAuditEntry,
) -> StoreResult<AuditEntry> {
    let (tenant, now) = (tenant_column(entry.tenant_id), Utc::now());
    let values = (tenant, &entry.actor, &entry.action, &entry.detail, now);
    entry_from_row::<B>(&sql::<B>(APPEND).binds(values).fetch_one(conn).await?)
}

#[async_trait]
impl<B: Backend> AuditLog for SqlStore<B> {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        append_audit_in::<B>(&mut *self.conn().await?, entry).await
    }

    async fn audit_log(
        &self,
        tenant_id: Option<TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let values = (tenant_column(tenant_id), i64::from(limit));
        self.fetch_all(LOG, values, entry_from_row::<B>).await
    }
}
