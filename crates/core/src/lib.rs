#![doc = include_str!("../README.md")]

pub mod audit;
mod error_chain;
pub mod event;
pub mod fields;
pub mod ids;
pub mod installation;
pub mod outcome;
pub mod settings;
pub mod tenant;
pub mod workflow_settings;

pub use error_chain::ErrorChain;
pub use ids::{CompanyId, TenantId, UserId};
