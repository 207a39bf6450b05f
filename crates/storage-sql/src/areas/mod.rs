//! The `Store` contract, one file per area, each statement written once for every `Backend`.

mod audit;
pub(crate) mod budgets;
mod event_api_secrets;
mod imports;
mod inbox;
mod installations;
mod job_days;
pub(crate) mod jobs;
mod journal;
mod maintenance;
mod mirror;
mod nonces;
mod queue_overview;
mod refusals;
mod retention;
mod session_epochs;
mod settings;
mod sign_in_failures;
mod staff;
mod store_connections;
mod tenant_directory;
mod tenants;
mod timeline;
mod tokens;
mod webhooks;
