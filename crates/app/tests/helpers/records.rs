//! Store records tests set up directly, as the receivers and the worker would leave them: inbox
//! events (some failed), dead jobs and jobs that ran well.

use std::time::Duration;

use anyhow::{ensure, Context};
use chrono::Utc;
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use dealbridge_core::outcome::EventOutcome;
use dealbridge_core::TenantId;
use dealbridge_storage::{
    Claim, InboxEntry, InboxState, JobFailure, JobId, Lane, LeaseId, NewJob, QueueTake, ReadyQueue,
};
use uuid::Uuid;

use super::TestApp;

/// Records an event for `tenant` as a receiver would; its job is of a kind no worker runs.
pub async fn inbox_event(
    app: &TestApp,
    tenant: TenantId,
    source: EventSource,
    kind: EventType,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let event = NewEvent {
        source,
        kind,
        dedupe_key: id.to_string(),
        entity_key: None,
        occurred_at: Utc::now(),
        payload: serde_json::json!({}),
    };
    let job = NewJob::new("test.none", serde_json::json!({}));
    let entry = InboxEntry {
        id,
        tenant_id: tenant,
        event,
        job,
    };
    app.store.record_event(&entry).await?;
    Ok(id)
}

/// Marks one of the tenant's events failed with `reason`, as a workflow's last attempt does.
pub async fn fail_event(
    app: &TestApp,
    tenant: TenantId,
    id: Uuid,
    reason: &str,
) -> anyhow::Result<()> {
    let outcome = EventOutcome {
        records: Vec::new(),
        reason: Some(reason.into()),
    };
    let failed = InboxState::Failed;
    Ok(app.store.finish_event(tenant, id, failed, &outcome).await?)
}

/// A bulk-lane job of `kind` for `tenant` (`None`: a system job) that failed its only attempt
/// with `error`, through the queue's claim and fail.
pub async fn dead_job(
    app: &TestApp,
    tenant: Option<TenantId>,
    kind: &str,
    error: &str,
) -> anyhow::Result<JobId> {
    dead_job_in(app, tenant, Lane::Bulk, kind, error).await
}

/// [`dead_job`] on `lane`.
pub async fn dead_job_in(
    app: &TestApp,
    tenant: Option<TenantId>,
    lane: Lane,
    kind: &str,
    error: &str,
) -> anyhow::Result<JobId> {
    let mut job = NewJob::new(kind, serde_json::json!({}))
        .lane(lane)
        .max_attempts(1);
    if let Some(tenant) = tenant {
        job = job.tenant(tenant);
    }
    let id = app.store.enqueue(&job).await?.id();
    let takes = [QueueTake {
        queue: ReadyQueue {
            tenant_id: tenant,
            lane,
        },
        limit: 1,
    }];
    let claimed = app
        .store
        .claim_jobs(&Claim {
            worker: "test",
            lease_id: LeaseId::new(),
            now: Utc::now(),
            lease: Duration::from_secs(60),
            takes: &takes,
        })
        .await?;
    let lease = claimed
        .first()
        .and_then(|j| j.lease())
        .context("nothing claimed")?;
    let failure = JobFailure {
        error: error.into(),
        retry_at: None,
    };
    ensure!(app.store.fail_job(&lease, &failure).await?, "lease lost");
    Ok(id)
}

/// `n` bulk-lane jobs of `kind` for `tenant` that ran well: enqueued, claimed and completed
/// through the queue, as a worker would.
pub async fn finished_jobs(
    app: &TestApp,
    tenant: TenantId,
    kind: &str,
    n: u32,
) -> anyhow::Result<()> {
    // The bulk lane, which nothing else in these tests fills, so the claim takes exactly these.
    for _ in 0..n {
        let job = NewJob::new(kind, serde_json::json!({})).lane(Lane::Bulk);
        app.store.enqueue(&job.tenant(tenant)).await?;
    }
    let takes = [QueueTake {
        queue: ReadyQueue {
            tenant_id: Some(tenant),
            lane: Lane::Bulk,
        },
        limit: n,
    }];
    let claim = Claim {
        worker: "test",
        lease_id: LeaseId::new(),
        now: Utc::now(),
        lease: Duration::from_secs(60),
        takes: &takes,
    };
    let claimed = app.store.claim_jobs(&claim).await?;
    let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
    let done = app.store.complete_jobs(&leases).await?;
    ensure!(done == u64::from(n), "{done} of {n} jobs completed");
    Ok(())
}
