//! `/metrics`: Dealbridge's figures in Prometheus' text format, served on an address of their own
//! (the app binds `DEALBRIDGE_METRICS_LISTEN`) so they never face the public internet.
//!
//! Two kinds of figures: events counted as they happen ([`Metrics`]: HTTP requests, job outcomes,
//! webhook deliveries) and figures that already live elsewhere and are read at scrape time
//! ([`MetricsExporter`]: the Pipedrive client's per-company counters, the vault's refreshes, the
//! queue's depth). The recorder is local to each app, not global: several apps in one process
//! (the tests) each export their own figures.

mod companies;
mod exporter;
mod http;
mod recorder;

pub use companies::{Ranked, DEFAULT_MAX_COMPANIES, OTHER_COMPANIES};
pub use exporter::{serve, MetricsExporter};
pub use http::record_requests;
pub use recorder::{Metrics, WebhookOutcome};
