use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::audit::{AuditEntry, NewAuditEntry};
use dealbridge_core::TenantId;
use dealbridge_storage::{prefix_pattern, AuditLog, AuditQuery, StoreResult};

use crate::backend::Backend;
use crate::statement::sql;
use crate::values::Id;
use crate::SqlStore;

const APPEND: &str = "insert into audit_log (tenant_id, actor, action, detail, created_at)
    values ($1, $2, $3, $4, $5) returning id, tenant_id, actor, action, detail, created_at";

const LOG: &str = "select id, tenant_id, actor, action, detail, created_at from audit_log
    where tenant_id is not distinct from $1 order by id desc limit $2";

// Each filter is skipped when its value is null (the dates when open, by bounds no entry passes);
// the id cursor walks the primary key backwards.
// The action prefix is compared lowered, as SQLite's LIKE ignores ASCII case and Postgres's does not.
const SEARCH: &str = "select id, tenant_id, actor, action, detail, created_at from audit_log
    where ($1 is null or id < $1)
      and ($2 is null or tenant_id = $2)
      and ($3 is null or actor = $3)
      and ($4 is null or lower(action) like lower($4) escape '\\')
      and created_at >= $5 and created_at < $6
    order by id desc limit $7";

/// An open end of the date range: a year every timestamp format of both backends still orders
/// correctly as text.
fn far_future() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(super) fn entry_from_row<B: Backend>(row: &B::Row) -> StoreResult<AuditEntry> {
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

    async fn search_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let action = query.action_prefix.as_deref().map(prefix_pattern);
        let values = (
            query.before,
            tenant_column(query.tenant_id),
            &query.actor,
            &action,
            query.from.unwrap_or(DateTime::UNIX_EPOCH),
            query.until.unwrap_or_else(far_future),
            i64::from(query.limit),
        );
        self.fetch_all(SEARCH, values, entry_from_row::<B>).await
    }
}
