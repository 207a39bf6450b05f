//! Budget ledger state. Every write is one statement: the daily take is a conditional upsert,
//! slot leases lock free slots with `for update skip locked`, so instances never wait on each
//! other's rows and can never both take the same slot or the same tokens.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::CompanyId;
use dealbridge_storage::{
    read_budget_columns, read_budget_figures, rolled_budget, to_millis, BudgetFigures, Budgets,
    DailyBudget, SlotRelease, SlotTake, SlotsTaken, StoreError, StoreResult, TokenTake, WindowKey,
};
use sqlx::Row;

use crate::PgStore;

/// Spent and exhausted-until as of `$2` (now): a period that ended counts as empty.
const SPENT: &str = "(case when b.period_end_ms <= $2 then 0 else b.spent end)";
const EXHAUSTED: &str = "(case when b.period_end_ms <= $2 then null else b.exhausted_until_ms end)";

/// `$4` min, `$5` max, `$6` bulk, `$7` reserve in basis points.
static TAKE_SQL: LazyLock<String> = LazyLock::new(|| {
    let reference = "coalesce(b.daily_limit, b.learned_limit)";
    let room = format!(
        "least(coalesce(b.daily_limit - {SPENT}, $5),
               case when $6 and {reference} is not null
                    then {reference} - ({reference} * $7 + 9999) / 10000 - {SPENT}
                    else $5 end)"
    );
    let granted = format!(
        "(case when coalesce({EXHAUSTED}, 0) > $2 then 0
               when {room} >= $4 then least($5, {room})
               else 0 end)"
    );
    format!(
        "insert into budget_companies as b (company_id, spent, period_end_ms, last_take)
         values ($1, $5, $3, $5)
         on conflict (company_id) do update set
             spent = {SPENT} + {granted},
             last_take = {granted},
             exhausted_until_ms = {EXHAUSTED},
             period_end_ms = case when b.period_end_ms <= $2 then $3 else b.period_end_ms end
         returning last_take, daily_limit, learned_limit, spent, period_end_ms, exhausted_until_ms"
    )
});

static SET_LIMIT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into budget_companies as b (company_id, daily_limit, period_end_ms)
         values ($1, $4, $3)
         on conflict (company_id) do update set
             daily_limit = $4,
             spent = {SPENT},
             exhausted_until_ms = {EXHAUSTED},
             period_end_ms = case when b.period_end_ms <= $2 then $3 else b.period_end_ms end"
    )
});

static EXHAUST_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into budget_companies as b (company_id, period_end_ms, exhausted_until_ms)
         values ($1, $3, $4)
         on conflict (company_id) do update set
             learned_limit = case when b.daily_limit is null
                                  then greatest(coalesce(b.learned_limit, 0), {SPENT})
                                  else b.learned_limit end,
             spent = {SPENT},
             exhausted_until_ms = $4,
             period_end_ms = case when b.period_end_ms <= $2 then $3 else b.period_end_ms end
         returning 0::bigint as last_take, daily_limit, learned_limit, spent, period_end_ms,
                   exhausted_until_ms"
    )
});

fn ids(key: &WindowKey) -> (i64, i64, &'static str) {
    (key.company_id.get(), key.user_id.get(), key.kind.as_str())
}

#[async_trait]
impl Budgets for PgStore {
    async fn budget_take_tokens(&self, take: &TokenTake) -> StoreResult<(i64, DailyBudget)> {
        let row = sqlx::query(TAKE_SQL.as_str())
            .bind(take.company_id.get())
            .bind(to_millis(take.now))
            .bind(to_millis(take.period_end))
            .bind(take.min)
            .bind(take.max)
            .bind(take.bulk)
            .bind(take.reserve_bp)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        let taken: i64 = row.try_get("last_take").map_err(StoreError::backend)?;
        let budget = rolled_budget(read_budget_columns(&row)?, take.now, take.period_end);
        Ok((taken, budget))
    }

    async fn budget_return_tokens(
        &self,
        company_id: CompanyId,
        period_end: DateTime<Utc>,
        tokens: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "update budget_companies set spent = greatest(spent - $3, 0)
             where company_id = $1 and period_end_ms = $2",
        )
        .bind(company_id.get())
        .bind(to_millis(period_end))
        .bind(tokens)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn budget_set_limit(
        &self,
        company_id: CompanyId,
        limit: Option<i64>,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(SET_LIMIT_SQL.as_str())
            .bind(company_id.get())
            .bind(to_millis(now))
            .bind(to_millis(period_end))
            .bind(limit)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn budget_mark_exhausted(
        &self,
        company_id: CompanyId,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<DailyBudget> {
        let row = sqlx::query(EXHAUST_SQL.as_str())
            .bind(company_id.get())
            .bind(to_millis(now))
            .bind(to_millis(period_end))
            .bind(to_millis(until))
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(rolled_budget(read_budget_columns(&row)?, now, period_end))
    }

    async fn budget_daily(
        &self,
        company_id: CompanyId,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> StoreResult<DailyBudget> {
        let row = sqlx::query(
            "select daily_limit, learned_limit, spent, period_end_ms, exhausted_until_ms
             from budget_companies where company_id = $1",
        )
        .bind(company_id.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        let columns = match row {
            Some(row) => read_budget_columns(&row)?,
            None => (None, None, 0, 0, None),
        };
        Ok(rolled_budget(columns, now, period_end))
    }

    async fn budget_ensure_window(&self, key: WindowKey, size: i32) -> StoreResult<()> {
        let (company, user, kind) = ids(&key);
        sqlx::query(
            "insert into budget_slots (company_id, user_id, kind, slot)
             select $1, $2, $3, g from generate_series(0, $4 - 1) g
             where not exists (select 1 from budget_slots
                               where company_id = $1 and user_id = $2 and kind = $3)
             on conflict do nothing",
        )
        .bind(company)
        .bind(user)
        .bind(kind)
        .bind(size)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn budget_resize_window(
        &self,
        key: WindowKey,
        size: i32,
        hold_until: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (company, user, kind) = ids(&key);
        // The final update sees the rows as they were before the statement, so it holds the
        // surviving slots only when the delete removed some.
        sqlx::query(
            "with removed as (
                 delete from budget_slots
                 where company_id = $1 and user_id = $2 and kind = $3 and slot >= $4
                 returning slot),
             added as (
                 insert into budget_slots (company_id, user_id, kind, slot)
                 select $1, $2, $3, g from generate_series(0, $4 - 1) g
                 on conflict do nothing returning slot)
             update budget_slots set held_until_ms = greatest(held_until_ms, $5)
             where company_id = $1 and user_id = $2 and kind = $3 and slot < $4
               and exists (select 1 from removed)",
        )
        .bind(company)
        .bind(user)
        .bind(kind)
        .bind(size)
        .bind(to_millis(hold_until))
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn budget_take_slots(&self, take: &SlotTake) -> StoreResult<SlotsTaken> {
        let (company, user, kind) = ids(&take.key);
        let mut slots: Vec<i32> = sqlx::query_scalar(
            "update budget_slots set busy_until_ms = $7
             where (company_id, user_id, kind, slot) in (
                 select company_id, user_id, kind, slot from budget_slots
                 where company_id = $1 and user_id = $2 and kind = $3
                   and slot < $4 and busy_until_ms <= $5 and held_until_ms <= $5
                 order by case when $6 then -slot else slot end
                 limit $8
                 for update skip locked)
             returning slot",
        )
        .bind(company)
        .bind(user)
        .bind(kind)
        .bind(take.below)
        .bind(to_millis(take.now))
        .bind(take.prefer_high)
        .bind(to_millis(take.leased_until))
        .bind(i64::from(take.count.max(0)))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        if !slots.is_empty() {
            slots.sort_unstable();
            return Ok(SlotsTaken {
                slots,
                next_free: None,
            });
        }
        let next: Option<i64> = sqlx::query_scalar(
            "select min(greatest(busy_until_ms, held_until_ms)) from budget_slots
             where company_id = $1 and user_id = $2 and kind = $3 and slot < $4",
        )
        .bind(company)
        .bind(user)
        .bind(kind)
        .bind(take.below)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(SlotsTaken {
            slots,
            next_free: next.map(dealbridge_storage::from_millis),
        })
    }

    async fn budget_release_slots(
        &self,
        key: WindowKey,
        releases: &[SlotRelease],
    ) -> StoreResult<()> {
        if releases.is_empty() {
            return Ok(());
        }
        let (company, user, kind) = ids(&key);
        let slots: Vec<i32> = releases.iter().map(|r| r.slot).collect();
        let leased: Vec<i64> = releases.iter().map(|r| to_millis(r.leased_until)).collect();
        let busy: Vec<i64> = releases.iter().map(|r| to_millis(r.busy_until)).collect();
        sqlx::query(
            "update budget_slots s set busy_until_ms =
                 case when s.busy_until_ms = v.leased then v.busy
                      else greatest(s.busy_until_ms, v.busy) end
             from unnest($4::int4[], $5::int8[], $6::int8[]) as v(slot, leased, busy)
             where s.company_id = $1 and s.user_id = $2 and s.kind = $3 and s.slot = v.slot",
        )
        .bind(company)
        .bind(user)
        .bind(kind)
        .bind(slots)
        .bind(leased)
        .bind(busy)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn budget_hold_window(
        &self,
        key: WindowKey,
        keep_free: i32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (company, user, kind) = ids(&key);
        if keep_free <= 0 {
            // A block covers leased slots too: their release keeps the later time.
            sqlx::query(
                "update budget_slots set held_until_ms = greatest(held_until_ms, $4)
                 where company_id = $1 and user_id = $2 and kind = $3",
            )
            .bind(company)
            .bind(user)
            .bind(kind)
            .bind(to_millis(until))
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
            return Ok(());
        }
        // The highest free slots stay free, so priority work keeps its room longest.
        sqlx::query(
            "update budget_slots set held_until_ms = greatest(held_until_ms, $6)
             where (company_id, user_id, kind, slot) in (
                 select company_id, user_id, kind, slot from budget_slots
                 where company_id = $1 and user_id = $2 and kind = $3
                   and busy_until_ms <= $5 and held_until_ms <= $5
                 order by slot desc offset $4
                 for update skip locked)",
        )
        .bind(company)
        .bind(user)
        .bind(kind)
        .bind(i64::from(keep_free.max(0)))
        .bind(to_millis(now))
        .bind(to_millis(until))
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn budget_add_figures(
        &self,
        company_id: CompanyId,
        delta: &BudgetFigures,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into budget_figures as f
                 (company_id, calls, tokens_spent, rate_limited, waited_ms, deferred, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (company_id) do update set
                 calls = f.calls + $2, tokens_spent = f.tokens_spent + $3,
                 rate_limited = f.rate_limited + $4, waited_ms = f.waited_ms + $5,
                 deferred = f.deferred + $6, updated_at = $7",
        )
        .bind(company_id.get())
        .bind(delta.calls)
        .bind(delta.tokens_spent)
        .bind(delta.rate_limited)
        .bind(delta.waited_ms)
        .bind(delta.deferred)
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn budget_figures(&self, company_id: CompanyId) -> StoreResult<BudgetFigures> {
        let row = sqlx::query(
            "select calls, tokens_spent, rate_limited, waited_ms, deferred
             from budget_figures where company_id = $1",
        )
        .bind(company_id.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        row.as_ref()
            .map(read_budget_figures)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn budget_figures_all(&self) -> StoreResult<Vec<(CompanyId, BudgetFigures)>> {
        let rows = sqlx::query(
            "select company_id, calls, tokens_spent, rate_limited, waited_ms, deferred
             from budget_figures order by company_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("company_id").map_err(StoreError::backend)?;
                Ok((CompanyId::new(id), read_budget_figures(row)?))
            })
            .collect()
    }
}
