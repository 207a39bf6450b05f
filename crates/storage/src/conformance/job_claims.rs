//! Claims: per-queue batches in claim order, leases, heartbeats, recovery after a crash, and the
//! fencing that stops a stale attempt from recording a result.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use dealbridge_core::TenantId;

use super::jobs::{claim_one_queue, job};
use super::{ensure_eq, Check, CheckFuture};
use crate::{Claim, JobFailure, JobState, Lane, LeaseId, QueueTake, ReadyQueue, Store};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "jobs::claim_leases_and_fences_writes",
        claim_leases_and_fences_writes,
    ),
    (
        "jobs::expired_lease_is_recovered_and_stale_attempt_fenced",
        expired_lease_recovered,
    ),
    (
        "jobs::expired_last_attempt_goes_dead",
        expired_last_attempt_goes_dead,
    ),
    (
        "jobs::release_returns_jobs_unrun",
        release_returns_jobs_unrun,
    ),
    (
        "jobs::ready_queues_lists_each_queue_once",
        ready_queues_lists_each_queue_once,
    ),
    (
        "jobs::claim_takes_per_queue_in_claim_order",
        claim_takes_per_queue_in_claim_order,
    ),
    (
        "jobs::concurrent_claims_never_share_a_job",
        concurrent_claims_never_share_a_job,
    ),
];

const MINUTE: Duration = Duration::from_secs(60);

fn claim_leases_and_fences_writes(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = TenantId::new();
        for n in 0..3 {
            store.enqueue(&job(tenant, n)).await?;
        }
        let before = Utc::now();
        let claimed = claim_one_queue(store.as_ref(), Some(tenant), 2, MINUTE).await?;
        ensure_eq!(claimed.len(), 2, "claimed");
        for job in &claimed {
            ensure_eq!(
                (job.state, job.attempts),
                (JobState::Running, 1),
                "claimed row"
            );
            ensure_eq!(job.locked_by.as_deref(), Some("w1"), "worker id");
            let until = job
                .locked_until
                .ok_or_else(|| anyhow::anyhow!("no lease time"))?;
            anyhow::ensure!(
                until >= before + TimeDelta::seconds(59),
                "lease too short: {until}"
            );
        }
        let again = claim_one_queue(store.as_ref(), Some(tenant), 5, MINUTE).await?;
        ensure_eq!(again.len(), 1, "only the unclaimed job is claimable");

        let mut leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
        let forged = crate::JobLease {
            lease_id: LeaseId::new(),
            ..leases[0]
        };
        ensure_eq!(
            store.complete_jobs(&[forged]).await?,
            0,
            "completed with a wrong lease"
        );
        let extended = store
            .extend_leases(&leases, Utc::now() + TimeDelta::minutes(5))
            .await?;
        ensure_eq!(extended.len(), 2, "heartbeat extends held leases");
        let stored = store
            .job(Some(tenant), leases[0].id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("gone"))?;
        let until = stored
            .locked_until
            .ok_or_else(|| anyhow::anyhow!("no lease"))?;
        anyhow::ensure!(
            until > before + TimeDelta::minutes(4),
            "lease not extended: {until}"
        );

        leases.push(forged);
        ensure_eq!(store.complete_jobs(&leases).await?, 2, "completed");
        ensure_eq!(
            store.job_counts(Some(tenant)).await?.running,
            1,
            "finished rows are gone"
        );
        Ok(())
    })
}

fn expired_lease_recovered(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = TenantId::new();
        let id = store.enqueue(&job(tenant, 1)).await?.id();
        let stale = claim_one_queue(store.as_ref(), Some(tenant), 1, Duration::ZERO).await?;
        let stale = stale
            .first()
            .and_then(|j| j.lease())
            .ok_or_else(|| anyhow::anyhow!("none"))?;
        // The holder crashed: its lease ran out.
        let later = Utc::now() + TimeDelta::seconds(1);
        ensure_eq!(store.recover_expired(later).await?, 1, "recovered");
        let stored = store
            .job(Some(tenant), id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("gone"))?;
        ensure_eq!(
            (stored.state, stored.attempts),
            (JobState::Queued, 1),
            "queued again"
        );
        anyhow::ensure!(stored.last_error.is_some(), "recovery left no trace");

        let fresh = claim_one_queue(store.as_ref(), Some(tenant), 1, MINUTE).await?;
        let fresh = fresh
            .first()
            .and_then(|j| j.lease())
            .ok_or_else(|| anyhow::anyhow!("none"))?;
        anyhow::ensure!(
            fresh.lease_id != stale.lease_id,
            "the new claim reused the lease id"
        );
        // The stale attempt wakes up and tries to report: every write is refused.
        ensure_eq!(store.complete_jobs(&[stale]).await?, 0, "stale completion");
        let failure = JobFailure {
            error: "late".into(),
            retry_at: None,
        };
        anyhow::ensure!(
            !store.fail_job(&stale, &failure).await?,
            "stale failure recorded"
        );
        anyhow::ensure!(
            store.extend_leases(&[stale], later).await?.is_empty(),
            "stale heartbeat"
        );
        ensure_eq!(
            store.release_jobs(&[stale], later).await?,
            0,
            "stale release"
        );
        ensure_eq!(
            store.recover_expired(Utc::now()).await?,
            0,
            "a live lease was recovered"
        );
        ensure_eq!(
            store.complete_jobs(&[fresh]).await?,
            1,
            "current attempt completes"
        );
        Ok(())
    })
}

fn expired_last_attempt_goes_dead(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = TenantId::new();
        let id = store.enqueue(&job(tenant, 1).max_attempts(1)).await?.id();
        claim_one_queue(store.as_ref(), Some(tenant), 1, Duration::ZERO).await?;
        ensure_eq!(
            store
                .recover_expired(Utc::now() + TimeDelta::seconds(1))
                .await?,
            1,
            "recovered"
        );
        let stored = store
            .job(Some(tenant), id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("gone"))?;
        ensure_eq!(
            stored.state,
            JobState::Dead,
            "a job that kills its worker stops being retried"
        );
        Ok(())
    })
}

fn release_returns_jobs_unrun(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = TenantId::new();
        let id = store.enqueue(&job(tenant, 1)).await?.id();
        let claimed = claim_one_queue(store.as_ref(), Some(tenant), 1, MINUTE).await?;
        let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
        ensure_eq!(
            store.release_jobs(&leases, Utc::now()).await?,
            1,
            "released"
        );
        let stored = store
            .job(Some(tenant), id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("gone"))?;
        ensure_eq!(
            (stored.state, stored.attempts),
            (JobState::Queued, 0),
            "attempt not counted"
        );
        ensure_eq!(
            store.complete_jobs(&leases).await?,
            0,
            "released lease still completes"
        );
        Ok(())
    })
}

fn ready_queues_lists_each_queue_once(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (a, b, c) = (TenantId::new(), TenantId::new(), TenantId::new());
        for n in 0..40 {
            store.enqueue(&job(a, n)).await?;
        }
        store.enqueue(&job(a, 99).lane(Lane::Realtime)).await?;
        store.enqueue(&job(b, 1)).await?;
        store
            .enqueue(&job(c, 1).run_at(Utc::now() + TimeDelta::hours(1)))
            .await?;
        store
            .enqueue(&crate::NewJob::new("sweep", serde_json::json!({})))
            .await?;

        let all = store.ready_queues(Utc::now(), None, 100).await?;
        let mut expected = vec![
            ReadyQueue {
                tenant_id: Some(a),
                lane: Lane::Default,
            },
            ReadyQueue {
                tenant_id: Some(a),
                lane: Lane::Realtime,
            },
            ReadyQueue {
                tenant_id: Some(b),
                lane: Lane::Default,
            },
        ];
        expected.sort_by_key(|q| (q.tenant_id.map(|t| t.to_string()), q.lane.as_str()));
        expected.insert(
            0,
            ReadyQueue {
                tenant_id: None,
                lane: Lane::Default,
            },
        );
        ensure_eq!(
            all,
            expected,
            "queues in key order, future-only queues left out"
        );
        let page = store.ready_queues(Utc::now(), Some(all[1]), 2).await?;
        ensure_eq!(page, all[2..4].to_vec(), "page after a cursor");
        Ok(())
    })
}

fn claim_takes_per_queue_in_claim_order(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (big, small) = (TenantId::new(), TenantId::new());
        let start = Utc::now() - TimeDelta::minutes(10);
        for n in 0..30 {
            let at = start + TimeDelta::seconds(i64::from(n));
            store.enqueue(&job(big, n).run_at(at)).await?;
        }
        store
            .enqueue(
                &job(big, 100)
                    .priority(-1)
                    .run_at(start + TimeDelta::minutes(5)),
            )
            .await?;
        for n in 0..3 {
            store.enqueue(&job(small, n)).await?;
        }
        let queue = |tenant| ReadyQueue {
            tenant_id: Some(tenant),
            lane: Lane::Default,
        };
        let takes = [
            QueueTake {
                queue: queue(big),
                limit: 3,
            },
            QueueTake {
                queue: queue(small),
                limit: 2,
            },
        ];
        let claim = Claim {
            worker: "w1",
            lease_id: LeaseId::new(),
            now: Utc::now(),
            lease: MINUTE,
            takes: &takes,
        };
        let claimed = store.claim_jobs(&claim).await?;
        let mut from_big: Vec<u64> = claimed
            .iter()
            .filter(|j| j.tenant_id == Some(big))
            .filter_map(|j| j.payload["n"].as_u64())
            .collect();
        from_big.sort_unstable();
        ensure_eq!(from_big, vec![0, 1, 100], "by priority, then oldest run_at");
        let from_small = claimed
            .iter()
            .filter(|j| j.tenant_id == Some(small))
            .count();
        ensure_eq!(
            from_small,
            2,
            "the small tenant's share, despite the big backlog"
        );
        Ok(())
    })
}

fn concurrent_claims_never_share_a_job(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = TenantId::new();
        let batch: Vec<_> = (0..60).map(|n| job(tenant, n)).collect();
        store.enqueue_batch(&batch).await?;
        let claims = (0..6).map(|_| {
            let store = store.clone();
            async move { claim_one_queue(store.as_ref(), Some(tenant), 15, MINUTE).await }
        });
        let mut seen = HashSet::new();
        let mut total = 0;
        for result in futures::future::join_all(claims).await {
            for job in result? {
                total += 1;
                seen.insert(job.id);
            }
        }
        ensure_eq!(seen.len(), total, "a job was handed to two claims");
        ensure_eq!(total, 60, "every job was claimed once by six claims of 15");
        Ok(())
    })
}
