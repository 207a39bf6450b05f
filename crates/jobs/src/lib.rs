#![doc = include_str!("../README.md")]

mod backoff;
mod budget;
mod error;
mod fair;
mod registry;

pub use backoff::Backoff;
pub use budget::{Admission, BudgetGate, ManualBudget, Unlimited};
pub use error::{Error, JobError};
pub use fair::{deal, lane_weight};
pub use registry::{Handler, JobContext, JobKind, Periodic, Registry};
