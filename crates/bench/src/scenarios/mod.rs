//! The registry of scenarios. Add one by writing a module with
//! `pub async fn run(options: Options) -> anyhow::Result<Report>` and listing it in `ALL`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::report::Report;

mod budget;
mod fairness;
mod graphile;
mod http;
mod import;
mod ingest;
mod pages;
mod pipeline;
mod queue;
mod sandbox;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub duration: Duration,
    pub connections: usize,
    /// The Postgres server's URL for scenarios that need one (`ingest`, `pipeline`).
    pub url: Option<&'static str>,
    /// Back-to-back rounds for scenarios that compare with a peer (`queue`).
    pub rounds: usize,
    /// Rows of the generated file (`import`).
    pub rows: u64,
    /// The duplicate policy of `import`.
    pub policy: dealbridge_storage::DuplicatePolicy,
    /// Events and tenants of `pipeline` and `pages` (default: each one's full size).
    pub events: Option<usize>,
    pub tenants: Option<usize>,
    /// Job rows `pages` fills (default: a million).
    pub jobs: Option<u64>,
    /// Timed requests per page in `pages` (default: 500).
    pub requests: Option<usize>,
    /// `pipeline` and `import` with the mirror not known complete (searches on every miss).
    pub mirror_unknown: bool,
}

type Run = fn(Options) -> Pin<Box<dyn Future<Output = anyhow::Result<Report>>>>;

pub const ALL: &[(&str, &str, Run)] = &[
    (
        "budget",
        "50 companies' budgets through two app processes' ledgers on Postgres vs a naive client",
        |o| Box::pin(budget::run(o)),
    ),
    (
        "http",
        "/healthz requests/s of the app next to a bare actix-web handler",
        |options| Box::pin(http::run(options)),
    ),
    (
        "sandbox",
        "the sandbox's own requests/s for a GET and a POST with keep-alive",
        |options| Box::pin(sandbox::run(options)),
    ),
    (
        "queue",
        "job queue on Postgres: jobs/s with 1 and 2 worker processes, latency, CPU/job; graphile-worker's best alongside",
        queue::run,
    ),
    (
        "ingest",
        "Pipedrive webhook deliveries/s and p99 ack on Postgres: group commit vs one commit each",
        |o| Box::pin(ingest::run(o)),
    ),
    (
        "fairness",
        "tenant B's p99 behind tenant A's 20,000-job backlog over B's p99 alone; A's drain rate with B over alone",
        fairness::run,
    ),
    (
        "import",
        "CSV persons into a sandbox company through the chunk jobs on Postgres, against the burst floor",
        |o| Box::pin(import::run(o)),
    ),
    (
        "pipeline",
        "10,000 mixed events for 20 tenants end to end on Postgres: events/s, tokens/event vs the minimum, duplicates",
        |o| Box::pin(pipeline::run(o)),
    ),
    (
        "pages",
        "the tenant overview and the console's tenants list on Postgres with 1,000 tenants, 1M jobs, 1M events: p50/p99",
        |o| Box::pin(pages::run(o, pages::Db::Postgres)),
    ),
    (
        "pages-sqlite",
        "the same pages on the embedded SQLite store (filled through a scratch Postgres database)",
        |o| Box::pin(pages::run(o, pages::Db::Sqlite)),
    ),
];
