use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use dealbridge_core::TenantId;

use super::jobs::{claim_one_queue, job};
use super::{ensure_eq, Check, CheckFuture};
use crate::{JobCounts, JobFailure, Lane, NewJob, Store};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "queue_overview::counts_every_lane_across_tenants",
        counts_every_lane_across_tenants,
    ),
    (
        "queue_overview::capped_counts_stop_one_past_the_cap",
        capped_counts_stop_one_past_the_cap,
    ),
];

/// The capped reads the pages use: below the cap they agree with the exact ones; past it each
/// count stops at the cap plus one, per tenant and per lane; the oldest ready job stays exact.
fn capped_counts_stop_one_past_the_cap(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (a, b) = (TenantId::new(), TenantId::new());
        store
            .enqueue(&job(a, 1).run_at(Utc::now() - TimeDelta::minutes(5)))
            .await?;
        for n in 2..=6 {
            store.enqueue(&job(a, n)).await?;
        }
        store.enqueue(&job(a, 7).lane(Lane::Bulk)).await?;
        store.enqueue(&job(a, 8).lane(Lane::Bulk)).await?;
        store
            .enqueue(&job(b, 9).run_at(Utc::now() + TimeDelta::hours(1)))
            .await?;
        // A system job (no tenant).
        store
            .enqueue(&NewJob::new("test.noop", serde_json::json!({ "n": 10 })))
            .await?;
        // Three of a's default jobs run; one of them dies.
        let claimed = claim_one_queue(store.as_ref(), Some(a), 3, Duration::from_secs(60)).await?;
        ensure_eq!(claimed.len(), 3, "claimed");
        let lease = claimed
            .first()
            .and_then(|j| j.lease())
            .ok_or_else(|| anyhow::anyhow!("nothing claimed"))?;
        let failure = JobFailure {
            error: "boom".into(),
            retry_at: None,
        };
        anyhow::ensure!(store.fail_job(&lease, &failure).await?, "lease lost");

        let exact = store.job_counts(Some(a)).await?;
        ensure_eq!(
            exact,
            JobCounts {
                queued: 5,
                running: 2,
                dead: 1
            },
            "a's exact counts"
        );
        ensure_eq!(
            store.job_counts_capped(Some(a), 100).await?,
            exact,
            "under the cap"
        );
        ensure_eq!(
            store.job_counts_capped(Some(a), 2).await?,
            JobCounts {
                queued: 3,
                running: 2,
                dead: 1
            },
            "capped at 2"
        );
        ensure_eq!(
            store.job_counts_capped(None, 0).await?,
            JobCounts {
                queued: 1,
                running: 0,
                dead: 0
            },
            "system jobs, capped at 0"
        );

        let now = Utc::now();
        ensure_eq!(
            store.queue_overview_capped(now, 100).await?,
            store.queue_overview(now).await?,
            "under the cap"
        );
        let capped = store.queue_overview_capped(now, 1).await?;
        ensure_eq!(
            capped.iter().map(|l| l.lane).collect::<Vec<_>>(),
            Lane::ALL.to_vec(),
            "every lane listed, in order"
        );
        let lane = |lane: Lane| {
            capped
                .iter()
                .find(|l| l.lane == lane)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("{lane:?} missing"))
        };
        let default = lane(Lane::Default)?;
        ensure_eq!(
            default.counts,
            JobCounts {
                queued: 2,
                running: 2,
                dead: 1
            },
            "default lane, capped at 1"
        );
        let exact_default = store
            .queue_overview(now)
            .await?
            .into_iter()
            .find(|l| l.lane == Lane::Default)
            .ok_or_else(|| anyhow::anyhow!("default missing"))?;
        ensure_eq!(
            default.oldest_ready_at,
            exact_default.oldest_ready_at,
            "the oldest ready job is exact"
        );
        anyhow::ensure!(default.oldest_ready_at.is_some(), "a ready job waits");
        ensure_eq!(lane(Lane::Bulk)?.counts.queued, 2, "bulk, capped at 1");
        ensure_eq!(
            lane(Lane::Realtime)?.counts,
            JobCounts::default(),
            "realtime"
        );
        Ok(())
    })
}

fn counts_every_lane_across_tenants(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let empty = store.queue_overview(Utc::now()).await?;
        ensure_eq!(
            empty.iter().map(|l| l.lane).collect::<Vec<_>>(),
            Lane::ALL.to_vec(),
            "every lane listed"
        );
        anyhow::ensure!(
            empty
                .iter()
                .all(|l| l.counts == JobCounts::default() && l.oldest_ready_at.is_none()),
            "an empty queue has zeros: {empty:?}"
        );

        let (a, b) = (TenantId::new(), TenantId::new());
        let old = Utc::now() - TimeDelta::minutes(5);
        store.enqueue(&job(a, 1).run_at(old)).await?;
        store.enqueue(&job(b, 2)).await?;
        // Not ready yet: counted, but not as waiting.
        store
            .enqueue(&job(b, 3).run_at(Utc::now() + TimeDelta::hours(1)))
            .await?;
        store.enqueue(&job(a, 4).lane(Lane::Bulk)).await?;
        store.enqueue(&job(b, 5).lane(Lane::Bulk)).await?;
        // One of b's default jobs runs, then dies.
        let claimed = claim_one_queue(store.as_ref(), Some(b), 1, Duration::from_secs(60)).await?;
        let lease = claimed
            .first()
            .and_then(|j| j.lease())
            .ok_or_else(|| anyhow::anyhow!("nothing claimed"))?;
        store.enqueue(&job(b, 6)).await?;
        let running = claim_one_queue(store.as_ref(), Some(a), 1, Duration::from_secs(60)).await?;
        ensure_eq!(running.len(), 1, "a's default job claimed");
        let failure = JobFailure {
            error: "boom".into(),
            retry_at: None,
        };
        anyhow::ensure!(store.fail_job(&lease, &failure).await?, "lease lost");

        let overview = store.queue_overview(Utc::now()).await?;
        let lane = |lane: Lane| {
            overview
                .iter()
                .find(|l| l.lane == lane)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("{lane:?} missing"))
        };
        let default = lane(Lane::Default)?;
        ensure_eq!(
            default.counts,
            JobCounts {
                queued: 2,
                running: 1,
                dead: 1
            },
            "default lane"
        );
        anyhow::ensure!(
            default
                .oldest_ready_at
                .is_some_and(|at| at > Utc::now() - TimeDelta::minutes(1)),
            "the oldest ready default job is b's last one: {default:?}"
        );
        let bulk = lane(Lane::Bulk)?;
        ensure_eq!(bulk.counts.queued, 2, "bulk lane across tenants");
        ensure_eq!(
            lane(Lane::Realtime)?.counts,
            JobCounts::default(),
            "realtime lane"
        );
        Ok(())
    })
}
