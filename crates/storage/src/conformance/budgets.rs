//! Budget ledger state: daily takes never overspend (also when racing), slots are never leased
//! twice, periods roll over, and figures add up.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::{CompanyId, UserId};

use super::{ensure_eq, Check, CheckFuture};
use crate::{
    BudgetDay, BudgetFigures, SlotRelease, SlotTake, Store, TokenTake, WindowKey, WindowKind,
    BUDGET_DAYS_KEPT,
};

pub(super) const CHECKS: &[(&str, Check)] = &[
    ("budgets::takes_stop_at_the_limit", takes_stop_at_the_limit),
    ("budgets::bulk_leaves_the_reserve", bulk_leaves_the_reserve),
    (
        "budgets::racing_takes_never_overspend",
        racing_takes_never_overspend,
    ),
    ("budgets::periods_roll_over", periods_roll_over),
    (
        "budgets::exhaustion_blocks_and_learns",
        exhaustion_blocks_and_learns,
    ),
    ("budgets::slots_are_leased_once", slots_are_leased_once),
    (
        "budgets::racing_slot_takes_share_nothing",
        racing_slot_takes_share_nothing,
    ),
    (
        "budgets::releases_keep_later_holds",
        releases_keep_later_holds,
    ),
    ("budgets::windows_resize_and_hold", windows_resize_and_hold),
    ("budgets::figures_add_up", figures_add_up),
    (
        "budgets::days_are_recorded_per_company",
        days_are_recorded_per_company,
    ),
];

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default()
}

fn take(company: i64, min: i64, max: i64, bulk: bool) -> TokenTake {
    TokenTake {
        company_id: CompanyId::new(company),
        now: t0(),
        period_end: t0() + Duration::hours(6),
        min,
        max,
        bulk,
        reserve_bp: 2_000,
    }
}

fn key(company: i64, kind: WindowKind) -> WindowKey {
    WindowKey {
        company_id: CompanyId::new(company),
        user_id: UserId::new(77),
        kind,
    }
}

fn slot_take(key: WindowKey, below: i32, count: i32, now: DateTime<Utc>) -> SlotTake {
    SlotTake {
        key,
        now,
        below,
        prefer_high: false,
        count,
        leased_until: now + Duration::seconds(5),
    }
}

async fn set_limit(store: &dyn Store, company: i64, limit: i64) -> anyhow::Result<()> {
    let t = take(company, 0, 0, false);
    Ok(store
        .budget_set_limit(t.company_id, Some(limit), t.now, t.period_end)
        .await?)
}

fn takes_stop_at_the_limit(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        set_limit(store.as_ref(), 1, 100).await?;
        for n in 0..3 {
            let (got, _) = store.budget_take_tokens(&take(1, 30, 30, false)).await?;
            ensure_eq!(got, 30, "take {n}");
        }
        let (got, budget) = store.budget_take_tokens(&take(1, 30, 30, false)).await?;
        ensure_eq!(got, 0, "a take over the limit");
        ensure_eq!(budget.spent, 90, "spent after a refused take");
        let (got, budget) = store.budget_take_tokens(&take(1, 5, 30, false)).await?;
        ensure_eq!(got, 10, "a partial take gets what is left");
        ensure_eq!(budget.spent, 100, "spent");
        ensure_eq!(budget.daily_limit, Some(100), "limit");
        let t = take(1, 0, 0, false);
        store
            .budget_return_tokens(t.company_id, t.period_end, 25)
            .await?;
        store
            .budget_return_tokens(t.company_id, t.period_end - Duration::days(1), 25)
            .await?;
        let budget = store
            .budget_daily(t.company_id, t.now, t.period_end)
            .await?;
        ensure_eq!(budget.spent, 75, "only the current period's return counts");
        Ok(())
    })
}

fn bulk_leaves_the_reserve(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        set_limit(store.as_ref(), 2, 100).await?;
        let (got, _) = store.budget_take_tokens(&take(2, 10, 100, true)).await?;
        ensure_eq!(got, 80, "bulk stops at the 20 % reserve");
        let (got, _) = store.budget_take_tokens(&take(2, 1, 1, true)).await?;
        ensure_eq!(got, 0, "bulk inside the reserve");
        let (got, budget) = store.budget_take_tokens(&take(2, 1, 100, false)).await?;
        ensure_eq!(got, 20, "priority work spends the reserve");
        ensure_eq!(budget.spent, 100, "spent");
        Ok(())
    })
}

fn racing_takes_never_overspend(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        set_limit(store.as_ref(), 3, 100).await?;
        let takes = (0..40).map(|n| {
            let store = store.clone();
            async move { store.budget_take_tokens(&take(3, 7, 7, n % 3 == 0)).await }
        });
        let mut granted = 0;
        for result in futures::future::join_all(takes).await {
            granted += result?.0;
        }
        // Fourteen takes of 7 fit in 100; a fifteenth would overspend.
        ensure_eq!(granted, 98, "tokens granted to 40 racing takes");
        let t = take(3, 0, 0, false);
        let budget = store
            .budget_daily(t.company_id, t.now, t.period_end)
            .await?;
        ensure_eq!(budget.spent, 98, "spent");
        Ok(())
    })
}

fn periods_roll_over(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let first = take(4, 10, 10, false);
        ensure_eq!(store.budget_take_tokens(&first).await?.0, 10, "first take");
        let budget = store
            .budget_daily(first.company_id, first.now, first.period_end)
            .await?;
        ensure_eq!(budget.daily_limit, None, "no limit configured");
        ensure_eq!(budget.spent, 10, "spent without a limit");
        let next = TokenTake {
            now: first.period_end,
            period_end: first.period_end + Duration::days(1),
            ..first
        };
        let read = store
            .budget_daily(next.company_id, next.now, next.period_end)
            .await?;
        ensure_eq!(read.spent, 0, "a read after the reset");
        ensure_eq!(read.period_end, next.period_end, "the new period");
        let (got, budget) = store.budget_take_tokens(&next).await?;
        ensure_eq!(got, 10, "take in the new period");
        ensure_eq!(budget.spent, 10, "spent restarted at the reset");
        ensure_eq!(budget.period_end, next.period_end, "period moved");
        Ok(())
    })
}

fn exhaustion_blocks_and_learns(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let t = take(5, 40, 40, false);
        store.budget_take_tokens(&t).await?;
        let budget = store
            .budget_mark_exhausted(t.company_id, t.now, t.period_end, t.period_end)
            .await?;
        ensure_eq!(budget.learned_limit, Some(40), "learned from the spend");
        ensure_eq!(budget.exhausted_until, Some(t.period_end), "blocked until");
        let (got, _) = store.budget_take_tokens(&take(5, 1, 1, false)).await?;
        ensure_eq!(got, 0, "a take while exhausted");
        let next = TokenTake {
            now: t.period_end,
            period_end: t.period_end + Duration::days(1),
            ..take(5, 30, 30, true)
        };
        let (got, budget) = store.budget_take_tokens(&next).await?;
        ensure_eq!(
            got,
            30,
            "bulk take after the reset, under the learned floor"
        );
        ensure_eq!(budget.exhausted_until, None, "block lifted at the reset");
        let (got, _) = store.budget_take_tokens(&next).await?;
        ensure_eq!(got, 0, "bulk may not reach the learned limit's reserve");
        Ok(())
    })
}

fn slots_are_leased_once(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let k = key(6, WindowKind::Burst);
        store.budget_ensure_window(k, 5).await?;
        store.budget_ensure_window(k, 9).await?; // an existing window keeps its size
        let now = t0();
        let first = store.budget_take_slots(&slot_take(k, 5, 3, now)).await?;
        ensure_eq!(first.slots, vec![0, 1, 2], "low slots first");
        let high = SlotTake {
            prefer_high: true,
            ..slot_take(k, 9, 1, now)
        };
        ensure_eq!(
            store.budget_take_slots(&high).await?.slots,
            vec![4],
            "high first"
        );
        let bulk = store.budget_take_slots(&slot_take(k, 3, 2, now)).await?;
        ensure_eq!(bulk.slots, Vec::<i32>::new(), "no free slot below 3");
        ensure_eq!(
            bulk.next_free,
            Some(now + Duration::seconds(5)),
            "next free"
        );
        let rest = store.budget_take_slots(&slot_take(k, 9, 5, now)).await?;
        ensure_eq!(rest.slots, vec![3], "the window has five slots");
        let release = SlotRelease {
            slot: 1,
            leased_until: now + Duration::seconds(5),
            busy_until: now + Duration::seconds(2),
        };
        store.budget_release_slots(k, &[release]).await?;
        let early = now + Duration::seconds(1);
        let none = store.budget_take_slots(&slot_take(k, 9, 1, early)).await?;
        ensure_eq!(
            none.next_free,
            Some(now + Duration::seconds(2)),
            "used slot"
        );
        let later = now + Duration::seconds(2);
        let again = store.budget_take_slots(&slot_take(k, 9, 2, later)).await?;
        ensure_eq!(
            again.slots,
            vec![1],
            "slot free once its send left the window"
        );
        let search = store
            .budget_take_slots(&slot_take(key(6, WindowKind::Search), 9, 1, now))
            .await?;
        ensure_eq!(search.slots, Vec::<i32>::new(), "windows are separate");
        Ok(())
    })
}

fn racing_slot_takes_share_nothing(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let k = key(7, WindowKind::Burst);
        store.budget_ensure_window(k, 10).await?;
        let takes = (0..30).map(|n| {
            let store = store.clone();
            async move {
                let t = SlotTake {
                    prefer_high: n % 2 == 0,
                    ..slot_take(k, 10, 1, t0())
                };
                store.budget_take_slots(&t).await
            }
        });
        let mut slots = Vec::new();
        for result in futures::future::join_all(takes).await {
            slots.extend(result?.slots);
        }
        let distinct: HashSet<i32> = slots.iter().copied().collect();
        ensure_eq!(slots.len(), 10, "slots granted to 30 racing takes");
        ensure_eq!(distinct.len(), 10, "distinct slots");
        Ok(())
    })
}

fn releases_keep_later_holds(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let k = key(8, WindowKind::Burst);
        store.budget_ensure_window(k, 2).await?;
        let now = t0();
        let taken = store.budget_take_slots(&slot_take(k, 2, 1, now)).await?;
        ensure_eq!(taken.slots, vec![0], "taken");
        // A 429 blocks the whole window past the lease.
        let block = now + Duration::seconds(9);
        store.budget_hold_window(k, 0, now, block).await?;
        store
            .budget_release_slots(
                k,
                &[SlotRelease {
                    slot: 0,
                    leased_until: now + Duration::seconds(5),
                    busy_until: now,
                }],
            )
            .await?;
        let at = now + Duration::seconds(6);
        let none = store.budget_take_slots(&slot_take(k, 2, 2, at)).await?;
        ensure_eq!(
            none.slots,
            Vec::<i32>::new(),
            "the block outlives the release"
        );
        ensure_eq!(none.next_free, Some(block), "free at the block's end");
        Ok(())
    })
}

fn windows_resize_and_hold(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let k = key(9, WindowKind::Burst);
        let now = t0();
        store.budget_ensure_window(k, 4).await?;
        store.budget_resize_window(k, 8, now).await?;
        let all = store
            .budget_take_slots(&slot_take(k, 100, 100, now))
            .await?;
        ensure_eq!(all.slots.len(), 8, "grown window");
        let later = now + Duration::seconds(10);
        let hold = later + Duration::seconds(1);
        store.budget_resize_window(k, 3, hold).await?;
        let none = store
            .budget_take_slots(&slot_take(k, 100, 100, later))
            .await?;
        ensure_eq!(none.next_free, Some(hold), "a shrunk window is held");
        let after = store
            .budget_take_slots(&slot_take(k, 100, 100, hold))
            .await?;
        ensure_eq!(after.slots, vec![0, 1, 2], "shrunk window");
        let k2 = key(9, WindowKind::Search);
        store.budget_ensure_window(k2, 6).await?;
        store.budget_hold_window(k2, 2, now, hold).await?;
        let free = store
            .budget_take_slots(&slot_take(k2, 100, 100, now))
            .await?;
        ensure_eq!(free.slots, vec![4, 5], "two highest slots kept free");
        Ok(())
    })
}

fn figures_add_up(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let delta = BudgetFigures {
            calls: 3,
            tokens_spent: 30,
            rate_limited: 1,
            waited_ms: 250,
            deferred: 2,
            unauthorized: 5,
        };
        let day = t0().date_naive();
        store
            .budget_add_figures(CompanyId::new(11), day, &delta)
            .await?;
        store
            .budget_add_figures(CompanyId::new(11), day, &delta)
            .await?;
        store
            .budget_add_figures(CompanyId::new(10), day, &delta)
            .await?;
        let sum = store.budget_figures(CompanyId::new(11)).await?;
        ensure_eq!(
            sum,
            BudgetFigures {
                calls: 6,
                tokens_spent: 60,
                rate_limited: 2,
                waited_ms: 500,
                deferred: 4,
                unauthorized: 10,
            },
            "sum"
        );
        ensure_eq!(
            store.budget_figures(CompanyId::new(12)).await?,
            BudgetFigures::default(),
            "none"
        );
        let all = store.budget_figures_all().await?;
        let ids: Vec<i64> = all.iter().map(|(id, _)| id.get()).collect();
        ensure_eq!(ids, vec![10, 11], "all companies");
        Ok(())
    })
}

/// Figures land in the record of the day they are given with; other companies and days are
/// apart; records older than the kept window go as newer ones are written.
fn days_are_recorded_per_company(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let company = CompanyId::new(21);
        let delta = |tokens| BudgetFigures {
            calls: 1,
            tokens_spent: tokens,
            rate_limited: 1,
            unauthorized: 2,
            ..BudgetFigures::default()
        };
        let today = t0().date_naive();
        let yesterday = today - Duration::days(1);
        store
            .budget_add_figures(company, yesterday, &delta(5))
            .await?;
        store.budget_add_figures(company, today, &delta(7)).await?;
        store.budget_add_figures(company, today, &delta(3)).await?;
        store
            .budget_add_figures(CompanyId::new(22), today, &delta(100))
            .await?;
        let week = store
            .budget_days(company, today - Duration::days(6), today)
            .await?;
        let expected = vec![
            BudgetDay {
                day: yesterday,
                calls: 1,
                tokens_spent: 5,
                rate_limited: 1,
                unauthorized: 2,
            },
            BudgetDay {
                day: today,
                calls: 2,
                tokens_spent: 10,
                rate_limited: 2,
                unauthorized: 4,
            },
        ];
        ensure_eq!(week, expected, "oldest first, summed per day");
        let only_today = store.budget_days(company, today, today).await?;
        ensure_eq!(only_today.len(), 1, "the range bounds are kept");
        ensure_eq!(
            store.budget_figures(company).await?.tokens_spent,
            15,
            "the cumulative figures agree"
        );

        let later = today + Duration::days(BUDGET_DAYS_KEPT);
        store.budget_add_figures(company, later, &delta(1)).await?;
        let all = store
            .budget_days(company, yesterday, later)
            .await?
            .into_iter()
            .map(|d| d.day)
            .collect::<Vec<_>>();
        ensure_eq!(all, vec![today, later], "the oldest record was dropped");
        Ok(())
    })
}
