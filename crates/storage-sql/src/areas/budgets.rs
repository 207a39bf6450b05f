//! Budget ledger state. Every reservation step is one statement, so instances can take from the
//! same rows at once: the daily take is a conditional upsert, slot leases lock free slots (on
//! Postgres skipping rows another instance holds), and SQLite runs one writer at a time.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use dealbridge_core::CompanyId;
use dealbridge_storage::{
    from_millis, rolled_budget, to_millis, BudgetColumns, BudgetDay, BudgetFigures, Budgets,
    DailyBudget, SlotRelease, SlotTake, SlotsTaken, StoreResult, TokenTake, WindowKey,
    BUDGET_DAYS_KEPT,
};
use serde_json::json;

use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{day_from_iso, iso_day};
use crate::{commit, SqlStore};

/// Spent and exhausted-until as of `$2` (now): a period that ended counts as empty.
const SPENT: &str = "(case when b.period_end_ms <= $2 then 0 else b.spent end)";
const EXHAUSTED: &str = "(case when b.period_end_ms <= $2 then null else b.exhausted_until_ms end)";
const ROLL_PERIOD: &str =
    "period_end_ms = case when b.period_end_ms <= $2 then $3 else b.period_end_ms end";
const COLUMNS: &str = "daily_limit, learned_limit, spent, period_end_ms, exhausted_until_ms";

/// `$4` min, `$5` max, `$6` bulk, `$7` reserve in basis points.
fn take_sql<B: Backend>() -> String {
    let (least, reference) = (B::LEAST, "coalesce(b.daily_limit, b.learned_limit)");
    let room = format!(
        "{least}(coalesce(b.daily_limit - {SPENT}, $5),
               case when $6 and {reference} is not null
                    then {reference} - ({reference} * $7 + 9999) / 10000 - {SPENT}
                    else $5 end)"
    );
    let granted = format!(
        "(case when coalesce({EXHAUSTED}, 0) > $2 then 0
               when {room} >= $4 then {least}($5, {room})
               else 0 end)"
    );
    format!(
        "insert into budget_companies as b (company_id, spent, period_end_ms, last_take)
         values ($1, $5, $3, $5)
         on conflict (company_id) do update set
             spent = {SPENT} + {granted}, last_take = {granted},
             exhausted_until_ms = {EXHAUSTED}, {ROLL_PERIOD}
         returning last_take, {COLUMNS}"
    )
}

fn columns_from_row<B: Backend>(row: &B::Row) -> StoreResult<BudgetColumns> {
    Ok((
        B::get(row, "daily_limit")?,
        B::get(row, "learned_limit")?,
        B::get(row, "spent")?,
        B::get(row, "period_end_ms")?,
        B::get(row, "exhausted_until_ms")?,
    ))
}

fn figures_from_row<B: Backend>(row: &B::Row) -> StoreResult<BudgetFigures> {
    Ok(BudgetFigures {
        calls: B::get(row, "calls")?,
        tokens_spent: B::get(row, "tokens_spent")?,
        rate_limited: B::get(row, "rate_limited")?,
        waited_ms: B::get(row, "waited_ms")?,
        deferred: B::get(row, "deferred")?,
        unauthorized: B::get(row, "unauthorized")?,
    })
}

/// `$1` company, `$2` user, `$3` kind: the window a slot statement works on; then `$4`.
fn window<T>(key: &WindowKey, fourth: T) -> (i64, i64, &'static str, T) {
    let (company, user) = (key.company_id.get(), key.user_id.get());
    (company, user, key.kind.as_str(), fourth)
}

const WINDOW: &str = "company_id = $1 and user_id = $2 and kind = $3";

/// Inserts the slots `0..$4` of the window that are missing (`$4` may be 0).
const ADD_SLOTS: &str =
    "with recursive g(n) as (select 0 union all select n + 1 from g where n + 1 < $4)
    insert into budget_slots (company_id, user_id, kind, slot)
    select $1, $2, $3, n from g where $4 > 0";

const ADD_FIGURES: &str = "insert into budget_figures as f
        (company_id, calls, tokens_spent, rate_limited, waited_ms, deferred, updated_at,
         unauthorized)
    values ($1, $2, $3, $4, $5, $6, $7, $8)
    on conflict (company_id) do update set
        calls = f.calls + $2, tokens_spent = f.tokens_spent + $3,
        rate_limited = f.rate_limited + $4, waited_ms = f.waited_ms + $5,
        deferred = f.deferred + $6, updated_at = $7, unauthorized = f.unauthorized + $8";

const ADD_DAY: &str = "insert into budget_days as d
        (company_id, day, calls, tokens_spent, rate_limited, unauthorized)
    values ($1, $2, $3, $4, $5, $6)
    on conflict (company_id, day) do update set
        calls = d.calls + $3, tokens_spent = d.tokens_spent + $4,
        rate_limited = d.rate_limited + $5, unauthorized = d.unauthorized + $6";

fn day_from_row<B: Backend>(row: &B::Row) -> StoreResult<BudgetDay> {
    let text: String = B::get(row, "day")?;
    let day = day_from_iso(&text)
        .ok_or_else(|| dealbridge_storage::StoreError::Corrupt(format!("budget day {text:?}")))?;
    Ok(BudgetDay {
        day,
        calls: B::get(row, "calls")?,
        tokens_spent: B::get(row, "tokens_spent")?,
        rate_limited: B::get(row, "rate_limited")?,
        unauthorized: B::get(row, "unauthorized")?,
    })
}

/// Leases up to `$7` free slots below `$4` of the window until `$6` (`$5` is now), lowest first
/// or highest first.
///
/// The order is spelt as a plain `slot` or `slot desc`, never as an expression: the primary key
/// (company, user, kind, slot) then yields the window's slots already in order and the scan stops
/// after `$7` free ones. An expression such as `case when .. then -slot else slot end` made the
/// database read and sort the whole window on every take, which stalled windows of 100,000 slots
/// (a daily budget) at a few takes per second.
#[doc(hidden)]
pub fn take_slots_sql<B: Backend>(prefer_high: bool) -> String {
    let order = if prefer_high { "slot desc" } else { "slot" };
    format!(
        "update budget_slots set busy_until_ms = $6
         where (company_id, user_id, kind, slot) in (
             select company_id, user_id, kind, slot from budget_slots
             where {WINDOW} and slot < $4 and busy_until_ms <= $5 and held_until_ms <= $5
             order by {order}
             limit $7 {})
         returning slot",
        B::SKIP_LOCKED
    )
}

#[async_trait]
impl<B: Backend> Budgets for SqlStore<B> {
    async fn budget_take_tokens(&self, take: &TokenTake) -> StoreResult<(i64, DailyBudget)> {
        let (now, period_end) = (to_millis(take.now), to_millis(take.period_end));
        let statement = take_sql::<B>();
        let take_sql = sql::<B>(&statement).binds((take.company_id.get(), now, period_end));
        let take_sql = take_sql.binds((take.min, take.max, take.bulk, take.reserve_bp));
        let row = take_sql.fetch_one(&mut *self.conn().await?).await?;
        let budget = rolled_budget(columns_from_row::<B>(&row)?, take.now, take.period_end);
        Ok((B::get(&row, "last_take")?, budget))
    }

    async fn budget_return_tokens(
        &self,
        company_id: CompanyId,
        period_end: DateTime<Utc>,
        tokens: i64,
    ) -> StoreResult<()> {
        let statement = format!(
            "update budget_companies set spent = {}(spent - $3, 0)
             where company_id = $1 and period_end_ms = $2",
            B::GREATEST
        );
        let values = (company_id.get(), to_millis(period_end), tokens);
        self.execute(&statement, values).await.map(drop)
    }

    async fn budget_set_limit(
        &self,
        company_id: CompanyId,
        limit: Option<i64>,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> StoreResult<()> {
        let statement = format!(
            "insert into budget_companies as b (company_id, daily_limit, period_end_ms)
             values ($1, $4, $3)
             on conflict (company_id) do update set
                 daily_limit = $4, spent = {SPENT}, exhausted_until_ms = {EXHAUSTED}, {ROLL_PERIOD}"
        );
        let (now, period_end) = (to_millis(now), to_millis(period_end));
        let values = (company_id.get(), now, period_end, limit);
        self.execute(&statement, values).await.map(drop)
    }

    async fn budget_mark_exhausted(
        &self,
        company_id: CompanyId,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<DailyBudget> {
        let statement = format!(
            "insert into budget_companies as b (company_id, period_end_ms, exhausted_until_ms)
             values ($1, $3, $4)
             on conflict (company_id) do update set
                 learned_limit = case when b.daily_limit is null
                                      then {}(coalesce(b.learned_limit, 0), {SPENT})
                                      else b.learned_limit end,
                 spent = {SPENT}, exhausted_until_ms = $4, {ROLL_PERIOD}
             returning {COLUMNS}",
            B::GREATEST
        );
        let times = (to_millis(now), to_millis(period_end), to_millis(until));
        let values = (company_id.get(), times.0, times.1, times.2);
        let columns = self.fetch_one(&statement, values, columns_from_row::<B>);
        Ok(rolled_budget(columns.await?, now, period_end))
    }

    async fn budget_daily(
        &self,
        company_id: CompanyId,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> StoreResult<DailyBudget> {
        let statement = format!("select {COLUMNS} from budget_companies where company_id = $1");
        let columns = self.fetch_optional(&statement, (company_id.get(),), columns_from_row::<B>);
        let columns = columns.await?.unwrap_or((None, None, 0, 0, None));
        Ok(rolled_budget(columns, now, period_end))
    }

    async fn budget_ensure_window(&self, key: WindowKey, size: i32) -> StoreResult<()> {
        let statement = format!(
            "{ADD_SLOTS} and not exists (select 1 from budget_slots where {WINDOW})
             on conflict do nothing"
        );
        self.execute(&statement, window(&key, size)).await.map(drop)
    }

    async fn budget_resize_window(
        &self,
        key: WindowKey,
        size: i32,
        hold_until: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let remove = format!("delete from budget_slots where {WINDOW} and slot >= $4");
        if sql::<B>(&remove)
            .binds(window(&key, size))
            .execute(&mut tx)
            .await?
            > 0
        {
            // Sends counted in the removed slots may still be in the window.
            let hold = format!(
                "update budget_slots set held_until_ms = {}(held_until_ms, $4) where {WINDOW}",
                B::GREATEST
            );
            let hold = sql::<B>(&hold).binds(window(&key, to_millis(hold_until)));
            hold.execute(&mut tx).await?;
        }
        let add = format!("{ADD_SLOTS} on conflict do nothing");
        sql::<B>(&add)
            .binds(window(&key, size))
            .execute(&mut tx)
            .await?;
        commit(tx).await
    }

    async fn budget_take_slots(&self, take: &SlotTake) -> StoreResult<SlotsTaken> {
        let statement = take_slots_sql::<B>(take.prefer_high);
        let (count, leased_until) = (i64::from(take.count.max(0)), to_millis(take.leased_until));
        let lease = (to_millis(take.now), leased_until, count);
        let taken = sql::<B>(&statement).binds(window(&take.key, take.below));
        let rows = taken
            .binds(lease)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        let slot = |row: &B::Row| B::get(row, "slot");
        let mut slots: Vec<i32> = rows.iter().map(slot).collect::<StoreResult<_>>()?;
        slots.sort_unstable();
        let mut next_free = None;
        if slots.is_empty() {
            let statement = format!(
                "select min({}(busy_until_ms, held_until_ms)) as next from budget_slots
                 where {WINDOW} and slot < $4",
                B::GREATEST
            );
            let next =
                |row: &B::Row| B::get(row, "next").map(|ms: Option<i64>| ms.map(from_millis));
            let values = window(&take.key, take.below);
            next_free = self.fetch_one(&statement, values, next).await?;
        }
        Ok(SlotsTaken { slots, next_free })
    }

    async fn budget_release_slots(
        &self,
        key: WindowKey,
        releases: &[SlotRelease],
    ) -> StoreResult<()> {
        if releases.is_empty() {
            return Ok(());
        }
        // The releases as one JSON array of [slot, leased until, busy until] (ms), so a batch is
        // one statement on both databases.
        let releases = releases.iter();
        let values =
            releases.map(|r| json!([r.slot, to_millis(r.leased_until), to_millis(r.busy_until)]));
        let values = serde_json::Value::Array(values.collect());
        let (elements, field) = (B::JSON_ELEMENTS, |i: u8| {
            format!("cast(v.value ->> {i} as bigint)")
        });
        let statement = format!(
            "update budget_slots set busy_until_ms = (
                 select case when budget_slots.busy_until_ms = {leased} then {busy}
                             else {greatest}(budget_slots.busy_until_ms, {busy}) end
                 from {elements}($4) v where {slot} = budget_slots.slot)
             where {WINDOW} and slot in (select {slot} from {elements}($4) v)",
            leased = field(1),
            busy = field(2),
            slot = field(0),
            greatest = B::GREATEST,
        );
        self.execute(&statement, window(&key, &values))
            .await
            .map(drop)
    }

    async fn budget_hold_window(
        &self,
        key: WindowKey,
        keep_free: i32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<()> {
        let greatest = B::GREATEST;
        if keep_free <= 0 {
            // A block covers leased slots too: their release keeps the later time.
            let statement = format!(
                "update budget_slots set held_until_ms = {greatest}(held_until_ms, $4)
                 where {WINDOW}"
            );
            let values = window(&key, to_millis(until));
            return self.execute(&statement, values).await.map(drop);
        }
        // The highest free slots stay free, so priority work keeps its room longest. SQLite
        // needs a limit before an offset; i64::MAX is none.
        let statement = format!(
            "update budget_slots set held_until_ms = {greatest}(held_until_ms, $6)
             where (company_id, user_id, kind, slot) in (
                 select company_id, user_id, kind, slot from budget_slots
                 where {WINDOW} and busy_until_ms <= $5 and held_until_ms <= $5
                 order by slot desc limit {} offset $4 {})",
            i64::MAX,
            B::SKIP_LOCKED
        );
        let hold = sql::<B>(&statement).binds(window(&key, i64::from(keep_free)));
        let hold = hold.binds((to_millis(now), to_millis(until)));
        hold.execute(&mut *self.conn().await?).await.map(drop)
    }

    async fn budget_add_figures(
        &self,
        company_id: CompanyId,
        day: NaiveDate,
        delta: &BudgetFigures,
    ) -> StoreResult<()> {
        let (d, company) = (delta, company_id.get());
        let mut tx = self.begin().await?;
        let add = sql::<B>(ADD_FIGURES).binds((company, d.calls, d.tokens_spent, d.rate_limited));
        let add = add.binds((d.waited_ms, d.deferred, Utc::now(), d.unauthorized));
        add.execute(&mut tx).await?;
        let day_text = iso_day(day);
        let add_day = sql::<B>(ADD_DAY).binds((company, day_text.as_str(), d.calls));
        let add_day = add_day.binds((d.tokens_spent, d.rate_limited, d.unauthorized));
        add_day.execute(&mut tx).await?;
        let oldest = iso_day(day - Duration::days(BUDGET_DAYS_KEPT));
        let forget = "delete from budget_days where company_id = $1 and day < $2";
        sql::<B>(forget)
            .binds((company, oldest.as_str()))
            .execute(&mut tx)
            .await?;
        commit(tx).await
    }

    async fn budget_days(
        &self,
        company_id: CompanyId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<BudgetDay>> {
        let statement =
            "select day, calls, tokens_spent, rate_limited, unauthorized from budget_days
            where company_id = $1 and day >= $2 and day <= $3 order by day";
        let (from, to) = (iso_day(from), iso_day(to));
        let values = (company_id.get(), from.as_str(), to.as_str());
        self.fetch_all(statement, values, day_from_row::<B>).await
    }

    async fn budget_figures(&self, company_id: CompanyId) -> StoreResult<BudgetFigures> {
        let statement = "select calls, tokens_spent, rate_limited, waited_ms, deferred,
            unauthorized from budget_figures where company_id = $1";
        let values = (company_id.get(),);
        let figures = self.fetch_optional(statement, values, figures_from_row::<B>);
        Ok(figures.await?.unwrap_or_default())
    }

    async fn budget_figures_all(&self) -> StoreResult<Vec<(CompanyId, BudgetFigures)>> {
        let statement = "select company_id, calls, tokens_spent, rate_limited, waited_ms,
            deferred, unauthorized from budget_figures order by company_id";
        let company = |row: &B::Row| B::get(row, "company_id").map(CompanyId::new);
        let read = |row: &B::Row| Ok((company(row)?, figures_from_row::<B>(row)?));
        self.fetch_all(statement, (), read).await
    }
}
