//! Fault injection, set through the control API for the whole sandbox or one company. A company's
//! own setting replaces the global one.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Added latency: `fixed_ms`, plus a uniform `0..jitter_ms`, plus `slow_ms` with probability
/// `slow_rate` (a long tail).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Latency {
    pub fixed_ms: u64,
    pub jitter_ms: u64,
    pub slow_rate: f64,
    pub slow_ms: u64,
}

/// What can go wrong. Rates are probabilities in `[0, 1]`, drawn from the seeded generator.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultSpec {
    /// Probability of answering with one of `error_statuses` (default 500, 502, 503).
    pub error_rate: f64,
    pub error_statuses: Vec<u16>,
    /// Answer 429 regardless of the budgets.
    pub force_429: bool,
    pub latency: Latency,
    /// Probability of dropping the connection without applying the request.
    pub reset_rate: f64,
    /// Probability of applying a write and then dropping the connection before answering.
    pub drop_after_write_rate: f64,
    /// Every token answers 401, as if revoked.
    pub revoke_tokens: bool,
    /// Scopes treated as not granted, so operations needing them answer 403.
    pub deny_scopes: Vec<String>,
    /// The account is closed: 402 on every call.
    pub account_closed: bool,
}

#[derive(Debug, Default)]
pub struct Faults {
    pub global: FaultSpec,
    pub per_company: HashMap<u64, FaultSpec>,
}

/// What the gate does with one request, decided under the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    #[default]
    Normal,
    Status(u16),
    Reset,
    DropAfterWrite,
}

impl Faults {
    pub fn for_company(&self, company_id: u64) -> &FaultSpec {
        self.per_company.get(&company_id).unwrap_or(&self.global)
    }
}

impl FaultSpec {
    /// Draws the outcome and delay for one request; `draw` yields uniform numbers in `[0, 1)`.
    pub fn decide(&self, is_write: bool, mut draw: impl FnMut() -> f64) -> (Outcome, Duration) {
        let l = &self.latency;
        let mut ms = l.fixed_ms;
        if l.jitter_ms > 0 {
            ms += (draw() * l.jitter_ms as f64) as u64;
        }
        if l.slow_rate > 0.0 && draw() < l.slow_rate {
            ms += l.slow_ms;
        }
        let outcome = if self.force_429 {
            Outcome::Status(429)
        } else if self.reset_rate > 0.0 && draw() < self.reset_rate {
            Outcome::Reset
        } else if self.error_rate > 0.0 && draw() < self.error_rate {
            let statuses = if self.error_statuses.is_empty() {
                &[500, 502, 503][..]
            } else {
                &self.error_statuses[..]
            };
            let i = ((draw() * statuses.len() as f64) as usize).min(statuses.len() - 1);
            Outcome::Status(statuses[i])
        } else if is_write
            && self.drop_after_write_rate > 0.0
            && draw() < self.drop_after_write_rate
        {
            Outcome::DropAfterWrite
        } else {
            Outcome::Normal
        };
        (outcome, Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds fixed draws, so each branch of `decide` is checked exactly.
    fn draws(values: &[f64]) -> impl FnMut() -> f64 + '_ {
        let mut i = 0;
        move || {
            i += 1;
            values[i - 1]
        }
    }

    #[test]
    fn latency_is_fixed_plus_jitter_plus_slow_tail() {
        let latency = Latency {
            fixed_ms: 10,
            jitter_ms: 100,
            slow_rate: 0.2,
            slow_ms: 1000,
        };
        let spec = FaultSpec {
            latency,
            ..FaultSpec::default()
        };
        let (outcome, delay) = spec.decide(false, draws(&[0.5, 0.1]));
        assert_eq!(
            (outcome, delay),
            (Outcome::Normal, Duration::from_millis(1060))
        );
        let (_, delay) = spec.decide(false, draws(&[0.0, 0.9]));
        assert_eq!(delay, Duration::from_millis(10));
    }

    #[test]
    fn errors_pick_from_the_configured_statuses() {
        let spec = FaultSpec {
            error_rate: 0.5,
            error_statuses: vec![502, 503],
            ..FaultSpec::default()
        };
        assert_eq!(
            spec.decide(false, draws(&[0.4, 0.99])).0,
            Outcome::Status(503)
        );
        assert_eq!(
            spec.decide(false, draws(&[0.4, 0.0])).0,
            Outcome::Status(502)
        );
        assert_eq!(spec.decide(false, draws(&[0.6])).0, Outcome::Normal);
    }

    #[test]
    fn drop_after_write_only_applies_to_writes() {
        let spec = FaultSpec {
            drop_after_write_rate: 1.0,
            ..FaultSpec::default()
        };
        assert_eq!(spec.decide(true, draws(&[0.0])).0, Outcome::DropAfterWrite);
        assert_eq!(spec.decide(false, draws(&[])).0, Outcome::Normal);
    }
}
