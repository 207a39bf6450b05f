use async_trait::async_trait;
use dealbridge_storage::{
    like_pattern, JobCounts, StoreError, StoreResult, TenantDirectory, TenantListQuery,
    TenantSummary,
};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::tenants::tenant_from_row;
use crate::SqliteStore;

// Counts come from correlated subqueries: each walks one tenant's rows through the primary keys,
// so a page costs the same however many tenants exist.
const SELECT: &str = "select t.id, t.company_id, t.company_name, t.company_domain, t.status,
        t.created_at, t.updated_at,
        (select count(*) from installations i
          where i.tenant_id = t.id and i.status = 'active') as active_installations,
        (select count(*) from installations i
          where i.tenant_id = t.id and i.status = 'needs_reauth') as needs_reauth_installations,
        (select count(*) from jobs j where j.tenant_id = t.id and j.state = 'queued') as jobs_queued,
        (select count(*) from jobs j where j.tenant_id = t.id and j.state = 'running') as jobs_running,
        (select count(*) from jobs j where j.tenant_id = t.id and j.state = 'dead') as jobs_dead
    from tenants t
    where t.company_id > ?";

fn count(row: &SqliteRow, column: &str) -> StoreResult<u64> {
    let n: i64 = row.try_get(column).map_err(StoreError::backend)?;
    Ok(u64::try_from(n).unwrap_or_default())
}

fn summary_from_row(row: &SqliteRow) -> StoreResult<TenantSummary> {
    Ok(TenantSummary {
        tenant: tenant_from_row(row)?,
        active_installations: count(row, "active_installations")?,
        needs_reauth_installations: count(row, "needs_reauth_installations")?,
        jobs: JobCounts {
            queued: count(row, "jobs_queued")?,
            running: count(row, "jobs_running")?,
            dead: count(row, "jobs_dead")?,
        },
    })
}

#[async_trait]
impl TenantDirectory for SqliteStore {
    async fn list_tenants(&self, query: &TenantListQuery) -> StoreResult<Vec<TenantSummary>> {
        let after = query.after.map_or(i64::MIN, |c| c.get());
        let search = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        // SQLite's LIKE ignores ASCII case; lower() on both sides covers the rest.
        let sql = match search {
            Some(_) => format!(
                "{SELECT} and (lower(t.company_name) like lower(?) escape '\\'
                     or lower(t.company_domain) like lower(?) escape '\\')
                 order by t.company_id limit ?"
            ),
            None => format!("{SELECT} order by t.company_id limit ?"),
        };
        let mut statement = sqlx::query(&sql).bind(after);
        if let Some(search) = search {
            let pattern = like_pattern(search);
            statement = statement.bind(pattern.clone()).bind(pattern);
        }
        let rows = statement
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        rows.iter().map(summary_from_row).collect()
    }
}
