//! Job rows: enqueue, unique keys, retries and dead letters, cancelling, tenant scoping.
//! Claims, leases and fencing are in `job_claims`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use dealbridge_core::TenantId;
use serde_json::json;

use super::{ensure_eq, Check, CheckFuture};
use crate::{
    Claim, Enqueued, JobFailure, JobState, Lane, LeaseId, NewJob, QueueTake, ReadyQueue, Store,
    StoreError,
};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "jobs::enqueue_reads_back_scoped_by_tenant",
        enqueue_reads_back_scoped_by_tenant,
    ),
    (
        "jobs::unique_key_dedupes_open_jobs",
        unique_key_dedupes_open_jobs,
    ),
    (
        "jobs::enqueue_batch_skips_open_duplicates",
        enqueue_batch_skips_open_duplicates,
    ),
    (
        "jobs::failed_attempt_is_scheduled_for_retry",
        failed_attempt_is_scheduled_for_retry,
    ),
    (
        "jobs::dead_jobs_keep_their_error_and_can_be_retried",
        dead_jobs_keep_error_and_retry,
    ),
    (
        "jobs::cancel_removes_only_that_tenants_jobs",
        cancel_removes_only_that_tenants_jobs,
    ),
    ("jobs::enqueue_wakes_subscribers", enqueue_wakes_subscribers),
];

pub(super) fn job(tenant: TenantId, n: u32) -> NewJob {
    NewJob::new("test.noop", json!({ "n": n })).tenant(tenant)
}

/// Claims up to `limit` ready jobs of one tenant's default lane under a fresh lease.
pub(super) async fn claim_one_queue(
    store: &dyn Store,
    tenant: Option<TenantId>,
    limit: u32,
    lease: Duration,
) -> anyhow::Result<Vec<crate::Job>> {
    let takes = [QueueTake {
        queue: ReadyQueue {
            tenant_id: tenant,
            lane: Lane::Default,
        },
        limit,
    }];
    let claim = Claim {
        worker: "w1",
        lease_id: LeaseId::new(),
        now: Utc::now(),
        lease,
        takes: &takes,
    };
    Ok(store.claim_jobs(&claim).await?)
}

fn enqueue_reads_back_scoped_by_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let new = job(tenant, 1)
            .lane(Lane::Realtime)
            .priority(-3)
            .max_attempts(4);
        let id = match store.enqueue(&new).await? {
            Enqueued::New(id) => id,
            dup => anyhow::bail!("first enqueue reported {dup:?}"),
        };
        let stored = store
            .job(Some(tenant), id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("lost"))?;
        ensure_eq!(stored.tenant_id, Some(tenant), "tenant");
        ensure_eq!(stored.kind, "test.noop".to_string(), "kind");
        ensure_eq!(stored.payload, json!({ "n": 1 }), "payload");
        ensure_eq!(stored.lane, Lane::Realtime, "lane");
        ensure_eq!(stored.priority, -3, "priority");
        ensure_eq!(stored.state, JobState::Queued, "state");
        ensure_eq!((stored.attempts, stored.max_attempts), (0, 4), "attempts");
        anyhow::ensure!(
            stored.lease_id.is_none() && stored.locked_until.is_none(),
            "leased"
        );
        anyhow::ensure!(
            store.job(Some(other), id).await?.is_none(),
            "visible to another tenant"
        );
        anyhow::ensure!(
            store.job(None, id).await?.is_none(),
            "visible as a system job"
        );

        let system = store
            .enqueue(&NewJob::new("sweep", json!(null)))
            .await?
            .id();
        let found = store
            .job(None, system)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no system job"))?;
        ensure_eq!(found.tenant_id, None, "system jobs have no tenant");
        ensure_eq!(
            store.job_counts(Some(tenant)).await?.queued,
            1,
            "tenant count"
        );
        ensure_eq!(store.job_counts(None).await?.queued, 1, "system count");
        Ok(())
    })
}

fn unique_key_dedupes_open_jobs(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let first = store.enqueue(&job(tenant, 1).unique_key("deal:7")).await?;
        let second = store.enqueue(&job(tenant, 2).unique_key("deal:7")).await?;
        ensure_eq!(
            second,
            Enqueued::Duplicate(first.id()),
            "same key while queued"
        );
        let elsewhere = store.enqueue(&job(other, 3).unique_key("deal:7")).await?;
        anyhow::ensure!(matches!(elsewhere, Enqueued::New(_)), "keys are per tenant");

        let claimed =
            claim_one_queue(store.as_ref(), Some(tenant), 10, Duration::from_secs(60)).await?;
        ensure_eq!(claimed.len(), 1, "one job behind the key");
        let running = store.enqueue(&job(tenant, 4).unique_key("deal:7")).await?;
        ensure_eq!(
            running,
            Enqueued::Duplicate(first.id()),
            "same key while running"
        );

        let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
        ensure_eq!(store.complete_jobs(&leases).await?, 1, "completed");
        let after = store.enqueue(&job(tenant, 5).unique_key("deal:7")).await?;
        anyhow::ensure!(
            matches!(after, Enqueued::New(_)),
            "key free once the job finished"
        );
        Ok(())
    })
}

fn enqueue_batch_skips_open_duplicates(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = TenantId::new();
        store.enqueue(&job(tenant, 0).unique_key("k1")).await?;
        let batch: Vec<NewJob> = vec![
            job(tenant, 1),
            job(tenant, 2).unique_key("k1"),
            job(tenant, 3).unique_key("k2"),
            job(tenant, 4).unique_key("k2"),
        ];
        ensure_eq!(store.enqueue_batch(&batch).await?, 2, "inserted rows");
        ensure_eq!(store.job_counts(Some(tenant)).await?.queued, 3, "queued");
        Ok(())
    })
}

fn failed_attempt_is_scheduled_for_retry(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = TenantId::new();
        let id = store.enqueue(&job(tenant, 1)).await?.id();
        let claimed =
            claim_one_queue(store.as_ref(), Some(tenant), 1, Duration::from_secs(60)).await?;
        let lease = claimed
            .first()
            .and_then(|j| j.lease())
            .ok_or_else(|| anyhow::anyhow!("none"))?;
        let retry_at = Utc::now() + TimeDelta::hours(1);
        let failure = JobFailure {
            error: "HTTP 503".into(),
            retry_at: Some(retry_at),
        };
        anyhow::ensure!(store.fail_job(&lease, &failure).await?, "lease lost");
        let stored = store
            .job(Some(tenant), id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("gone"))?;
        ensure_eq!(stored.state, JobState::Queued, "queued again");
        ensure_eq!(stored.attempts, 1, "attempt counted");
        ensure_eq!(stored.last_error.as_deref(), Some("HTTP 503"), "error kept");
        ensure_eq!(
            stored.run_at.timestamp_millis(),
            retry_at.timestamp_millis(),
            "run_at"
        );
        anyhow::ensure!(stored.lease_id.is_none(), "lease kept after failure");

        let ready_now = store.ready_queues(Utc::now(), None, 10).await?;
        anyhow::ensure!(
            ready_now.is_empty(),
            "a backed-off job is ready early: {ready_now:?}"
        );
        let later = store
            .ready_queues(retry_at + TimeDelta::seconds(1), None, 10)
            .await?;
        ensure_eq!(later.len(), 1, "ready once its time comes");
        anyhow::ensure!(
            !store.fail_job(&lease, &failure).await?,
            "a second result was recorded"
        );
        Ok(())
    })
}

fn dead_jobs_keep_error_and_retry(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let id = store
            .enqueue(&job(tenant, 1).unique_key("once"))
            .await?
            .id();
        let claimed =
            claim_one_queue(store.as_ref(), Some(tenant), 1, Duration::from_secs(60)).await?;
        let lease = claimed
            .first()
            .and_then(|j| j.lease())
            .ok_or_else(|| anyhow::anyhow!("none"))?;
        let failure = JobFailure {
            error: "invalid payload".into(),
            retry_at: None,
        };
        anyhow::ensure!(store.fail_job(&lease, &failure).await?, "lease lost");

        let dead = store.dead_jobs(Some(tenant), 10).await?;
        ensure_eq!(
            dead.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![id],
            "dead list"
        );
        ensure_eq!(
            dead[0].last_error.as_deref(),
            Some("invalid payload"),
            "error kept"
        );
        anyhow::ensure!(
            store.dead_jobs(Some(other), 10).await?.is_empty(),
            "other tenant sees it"
        );
        ensure_eq!(store.job_counts(Some(tenant)).await?.dead, 1, "dead count");

        // A dead job frees its unique key; retrying it while another holds the key conflicts.
        let holder = store.enqueue(&job(tenant, 2).unique_key("once")).await?;
        anyhow::ensure!(
            matches!(holder, Enqueued::New(_)),
            "dead job still holds its key"
        );
        match store.retry_dead_job(Some(tenant), id).await {
            Err(StoreError::Conflict(_)) => {}
            other => anyhow::bail!("retry over a held key: expected Conflict, got {other:?}"),
        }
        store.cancel_tenant_jobs(tenant).await?;

        let id = store.enqueue(&job(tenant, 3)).await?.id();
        let claimed =
            claim_one_queue(store.as_ref(), Some(tenant), 1, Duration::from_secs(60)).await?;
        let lease = claimed
            .first()
            .and_then(|j| j.lease())
            .ok_or_else(|| anyhow::anyhow!("none"))?;
        store.fail_job(&lease, &failure).await?;
        match store.retry_dead_job(Some(other), id).await {
            Err(StoreError::NotFound(_)) => {}
            other => {
                anyhow::bail!("retry through another tenant: expected NotFound, got {other:?}")
            }
        }
        store.retry_dead_job(Some(tenant), id).await?;
        let stored = store
            .job(Some(tenant), id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("gone"))?;
        ensure_eq!(
            (stored.state, stored.attempts),
            (JobState::Queued, 0),
            "retried"
        );
        ensure_eq!(
            stored.last_error.as_deref(),
            Some("invalid payload"),
            "error kept on retry"
        );
        match store.retry_dead_job(Some(tenant), id).await {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => anyhow::bail!("retrying a queued job: expected NotFound, got {other:?}"),
        }
    })
}

fn cancel_removes_only_that_tenants_jobs(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (tenant, other) = (TenantId::new(), TenantId::new());
        for n in 0..5 {
            store.enqueue(&job(tenant, n)).await?;
            store.enqueue(&job(other, n)).await?;
        }
        let claimed =
            claim_one_queue(store.as_ref(), Some(tenant), 2, Duration::from_secs(60)).await?;
        ensure_eq!(store.cancel_tenant_jobs(tenant).await?, 5, "cancelled");
        ensure_eq!(
            store.job_counts(Some(tenant)).await?.queued,
            0,
            "tenant emptied"
        );
        ensure_eq!(
            store.job_counts(Some(other)).await?.queued,
            5,
            "other tenant untouched"
        );
        // The attempts that were running when the tenant was cancelled can record nothing.
        let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
        ensure_eq!(
            store.complete_jobs(&leases).await?,
            0,
            "cancelled jobs completed"
        );
        Ok(())
    })
}

fn enqueue_wakes_subscribers(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let mut wakeups = store.job_wakeups().await?;
        store.enqueue(&job(TenantId::new(), 1)).await?;
        // Generous: the assertion is that a wake-up arrives, not how fast.
        anyhow::ensure!(
            wakeups.wait(Duration::from_secs(20)).await,
            "no wake-up after enqueue"
        );
        Ok(())
    })
}
