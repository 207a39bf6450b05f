use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use dealbridge_core::TenantId;

use super::jobs::{claim_one_queue, job};
use super::{ensure_eq, Check, CheckFuture};
use crate::{JobCounts, JobFailure, Lane, Store};

pub(super) const CHECKS: &[(&str, Check)] = &[(
    "queue_overview::counts_every_lane_across_tenants",
    counts_every_lane_across_tenants,
)];

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
