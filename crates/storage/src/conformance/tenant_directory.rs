//! The support console's tenant list: paging by company id, search, and the counts it carries.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::tenant::{NewTenant, TenantStatus};
use dealbridge_core::{CompanyId, UserId};

use super::jobs::{claim_one_queue, job};
use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{
    JobCounts, JobFailure, Store, TenantListQuery, TenantState, TokenTake, LIST_COUNT_CAP,
};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "tenant_directory::pages_in_company_order",
        pages_in_company_order,
    ),
    (
        "tenant_directory::search_matches_name_or_domain",
        search_matches_name_or_domain,
    ),
    (
        "tenant_directory::counts_installations_and_jobs_per_tenant",
        counts_installations_and_jobs,
    ),
    (
        "tenant_directory::counts_stop_past_the_list_cap",
        counts_stop_past_the_list_cap,
    ),
    ("tenant_directory::filters_by_state", filters_by_state),
    (
        "tenant_directory::carries_todays_budget_and_recent_errors",
        carries_budget_and_errors,
    ),
];

fn companies(page: &[crate::TenantSummary]) -> Vec<i64> {
    page.iter().map(|s| s.tenant.company_id.get()).collect()
}

fn pages_in_company_order(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        for company in [30, 10, 50, 20, 40] {
            fixtures::tenant(store.as_ref(), company).await?;
        }
        let first = store
            .list_tenants(&TenantListQuery {
                limit: 2,
                ..TenantListQuery::default()
            })
            .await?;
        ensure_eq!(companies(&first), vec![10, 20], "first page");
        let second = store
            .list_tenants(&TenantListQuery {
                after: Some(CompanyId::new(20)),
                limit: 2,
                ..TenantListQuery::default()
            })
            .await?;
        ensure_eq!(companies(&second), vec![30, 40], "second page");
        let last = store
            .list_tenants(&TenantListQuery {
                after: Some(CompanyId::new(40)),
                limit: 2,
                ..TenantListQuery::default()
            })
            .await?;
        ensure_eq!(companies(&last), vec![50], "last page");
        Ok(())
    })
}

fn search_matches_name_or_domain(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let named = |company: i64, name: &str, domain: &str| NewTenant {
            company_id: CompanyId::new(company),
            company_name: name.into(),
            company_domain: domain.into(),
        };
        for tenant in [
            named(1, "Acme Rockets", "acme"),
            named(2, "Globex", "globex-acme"),
            named(3, "Initech", "initech"),
            named(4, "100% Fruit_Co", "fruit"),
        ] {
            store.upsert_tenant(&tenant).await?;
        }
        let search = |text: &str| TenantListQuery {
            search: Some(text.into()),
            limit: 10,
            ..TenantListQuery::default()
        };
        let acme = store.list_tenants(&search("ACME")).await?;
        ensure_eq!(companies(&acme), vec![1, 2], "name or domain, any case");
        let percent = store.list_tenants(&search("0% f")).await?;
        ensure_eq!(companies(&percent), vec![4], "% matches itself");
        let underscore = store.list_tenants(&search("t_c")).await?;
        ensure_eq!(companies(&underscore), vec![4], "_ matches itself");
        let blank = store.list_tenants(&search("  ")).await?;
        ensure_eq!(blank.len(), 4, "a blank search lists everyone");
        let none = store.list_tenants(&search("umbrella")).await?;
        anyhow::ensure!(
            none.is_empty(),
            "no match expected, got {:?}",
            companies(&none)
        );
        Ok(())
    })
}

fn counts_installations_and_jobs(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 7).await?;
        let quiet = fixtures::tenant(store.as_ref(), 8).await?;
        for user in [1, 2, 3] {
            store
                .upsert_installation(tenant.id, &fixtures::installation(user, 1))
                .await?;
        }
        store
            .set_installation_status(tenant.id, UserId::new(2), InstallationStatus::NeedsReauth)
            .await?;
        store
            .set_installation_status(tenant.id, UserId::new(3), InstallationStatus::Uninstalled)
            .await?;
        for n in 0..3 {
            store.enqueue(&job(tenant.id, n)).await?;
        }
        let claimed =
            claim_one_queue(store.as_ref(), Some(tenant.id), 2, Duration::from_secs(60)).await?;
        let dead = claimed
            .first()
            .and_then(|j| j.lease())
            .ok_or_else(|| anyhow::anyhow!("nothing claimed"))?;
        let failure = JobFailure {
            error: "boom".into(),
            retry_at: None,
        };
        anyhow::ensure!(store.fail_job(&dead, &failure).await?, "lease lost");

        let page = store
            .list_tenants(&TenantListQuery {
                limit: 10,
                ..TenantListQuery::default()
            })
            .await?;
        ensure_eq!(companies(&page), vec![7, 8], "both tenants");
        let busy = &page[0];
        ensure_eq!(busy.tenant.id, tenant.id, "tenant");
        ensure_eq!(
            (busy.active_installations, busy.needs_reauth_installations),
            (1, 1),
            "installations"
        );
        ensure_eq!(
            busy.jobs,
            JobCounts {
                queued: 1,
                running: 1,
                dead: 1
            },
            "jobs"
        );
        ensure_eq!(page[1].tenant.id, quiet.id, "quiet tenant");
        ensure_eq!(page[1].jobs, JobCounts::default(), "no jobs");
        ensure_eq!(page[1].active_installations, 0, "no installations");
        Ok(())
    })
}

/// A backlog past the list's cap reads as the cap plus one ("1,000+"), never as less.
fn counts_stop_past_the_list_cap(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 9).await?;
        let backlog = u32::try_from(LIST_COUNT_CAP + 5)?;
        let jobs: Vec<_> = (0..backlog).map(|n| job(tenant.id, n)).collect();
        store.enqueue_batch(&jobs).await?;
        let page = store
            .list_tenants(&TenantListQuery {
                limit: 10,
                ..TenantListQuery::default()
            })
            .await?;
        let queued = page.first().map(|s| s.jobs.queued);
        ensure_eq!(queued, Some(LIST_COUNT_CAP + 1), "queued, capped");
        Ok(())
    })
}

fn filters_by_state(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        // 1 active; 2 active but waiting for a reconnect; 3 paused; 4 uninstalled; 5 paused and
        // waiting for a reconnect; 6 uninstalled with a stale needs-reauth row.
        for company in 1..=6 {
            let tenant = fixtures::tenant(store.as_ref(), company).await?;
            store
                .upsert_installation(tenant.id, &fixtures::installation(1, 1))
                .await?;
            if matches!(company, 2 | 5 | 6) {
                store
                    .set_installation_status(
                        tenant.id,
                        UserId::new(1),
                        InstallationStatus::NeedsReauth,
                    )
                    .await?;
            }
            let status = match company {
                3 | 5 => TenantStatus::Paused,
                4 | 6 => TenantStatus::Uninstalled,
                _ => TenantStatus::Active,
            };
            store.set_tenant_status(tenant.id, status).await?;
        }
        let of = |state: Option<TenantState>| {
            let store = store.clone();
            async move {
                let page = store
                    .list_tenants(&TenantListQuery {
                        state,
                        limit: 10,
                        ..TenantListQuery::default()
                    })
                    .await?;
                anyhow::Ok(companies(&page))
            }
        };
        ensure_eq!(of(None).await?, vec![1, 2, 3, 4, 5, 6], "all");
        ensure_eq!(of(Some(TenantState::Active)).await?, vec![1], "active");
        ensure_eq!(
            of(Some(TenantState::NeedsReauth)).await?,
            vec![2, 5],
            "needs reauth"
        );
        ensure_eq!(of(Some(TenantState::Paused)).await?, vec![3], "paused");
        ensure_eq!(
            of(Some(TenantState::Uninstalled)).await?,
            vec![4, 6],
            "uninstalled"
        );
        let after = store
            .list_tenants(&TenantListQuery {
                state: Some(TenantState::NeedsReauth),
                after: Some(CompanyId::new(2)),
                limit: 10,
                ..TenantListQuery::default()
            })
            .await?;
        ensure_eq!(
            companies(&after),
            vec![5],
            "a filtered page goes on after the cursor"
        );
        Ok(())
    })
}

fn carries_budget_and_errors(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let now = Utc::now();
        let spender = fixtures::tenant(store.as_ref(), 11).await?;
        fixtures::tenant(store.as_ref(), 12).await?;
        store
            .budget_set_limit(CompanyId::new(11), Some(1000), now, now + Span::hours(3))
            .await?;
        let take = TokenTake {
            company_id: CompanyId::new(11),
            now,
            period_end: now + Span::hours(3),
            min: 250,
            max: 250,
            bulk: false,
            reserve_bp: 0,
        };
        ensure_eq!(store.budget_take_tokens(&take).await?.0, 250, "taken");

        // Two failures: one dead, one waiting for its retry; and a job that never failed.
        for n in 0..3 {
            store.enqueue(&job(spender.id, n)).await?;
        }
        let claimed =
            claim_one_queue(store.as_ref(), Some(spender.id), 2, Duration::from_secs(60)).await?;
        let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
        anyhow::ensure!(leases.len() == 2, "two claimed");
        let dead = JobFailure {
            error: "boom".into(),
            retry_at: None,
        };
        anyhow::ensure!(store.fail_job(&leases[0], &dead).await?, "lease lost");
        let retry = JobFailure {
            error: "429".into(),
            retry_at: Some(now + Span::minutes(5)),
        };
        anyhow::ensure!(store.fail_job(&leases[1], &retry).await?, "lease lost");

        let list = |at| {
            let store = store.clone();
            async move {
                store
                    .list_tenants(&TenantListQuery {
                        limit: 10,
                        now: at,
                        ..TenantListQuery::default()
                    })
                    .await
            }
        };
        let page = list(now).await?;
        ensure_eq!(companies(&page), vec![11, 12], "both");
        let budget = page[0]
            .budget
            .ok_or_else(|| anyhow::anyhow!("the spender has a budget row"))?;
        ensure_eq!(
            (budget.spent, budget.daily_limit),
            (250, Some(1000)),
            "budget"
        );
        ensure_eq!(page[0].errors_24h, 2, "dead and retrying");
        ensure_eq!(
            page[0].jobs,
            JobCounts {
                queued: 2,
                running: 0,
                dead: 1
            },
            "jobs"
        );
        ensure_eq!(page[1].budget, None, "never spent");
        ensure_eq!(page[1].errors_24h, 0, "no errors");

        // A day later the failures are older than 24 hours and the period has ended.
        let later = list(now + Span::hours(25)).await?;
        ensure_eq!(later[0].errors_24h, 0, "old failures");
        ensure_eq!(later[0].budget.map(|b| b.spent), Some(0), "a new period");
        Ok(())
    })
}
