//! How many claimed jobs a worker keeps ready beyond its free slots.
//!
//! A claim costs a round trip. When handlers finish faster than that (short jobs, a busy
//! database), a worker that claims only for its free slots leaves them idle while each claim is in
//! flight, and pays the claim's fixed cost for few jobs. Keeping some claimed jobs ready lets the
//! next claim be larger and start them the moment slots free up. But a job held ready is one a
//! later, quieter tenant's burst waits behind, so the reserve is kept only while it pays: it grows
//! while every slot was idle by the time a claim came back (the claims cannot keep up) and shrinks
//! as soon as handlers were still busy then, or a claim came back short (the queues ran dry or other
//! workers took the rest). Slow jobs (API calls) therefore keep no reserve at all; the most it can
//! ever hold is capped (`max`, the worker's concurrency by default); and jobs waiting for a slot
//! start in deal order (least recent use first, `Planner::order_ready`), so a quiet tenant's burst
//! claimed after a busy tenant's reserve still starts before it.

/// The adaptive reserve of claimed, not yet started jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefetch {
    target: usize,
    max: usize,
}

/// The first step when a reserve starts to pay: a handful, doubled from there.
const FIRST_STEP: usize = 8;

impl Prefetch {
    pub fn new(max: usize) -> Self {
        Self { target: 0, max }
    }

    /// How many claimed jobs to keep ready now.
    pub fn target(&self) -> usize {
        self.target
    }

    /// Learns from one claim: whether it got all it asked for, and whether every slot was idle
    /// when it came back.
    pub fn observe(&mut self, got_all: bool, all_slots_idle: bool) {
        self.target = if got_all && all_slots_idle {
            (self.target * 2).max(FIRST_STEP).min(self.max)
        } else {
            self.target / 2
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_empty_and_grows_while_claims_cannot_keep_up() {
        let mut reserve = Prefetch::new(64);
        assert_eq!(reserve.target(), 0);
        let mut seen = Vec::new();
        for _ in 0..5 {
            reserve.observe(true, true);
            seen.push(reserve.target());
        }
        assert_eq!(seen, vec![8, 16, 32, 64, 64]);
    }

    #[test]
    fn shrinks_when_handlers_are_busy_or_queues_run_dry() {
        let mut reserve = Prefetch::new(64);
        for _ in 0..4 {
            reserve.observe(true, true);
        }
        reserve.observe(true, false);
        assert_eq!(reserve.target(), 32);
        reserve.observe(false, true);
        assert_eq!(reserve.target(), 16);
        for _ in 0..5 {
            reserve.observe(true, false);
        }
        assert_eq!(reserve.target(), 0);
    }

    #[test]
    fn a_zero_cap_keeps_no_reserve() {
        let mut reserve = Prefetch::new(0);
        reserve.observe(true, true);
        assert_eq!(reserve.target(), 0);
    }

    #[test]
    fn a_small_cap_is_reached_at_once() {
        let mut reserve = Prefetch::new(3);
        reserve.observe(true, true);
        assert_eq!(reserve.target(), 3);
    }
}
