//! Refused calls: kept one by one per company, newest first and paged by (time, id); at most
//! `REFUSALS_KEPT_PER_DAY` a company and UTC day; old days pruned.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::CompanyId;

use super::{ensure_eq, Check, CheckFuture};
use crate::{NewRefusal, Store, TimelineCursor, REFUSALS_KEPT_DAYS, REFUSALS_KEPT_PER_DAY};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "refusals::kept_per_company_newest_first_and_paged",
        kept_per_company_newest_first_and_paged,
    ),
    (
        "refusals::a_flood_is_kept_up_to_the_days_bound",
        a_flood_is_kept_up_to_the_days_bound,
    ),
    ("refusals::old_days_are_pruned", old_days_are_pruned),
];

fn refusal(company: i64, at: DateTime<Utc>, status: u16) -> NewRefusal {
    NewRefusal {
        company_id: CompanyId::new(company),
        at,
        status,
        method: "GET".into(),
        path: "/api/v2/deals/{id}".into(),
        retry_after_ms: (status == 429).then_some(2_000),
        limit: (status == 429).then(|| "burst".into()),
    }
}

/// A time today, `n` seconds after a fixed point early in the UTC day, so the check's refusals
/// share today.
fn today_at(n: i64) -> DateTime<Utc> {
    let start = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 1)
        .unwrap_or_default();
    start.and_utc() + Duration::milliseconds(n)
}

fn kept_per_company_newest_first_and_paged(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        // Two in the same instant: the id orders them, and paging keeps both.
        for (n, status) in [(1, 429), (2, 401), (2, 429), (3, 401)] {
            anyhow::ensure!(
                store
                    .record_refusal(&refusal(71, today_at(n), status))
                    .await?
            );
        }
        store.record_refusal(&refusal(72, today_at(9), 429)).await?;

        let all = store.refusals(CompanyId::new(71), None, 10).await?;
        let seen: Vec<_> = all.iter().map(|r| (r.at, r.status)).collect();
        ensure_eq!(seen.len(), 4, "the company's own: {seen:?}");
        ensure_eq!(seen[0], (today_at(3), 401), "newest first");
        ensure_eq!(seen[3], (today_at(1), 429), "oldest last");
        let oldest = &all[3];
        ensure_eq!(oldest.method.as_str(), "GET", "method");
        ensure_eq!(oldest.path.as_str(), "/api/v2/deals/{id}", "path");
        ensure_eq!(oldest.retry_after_ms, Some(2_000), "retry after");
        ensure_eq!(oldest.limit.as_deref(), Some("burst"), "which limit");
        ensure_eq!(all[0].limit, None, "a 401 has no limit");

        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = store.refusals(CompanyId::new(71), before, 1).await?;
            let Some(last) = page.last() else { break };
            before = Some(TimelineCursor {
                at: last.at,
                id: last.id,
            });
            paged.extend(page.iter().map(|r| r.id));
        }
        let ids: Vec<_> = all.iter().map(|r| r.id).collect();
        ensure_eq!(paged, ids, "pages of one repeat and skip nothing");
        ensure_eq!(
            store.refusals(CompanyId::new(72), None, 10).await?.len(),
            1,
            "the other company's"
        );
        Ok(())
    })
}

fn a_flood_is_kept_up_to_the_days_bound(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let bound = i64::from(REFUSALS_KEPT_PER_DAY);
        let mut kept = 0;
        for n in 0..bound + 5 {
            kept += i64::from(store.record_refusal(&refusal(73, today_at(n), 429)).await?);
        }
        ensure_eq!(kept, bound, "kept");
        let company = CompanyId::new(73);
        let limit = REFUSALS_KEPT_PER_DAY + 10;
        ensure_eq!(
            store.refusals(company, None, limit).await?.len(),
            REFUSALS_KEPT_PER_DAY as usize,
            "rows"
        );
        // The first ones of the day are the ones kept; another day has its own bound.
        let newest = store.refusals(company, None, 1).await?;
        ensure_eq!(newest[0].at, today_at(bound - 1), "the last one kept");
        let yesterday = today_at(0) - Duration::days(1);
        anyhow::ensure!(store.record_refusal(&refusal(73, yesterday, 401)).await?);
        Ok(())
    })
}

fn old_days_are_pruned(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let old = today_at(0) - Duration::days(REFUSALS_KEPT_DAYS + 1);
        store.record_refusal(&refusal(74, old, 429)).await?;
        store.record_refusal(&refusal(74, today_at(0), 401)).await?;
        let cutoff = Utc::now().date_naive() - Duration::days(REFUSALS_KEPT_DAYS);
        ensure_eq!(store.prune_refusals(cutoff).await?, 1, "pruned");
        let left = store.refusals(CompanyId::new(74), None, 10).await?;
        ensure_eq!(left.len(), 1, "today's kept");
        ensure_eq!(left[0].status, 401, "today's");
        Ok(())
    })
}
