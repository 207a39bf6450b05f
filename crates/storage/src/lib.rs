#![doc = include_str!("../README.md")]

mod budgets;
mod error;
mod store;

#[cfg(feature = "sqlx")]
mod sqlx_support;
#[cfg(feature = "sqlx")]
pub use sqlx_support::sqlx_error;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use budgets::{from_millis, rolled_budget, to_millis};
pub use budgets::{
    BudgetFigures, Budgets, DailyBudget, SlotRelease, SlotTake, SlotsTaken, TokenTake, WindowKey,
    WindowKind,
};
pub use error::{BoxError, StoreError, StoreResult};
pub use store::{AuditLog, Installations, Maintenance, Store, TenantSettings, Tenants};
