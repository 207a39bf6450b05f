#![doc = include_str!("../README.md")]

mod backoff;
mod budget;
mod error;
mod execute;
mod fair;
mod registry;
mod worker;

pub use backoff::Backoff;
pub use budget::{Admission, BudgetGate, ManualBudget, Unlimited};
pub use error::{Error, JobError};
pub use fair::{deal, lane_weight, Candidate, Usage, USAGE_HALF_LIFE};
pub use registry::{Handler, JobContext, JobKind, Periodic, Registry};
pub use worker::{Worker, WorkerBuilder, WorkerReport};

// The job rows and enqueue types live in the storage contract; re-exported so callers need one import.
pub use dealbridge_storage::{
    Enqueued, Job, JobCounts, JobFailure, JobId, JobLease, JobState, Jobs, Lane, NewJob,
};
