//! Fair claiming. Each claim pass lists the queues (tenant, lane) that have ready work, asks the
//! budget gate about each tenant, and deals the free worker slots out round-robin: every admitted
//! queue gets up to its lane weight per round (capped by its budget allowance) until the slots run
//! out. A tenant with 20,000 queued jobs is one queue like any other, so it cannot crowd out a
//! tenant with ten. The deal starts after the last queue served in the previous pass, so when there
//! are more queues than slots every queue still gets its turn.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dealbridge_storage::{Lane, QueueTake, ReadyQueue, Store, StoreResult};

use crate::budget::{Admission, BudgetGate};

/// Slots per round by lane: realtime events get four for every bulk import chunk.
pub fn lane_weight(lane: Lane) -> u32 {
    match lane {
        Lane::Realtime => 4,
        Lane::Default => 2,
        Lane::Bulk => 1,
    }
}

/// Deals `slots` among `queues` (already in rotation order), each with the allowance its budget
/// grants. Pure, so the policy is unit-tested apart from any database.
pub fn deal(queues: &[(ReadyQueue, u32)], slots: u32) -> Vec<QueueTake> {
    let mut takes: Vec<QueueTake> = queues
        .iter()
        .map(|(queue, _)| QueueTake {
            queue: *queue,
            limit: 0,
        })
        .collect();
    let mut left = slots;
    loop {
        let before = left;
        for (take, (_, allowance)) in takes.iter_mut().zip(queues) {
            let share = lane_weight(take.queue.lane)
                .min(allowance - take.limit)
                .min(left);
            take.limit += share;
            left -= share;
        }
        if left == 0 || left == before {
            break;
        }
    }
    takes.retain(|take| take.limit > 0);
    takes
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
}

impl Planner {
    /// Lists ready queues again before the next claim (new jobs arrived, or a queue ran dry).
    pub fn mark_stale(&mut self) {
        self.stale = true;
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
        let mut admitted = Vec::with_capacity(self.queues.len());
        for &queue in rotated {
            if self.blocked.contains_key(&queue) {
                continue;
            }
            let Some(tenant) = queue.tenant_id else {
                admitted.push((queue, u32::MAX)); // system jobs spend no tenant's budget
                continue;
            };
            match gate.admit(tenant, queue.lane).await {
                Admission::Ready { allowance } if allowance > 0 => {
                    admitted.push((queue, allowance))
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

    fn limits(takes: &[QueueTake]) -> Vec<u32> {
        takes.iter().map(|t| t.limit).collect()
    }

    #[test]
    fn equal_queues_share_equally() {
        let queues = [
            (queue(Lane::Default), u32::MAX),
            (queue(Lane::Default), u32::MAX),
        ];
        assert_eq!(limits(&deal(&queues, 32)), vec![16, 16]);
    }

    #[test]
    fn lanes_are_weighted() {
        let queues = [
            (queue(Lane::Realtime), u32::MAX),
            (queue(Lane::Bulk), u32::MAX),
        ];
        assert_eq!(limits(&deal(&queues, 25)), vec![20, 5]);
    }

    #[test]
    fn allowance_caps_a_queue_and_the_rest_goes_to_others() {
        let queues = [(queue(Lane::Default), 3), (queue(Lane::Default), u32::MAX)];
        assert_eq!(limits(&deal(&queues, 20)), vec![3, 17]);
    }

    #[test]
    fn fewer_slots_than_queues_serves_the_first_in_rotation() {
        let queues: Vec<_> = (0..5).map(|_| (queue(Lane::Default), u32::MAX)).collect();
        let takes = deal(&queues, 4);
        assert_eq!(limits(&takes), vec![2, 2]);
        assert_eq!(takes[1].queue, queues[1].0);
    }

    #[test]
    fn nothing_to_deal() {
        assert!(deal(&[], 10).is_empty());
        assert!(deal(&[(queue(Lane::Bulk), u32::MAX)], 0).is_empty());
        assert!(deal(&[(queue(Lane::Bulk), 0)], 10).is_empty());
    }
}
