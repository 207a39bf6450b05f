use async_trait::async_trait;
use dealbridge_storage::{
    like_pattern, JobCounts, StoreResult, TenantDirectory, TenantListQuery, TenantSummary,
};

use super::tenants::tenant_from_row;
use crate::backend::Backend;
use crate::SqlStore;

// Counts come from correlated subqueries: each walks one tenant's rows through the primary keys,
// so a page costs the same however many tenants exist. The search lowers both sides (SQLite's
// LIKE ignores ASCII case only) and escapes with the backslash `like_pattern` uses.
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
    where t.company_id > $1
      and ($2 is null or lower(t.company_name) like lower($2) escape '\\'
           or lower(t.company_domain) like lower($2) escape '\\')
    order by t.company_id
    limit $3";

fn summary_from_row<B: Backend>(row: &B::Row) -> StoreResult<TenantSummary> {
    let count = |column: &str| -> StoreResult<u64> {
        let n: i64 = B::get(row, column)?;
        Ok(u64::try_from(n).unwrap_or_default())
    };
    Ok(TenantSummary {
        tenant: tenant_from_row::<B>(row)?,
        active_installations: count("active_installations")?,
        needs_reauth_installations: count("needs_reauth_installations")?,
        jobs: JobCounts {
            queued: count("jobs_queued")?,
            running: count("jobs_running")?,
            dead: count("jobs_dead")?,
        },
    })
}

#[async_trait]
impl<B: Backend> TenantDirectory for SqlStore<B> {
    async fn list_tenants(&self, query: &TenantListQuery) -> StoreResult<Vec<TenantSummary>> {
        let pattern = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(like_pattern);
        let after = query.after.map_or(i64::MIN, |c| c.get());
        let values = (after, &pattern, i64::from(query.limit));
        self.fetch_all(SELECT, values, summary_from_row::<B>).await
    }
}
