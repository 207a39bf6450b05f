#![doc = include_str!("../README.md")]

mod error;
mod store;
mod tokens;

#[cfg(feature = "sqlx")]
mod sqlx_support;
#[cfg(feature = "sqlx")]
pub use sqlx_support::sqlx_error;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{BoxError, StoreError, StoreResult};
pub use store::{
    AuditLog, Installations, Maintenance, OneTimeNonces, Store, TenantSettings, Tenants,
};
pub use tokens::{IdleInstallation, InstallationKey, StaleKeyTokens, TokenUpkeep};
