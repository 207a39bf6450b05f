use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{
    like_pattern, BudgetUse, JobCounts, StoreResult, TenantDirectory, TenantListQuery, TenantState,
    TenantSummary, LIST_COUNT_CAP,
};

use super::tenants::tenant_from_row;
use crate::backend::Backend;
use crate::values::QueueTime;
use crate::SqlStore;

// Counts come from correlated subqueries: each walks one tenant's rows through a (partial) index,
// so a page costs the same however many tenants exist. The job counts that can grow without bound
// read at most `$5` rows each (`LIST_COUNT_CAP + 1`): a tenant with a million queued jobs costs no more
// than one with a thousand. The budget is the shared ledger's row, joined rather than read per
// tenant. The search lowers both sides (SQLite's LIKE ignores ASCII case only) and escapes with
// the backslash `like_pattern` uses.
const SELECT: &str = "select t.id, t.company_id, t.company_name, t.company_domain, t.status,
        t.created_at, t.updated_at,
        (select count(*) from installations i
          where i.tenant_id = t.id and i.status = 'active') as active_installations,
        (select count(*) from installations i
          where i.tenant_id = t.id and i.status = 'needs_reauth') as needs_reauth_installations,
        (select count(*) from (select 1 from jobs j
          where j.tenant_id = t.id and j.state = 'queued' limit $5) q) as jobs_queued,
        (select count(*) from (select 1 from jobs j
          where j.tenant_id = t.id and j.state = 'running' limit $5) r) as jobs_running,
        (select count(*) from (select 1 from jobs j
          where j.tenant_id = t.id and j.state = 'dead' limit $5) d) as jobs_dead,
        (select count(*) from (select 1 from jobs j
          where j.tenant_id = t.id and j.state = 'dead' and j.updated_at >= $6 limit $5) dd)
          as dead_since,
        (select count(*) from (select 1 from jobs j
          where j.tenant_id = t.id and j.state = 'queued' and j.last_error is not null
            and j.updated_at >= $6 limit $5) f) as failing_since,
        b.spent as budget_spent, b.daily_limit as budget_daily_limit,
        b.learned_limit as budget_learned_limit, b.period_end_ms as budget_period_end_ms,
        b.exhausted_until_ms as budget_exhausted_until_ms
    from tenants t
    left join budget_companies b on b.company_id = t.company_id
    where t.company_id > $1
      and ($2 is null or lower(t.company_name) like lower($2) escape '\\'
           or lower(t.company_domain) like lower($2) escape '\\')
      and ($4 is null
           or ($4 = 'uninstalled' and t.status = 'uninstalled')
           or ($4 = 'needs_reauth' and t.status <> 'uninstalled'
               and exists (select 1 from installations i
                           where i.tenant_id = t.id and i.status = 'needs_reauth'))
           or ($4 in ('active', 'paused') and t.status = $4
               and not exists (select 1 from installations i
                               where i.tenant_id = t.id and i.status = 'needs_reauth')))
    order by t.company_id
    limit $3";

/// The filter as the statement compares it (`$4`).
fn state_column(state: TenantState) -> &'static str {
    match state {
        TenantState::Active => "active",
        TenantState::NeedsReauth => "needs_reauth",
        TenantState::Paused => "paused",
        TenantState::Uninstalled => "uninstalled",
    }
}

fn budget_from_row<B: Backend>(row: &B::Row, now_ms: i64) -> StoreResult<Option<BudgetUse>> {
    let spent: Option<i64> = B::get(row, "budget_spent")?;
    let Some(spent) = spent else { return Ok(None) };
    let period_end_ms: i64 = B::get(row, "budget_period_end_ms")?;
    let configured: Option<i64> = B::get(row, "budget_daily_limit")?;
    let learned: Option<i64> = B::get(row, "budget_learned_limit")?;
    let exhausted: Option<i64> = B::get(row, "budget_exhausted_until_ms")?;
    // A period that has ended is a new day nobody has spent from yet.
    let current = period_end_ms > now_ms;
    Ok(Some(BudgetUse {
        spent: if current {
            u64::try_from(spent).unwrap_or_default()
        } else {
            0
        },
        daily_limit: configured.or(learned).and_then(|l| u64::try_from(l).ok()),
        exhausted_until: exhausted
            .filter(|_| current)
            .and_then(DateTime::<Utc>::from_timestamp_millis),
    }))
}

fn summary_from_row<B: Backend>(row: &B::Row, now_ms: i64) -> StoreResult<TenantSummary> {
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
        errors_24h: (count("dead_since")? + count("failing_since")?).min(LIST_COUNT_CAP + 1),
        budget: budget_from_row::<B>(row, now_ms)?,
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
        let cap = i64::try_from(LIST_COUNT_CAP + 1).unwrap_or(i64::MAX);
        let since = QueueTime(query.now - chrono::Duration::hours(24));
        let values = (
            after,
            &pattern,
            i64::from(query.limit),
            query.state.map(state_column),
            cap,
            since,
        );
        let now_ms = query.now.timestamp_millis();
        self.fetch_all(SELECT, values, |row| summary_from_row::<B>(row, now_ms))
            .await
    }
}
