//! Fair claiming. Each claim pass lists the queues (tenant, lane) that have ready work, asks the
//! budget gate about each tenant, and deals the free worker slots out by recent use: every slot goes
//! to the admitted queue that has used the least lately (jobs claimed, decayed with a half-life of
//! [`USAGE_HALF_LIFE`], divided by its lane weight), capped by its budget allowance. This is
//! max-min fairness over a sliding window (virtual time with history): a tenant that sends a burst
//! of 100 jobs behind another's 20,000-job backlog has used little, so its burst takes the slots as
//! they free up and finishes nearly as fast as alone, while the backlog keeps every slot the burst
//! does not need. Two busy queues converge to equal use, so they share equally. Ties (new queues,
//! equal use) go in rotation order, starting after the last queue served in the previous pass, so
//! when there are more queues than slots every queue still gets its turn.
//!
//! The history is per worker process: with several instances each deals by what it has seen,
//! which approximates the global picture because every instance claims from the same mix.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dealbridge_storage::{Job, Lane, QueueTake, ReadyQueue, Store, StoreResult};

use crate::budget::{Admission, BudgetGate};

/// Slots per round by lane: realtime events get four for every bulk import chunk.
pub fn lane_weight(lane: Lane) -> u32 {
    match lane {
        Lane::Realtime => 4,
        Lane::Default => 2,
        Lane::Bulk => 1,
    }
}

/// How fast a queue's recent use is forgotten: a tenant that flooded the queue a minute ago is
/// treated almost like a quiet one, one that is flooding it now is served after quieter ones.
pub const USAGE_HALF_LIFE: Duration = Duration::from_secs(10);

/// A queue that may be dealt slots in this pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub queue: ReadyQueue,
    /// The most slots its budget grants now.
    pub allowance: u32,
    /// Jobs it claimed recently, decayed (see [`Usage`]).
    pub recent: f64,
}

/// A candidate's place in the deal: its use including the slots dealt so far, over its weight.
/// Lower goes first; ties go to the earlier candidate (rotation order).
#[derive(Debug, PartialEq)]
struct Turn {
    virtual_use: f64,
    index: usize,
}

impl Eq for Turn {}

impl Ord for Turn {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and the least-used candidate must come out first.
        other
            .virtual_use
            .total_cmp(&self.virtual_use)
            .then_with(|| other.index.cmp(&self.index))
    }
}

impl PartialOrd for Turn {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Deals `slots` among `candidates` (already in rotation order): one slot at a time to the
/// candidate with the least weighted use, counting the slots it was dealt in this pass. Pure, so
/// the policy is unit-tested apart from any database.
pub fn deal(candidates: &[Candidate], slots: u32) -> Vec<QueueTake> {
    let mut takes: Vec<QueueTake> = candidates
        .iter()
        .map(|c| QueueTake {
            queue: c.queue,
            limit: 0,
        })
        .collect();
    let weight = |i: usize| f64::from(lane_weight(candidates[i].queue.lane));
    let mut turns: BinaryHeap<Turn> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.allowance > 0)
        .map(|(index, c)| Turn {
            virtual_use: c.recent.max(0.0) / weight(index),
            index,
        })
        .collect();
    let mut left = slots;
    while left > 0 {
        let Some(turn) = turns.pop() else { break };
        let take = &mut takes[turn.index];
        take.limit += 1;
        left -= 1;
        if take.limit < candidates[turn.index].allowance {
            turns.push(Turn {
                virtual_use: turn.virtual_use + 1.0 / weight(turn.index),
                index: turn.index,
            });
        }
    }
    takes.retain(|take| take.limit > 0);
    takes
}

/// Each queue's recent use: jobs claimed, halved every [`USAGE_HALF_LIFE`]. Entries that have
/// decayed to nearly nothing are dropped, so the map holds only queues active lately.
#[derive(Debug, Default)]
pub struct Usage {
    recent: HashMap<ReadyQueue, f64>,
}

impl Usage {
    /// Ages every entry by `elapsed`.
    pub fn decay(&mut self, elapsed: Duration) {
        let factor = 0.5f64.powf(elapsed.as_secs_f64() / USAGE_HALF_LIFE.as_secs_f64());
        self.recent.retain(|_, used| {
            *used *= factor;
            *used >= 0.01
        });
    }

    pub fn charge(&mut self, queue: ReadyQueue, jobs: u32) {
        *self.recent.entry(queue).or_default() += f64::from(jobs);
    }

    pub fn of(&self, queue: &ReadyQueue) -> f64 {
        self.recent.get(queue).copied().unwrap_or(0.0)
    }
}

/// How long a worker reuses its list of ready queues while claims keep getting what they ask
/// for. Listing costs a round trip per claim otherwise; a new job wakes the worker and a short
/// claim marks the list stale, so new tenants are seen at once.
const RELIST: std::time::Duration = std::time::Duration::from_millis(50);

/// The claim-side state of one worker: the listed queues, rotation cursor, and tenants known to
/// be out of budget.
#[derive(Debug, Default)]
pub(crate) struct Planner {
    queues: Vec<ReadyQueue>,
    listed_at: Option<std::time::Instant>,
    stale: bool,
    /// When the last listing was full (more queues than fit), the next one pages on from here.
    page_after: Option<ReadyQueue>,
    cursor: Option<ReadyQueue>,
    blocked: HashMap<ReadyQueue, DateTime<Utc>>,
    usage: Usage,
    decayed_at: Option<Instant>,
}

impl Planner {
    /// Lists ready queues again before the next claim (new jobs arrived, or a queue ran dry).
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Counts what a claim actually took (a queue may have had fewer ready jobs than it was dealt).
    pub fn charge(&mut self, claimed: &[Job]) {
        for job in claimed {
            let queue = ReadyQueue {
                tenant_id: job.tenant_id,
                lane: job.lane,
            };
            self.usage.charge(queue, 1);
        }
    }

    /// Puts claimed jobs that wait for a slot in deal order: least weighted recent use first, so
    /// a quiet tenant's burst claimed just now starts before a busy tenant's reserve claimed
    /// earlier. Stable, so each queue keeps its own claim order.
    pub fn order_ready(&self, ready: &mut [Job]) {
        let weighted_use = |job: &Job| {
            let queue = ReadyQueue {
                tenant_id: job.tenant_id,
                lane: job.lane,
            };
            self.usage.of(&queue) / f64::from(lane_weight(job.lane))
        };
        ready.sort_by(|a, b| weighted_use(a).total_cmp(&weighted_use(b)));
    }

    /// The takes for the next claim, or none (with the earliest time a blocked queue reopens).
    pub async fn plan(
        &mut self,
        store: &dyn Store,
        gate: &dyn BudgetGate,
        now: DateTime<Utc>,
        slots: u32,
        max_queues: u32,
    ) -> StoreResult<(Vec<QueueTake>, Option<DateTime<Utc>>)> {
        if self.stale || self.listed_at.is_none_or(|at| at.elapsed() >= RELIST) {
            let listed = store.ready_queues(now, self.page_after, max_queues).await?;
            let full = listed.len() as u32 >= max_queues;
            self.page_after = if full { listed.last().copied() } else { None };
            self.queues = listed;
            self.listed_at = Some(std::time::Instant::now());
            self.stale = false;
        }
        // Rotate: start after the queue served last.
        let start = self
            .queues
            .iter()
            .position(|q| Some(*q) == self.cursor)
            .map_or(0, |i| i + 1);
        let rotated = self.queues[start..].iter().chain(&self.queues[..start]);
        self.blocked.retain(|_, until| *until > now);
        let now_instant = Instant::now();
        if let Some(at) = self.decayed_at {
            self.usage.decay(now_instant.duration_since(at));
        }
        self.decayed_at = Some(now_instant);
        let mut admitted = Vec::with_capacity(self.queues.len());
        for &queue in rotated {
            if self.blocked.contains_key(&queue) {
                continue;
            }
            let Some(tenant) = queue.tenant_id else {
                // System jobs spend no tenant's budget.
                admitted.push(self.candidate(queue, u32::MAX));
                continue;
            };
            match gate.admit(tenant, queue.lane).await {
                Admission::Ready { allowance } if allowance > 0 => {
                    admitted.push(self.candidate(queue, allowance))
                }
                Admission::Ready { .. } => {}
                Admission::WaitUntil(until) => {
                    self.blocked.insert(queue, until);
                }
            }
        }
        let takes = deal(&admitted, slots);
        if let Some(last) = takes.last() {
            self.cursor = Some(last.queue);
        }
        Ok((takes, self.blocked.values().min().copied()))
    }

    fn candidate(&self, queue: ReadyQueue, allowance: u32) -> Candidate {
        Candidate {
            queue,
            allowance,
            recent: self.usage.of(&queue),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealbridge_core::TenantId;

    fn queue(lane: Lane) -> ReadyQueue {
        ReadyQueue {
            tenant_id: Some(TenantId::new()),
            lane,
        }
    }

    /// A candidate with no budget limit and the given recent use.
    fn used(lane: Lane, recent: f64) -> Candidate {
        Candidate {
            queue: queue(lane),
            allowance: u32::MAX,
            recent,
        }
    }

    fn fresh(lane: Lane) -> Candidate {
        used(lane, 0.0)
    }

    fn limits(takes: &[QueueTake]) -> Vec<u32> {
        takes.iter().map(|t| t.limit).collect()
    }

    #[test]
    fn equal_queues_share_equally() {
        let queues = [fresh(Lane::Default), fresh(Lane::Default)];
        assert_eq!(limits(&deal(&queues, 32)), vec![16, 16]);
    }

    #[test]
    fn lanes_are_weighted() {
        let queues = [fresh(Lane::Realtime), fresh(Lane::Bulk)];
        assert_eq!(limits(&deal(&queues, 25)), vec![20, 5]);
    }

    #[test]
    fn allowance_caps_a_queue_and_the_rest_goes_to_others() {
        let capped = Candidate {
            allowance: 3,
            ..fresh(Lane::Default)
        };
        let queues = [capped, fresh(Lane::Default)];
        assert_eq!(limits(&deal(&queues, 20)), vec![3, 17]);
    }

    #[test]
    fn fewer_slots_than_queues_serves_the_first_in_rotation() {
        let queues: Vec<_> = (0..5).map(|_| fresh(Lane::Default)).collect();
        let takes = deal(&queues, 4);
        assert_eq!(limits(&takes), vec![1, 1, 1, 1]);
        assert_eq!(takes[3].queue, queues[3].queue);
    }

    #[test]
    fn a_quiet_queue_takes_every_slot_ahead_of_a_busy_one() {
        // The busy queue comes first in rotation; its history still puts it behind.
        let queues = [used(Lane::Default, 5_000.0), fresh(Lane::Default)];
        let takes = deal(&queues, 16);
        assert_eq!(takes.len(), 1);
        assert_eq!(
            takes[0],
            QueueTake {
                queue: queues[1].queue,
                limit: 16
            }
        );
    }

    #[test]
    fn the_quiet_queue_catches_up_then_they_share() {
        // Default lane weight 2: 10 jobs of use is 5 of virtual time. The quiet queue gets 10
        // slots to catch up, then the remaining 20 alternate.
        let queues = [used(Lane::Default, 10.0), fresh(Lane::Default)];
        assert_eq!(limits(&deal(&queues, 30)), vec![10, 20]);
    }

    #[test]
    fn weights_apply_to_history_too() {
        // 40 realtime jobs weigh as much as 10 bulk jobs: equal standing, so the 4:1 split.
        let queues = [used(Lane::Realtime, 40.0), used(Lane::Bulk, 10.0)];
        assert_eq!(limits(&deal(&queues, 50)), vec![40, 10]);
    }

    #[test]
    fn nothing_to_deal() {
        assert!(deal(&[], 10).is_empty());
        assert!(deal(&[fresh(Lane::Bulk)], 0).is_empty());
        let broke = Candidate {
            allowance: 0,
            ..fresh(Lane::Bulk)
        };
        assert!(deal(&[broke], 10).is_empty());
    }

    fn running_job(tenant: TenantId, n: u64) -> Job {
        let now = Utc::now();
        Job {
            id: dealbridge_storage::JobId::new(),
            tenant_id: Some(tenant),
            kind: "t.job".into(),
            payload: serde_json::json!({ "n": n }),
            lane: Lane::Default,
            priority: 0,
            state: dealbridge_storage::JobState::Running,
            attempts: 1,
            max_attempts: 5,
            run_at: now,
            locked_until: Some(now),
            locked_by: Some("w".into()),
            lease_id: Some(dealbridge_storage::LeaseId::new()),
            last_error: None,
            unique_key: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_quiet_tenants_claimed_jobs_start_before_a_busy_tenants_reserve() {
        let (busy, quiet) = (TenantId::new(), TenantId::new());
        let mut planner = Planner::default();
        let reserve: Vec<Job> = (0..3).map(|n| running_job(busy, n)).collect();
        planner.charge(&reserve);
        let burst: Vec<Job> = (10..12).map(|n| running_job(quiet, n)).collect();
        planner.charge(&burst);
        // More of the busy tenant's use, so it is the busier one whatever the order of charges.
        planner.charge(&reserve);
        let mut ready: Vec<Job> = reserve.iter().chain(&burst).cloned().collect();
        planner.order_ready(&mut ready);
        let order: Vec<u64> = ready
            .iter()
            .map(|job| job.payload["n"].as_u64().unwrap())
            .collect();
        // The burst first; each tenant keeps its own claim order.
        assert_eq!(order, vec![10, 11, 0, 1, 2]);
    }

    #[test]
    fn usage_halves_every_half_life_and_forgets_what_is_left() {
        let (busy, quiet) = (queue(Lane::Default), queue(Lane::Default));
        let mut usage = Usage::default();
        usage.charge(busy, 1_000);
        usage.charge(quiet, 1);
        usage.decay(USAGE_HALF_LIFE);
        assert!((usage.of(&busy) - 500.0).abs() < 1e-9);
        assert!((usage.of(&quiet) - 0.5).abs() < 1e-9);
        usage.decay(USAGE_HALF_LIFE * 7);
        assert!((usage.of(&busy) - 500.0 / 128.0).abs() < 1e-9);
        // Below a hundredth of a job: dropped, so idle tenants do not accumulate.
        assert_eq!(usage.of(&quiet), 0.0);
        assert_eq!(usage.recent.len(), 1);
    }
}
