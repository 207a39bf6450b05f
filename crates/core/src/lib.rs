#![doc = include_str!("../README.md")]

pub mod audit;
pub mod event;
pub mod fields;
pub mod ids;
pub mod installation;
pub mod settings;
pub mod tenant;

pub use ids::{CompanyId, TenantId, UserId};
