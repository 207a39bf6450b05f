//! Jobs run per day: completion counts each tenant's jobs by kind on today's row (a store whose
//! completion does not count fails here), failed attempts are counted, system jobs are not, and
//! the days page and are pruned with finished events.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use dealbridge_core::TenantId;
use serde_json::json;

use super::jobs::{claim_one_queue, job};
use super::{ensure_eq, Check, CheckFuture};
use crate::{JobDay, JobFailure, NewJob, Store};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "job_days::completion_counts_each_tenants_jobs_by_kind",
        completion_counts_each_tenants_jobs_by_kind,
    ),
    (
        "job_days::an_expired_lease_counts_as_a_failed_attempt",
        an_expired_lease_counts_as_a_failed_attempt,
    ),
    (
        "job_days::failed_attempts_count_and_days_page_and_prune",
        failed_attempts_count_and_days_page_and_prune,
    ),
];

/// Claims up to `limit` of the tenant's ready jobs and completes them; how many completed.
async fn run(store: &dyn Store, tenant: Option<TenantId>, limit: u32) -> anyhow::Result<u64> {
    let claimed = claim_one_queue(store, tenant, limit, StdDuration::from_secs(60)).await?;
    let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
    let done = store.complete_jobs(&leases).await?;
    // A second completion of the same leases deletes nothing, so it counts nothing either.
    ensure_eq!(store.complete_jobs(&leases).await?, 0, "completed twice");
    Ok(done)
}

fn day(kind: &str, done: i64, failed: i64) -> JobDay {
    JobDay {
        day: Utc::now().date_naive(),
        kind: kind.into(),
        done,
        failed,
    }
}

fn completion_counts_each_tenants_jobs_by_kind(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (a, b) = (TenantId::new(), TenantId::new());
        for n in 0..3 {
            store.enqueue(&job(a, n)).await?;
        }
        let other = NewJob::new("test.other", json!({})).tenant(a);
        store.enqueue(&other).await?;
        store.enqueue(&job(b, 9)).await?;
        store
            .enqueue(&NewJob::new("test.system", json!({})))
            .await?;

        ensure_eq!(run(store.as_ref(), Some(a), 10).await?, 4, "a's jobs done");
        ensure_eq!(run(store.as_ref(), Some(b), 10).await?, 1, "b's job done");
        ensure_eq!(
            run(store.as_ref(), None, 10).await?,
            1,
            "the system job done"
        );
        // A second batch of the same day and kind adds to the first.
        store.enqueue(&job(a, 4)).await?;
        ensure_eq!(run(store.as_ref(), Some(a), 10).await?, 1, "a's next job");

        let days = store.job_days(a, None, 10).await?;
        let expected = vec![day("test.noop", 4, 0), day("test.other", 1, 0)];
        ensure_eq!(
            days,
            expected,
            "a's day, by kind, the other tenant's not in it"
        );
        ensure_eq!(
            store.job_days(b, None, 10).await?,
            vec![day("test.noop", 1, 0)],
            "b's own"
        );
        ensure_eq!(
            store.job_days(TenantId::new(), None, 10).await?,
            Vec::<JobDay>::new(),
            "a tenant with no jobs"
        );
        Ok(())
    })
}

/// A worker that stopped mid-job never reports a failure; the recovery of its lease does.
fn an_expired_lease_counts_as_a_failed_attempt(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = TenantId::new();
        for n in 0..2 {
            store.enqueue(&job(a, n)).await?;
        }
        let claimed = claim_one_queue(store.as_ref(), Some(a), 2, StdDuration::from_secs(1));
        ensure_eq!(claimed.await?.len(), 2, "claimed");
        let later = Utc::now() + Duration::seconds(5);
        ensure_eq!(store.recover_expired(later).await?, 2, "recovered");
        ensure_eq!(
            store.job_days(a, None, 10).await?,
            vec![day("test.noop", 0, 2)],
            "each recovered attempt counted"
        );
        ensure_eq!(store.recover_expired(later).await?, 0, "nothing left");
        Ok(())
    })
}

fn failed_attempts_count_and_days_page_and_prune(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = TenantId::new();
        store.enqueue(&job(a, 1).max_attempts(2)).await?;
        // The first attempt fails to run again, the second for good (dead).
        for retry in [true, false] {
            let claimed = claim_one_queue(store.as_ref(), Some(a), 1, StdDuration::from_secs(60));
            let lease = claimed.await?.first().and_then(|j| j.lease());
            let lease = lease.ok_or_else(|| anyhow::anyhow!("nothing claimed"))?;
            let failure = JobFailure {
                error: "Pipedrive said 500".into(),
                retry_at: retry.then(|| Utc::now() - Duration::seconds(1)),
            };
            anyhow::ensure!(store.fail_job(&lease, &failure).await?, "lease lost");
            // A failure reported again on a lost lease is not an attempt.
            anyhow::ensure!(!store.fail_job(&lease, &failure).await?, "failed twice");
        }
        store
            .enqueue(&NewJob::new("test.other", json!({})).tenant(a))
            .await?;
        ensure_eq!(run(store.as_ref(), Some(a), 10).await?, 1, "the other job");

        let today = Utc::now().date_naive();
        let expected = vec![day("test.noop", 0, 2), day("test.other", 1, 0)];
        ensure_eq!(
            store.job_days(a, None, 10).await?,
            expected,
            "failures counted"
        );
        let tomorrow = today + Duration::days(1);
        ensure_eq!(
            store.job_days(a, Some(tomorrow), 1).await?,
            expected,
            "a cursor after today"
        );
        ensure_eq!(
            store.job_days(a, Some(today), 10).await?,
            Vec::<JobDay>::new(),
            "nothing before today"
        );

        // Pruning finished events up to today keeps today's counts; up to tomorrow drops them.
        store.prune_finished_events(Utc::now(), 100).await?;
        ensure_eq!(store.job_days(a, None, 10).await?.len(), 2, "today kept");
        store
            .prune_finished_events(Utc::now() + Duration::days(1), 100)
            .await?;
        ensure_eq!(
            store.job_days(a, None, 10).await?,
            Vec::<JobDay>::new(),
            "pruned with the day"
        );
        Ok(())
    })
}
