#![doc = include_str!("../README.md")]

mod backoff;
mod budget;
mod error;
mod execute;
mod fair;
#[cfg(feature = "test-util")]
mod manual_budget;
mod prefetch;
mod registry;
mod worker;

pub use backoff::Backoff;
pub use budget::{Admission, BudgetGate, Unlimited};
pub use error::{Cause, Error, JobError};
pub use execute::{FinishObserver, Finished};
pub use fair::{deal, lane_weight, Candidate, Usage, USAGE_HALF_LIFE};
#[cfg(feature = "test-util")]
pub use manual_budget::ManualBudget;
pub use registry::{Handler, JobContext, JobKind, Periodic, Registry};
pub use worker::{Worker, WorkerBuilder, WorkerReport};

// The job rows and enqueue types live in the storage contract; re-exported so callers need one import.
pub use dealbridge_storage::{
    Enqueued, Job, JobCounts, JobFailure, JobId, JobLease, JobState, Jobs, Lane, NewJob,
};
