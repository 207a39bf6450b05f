//! The ledger run: two app processes (this one and a peer, see `peer`), each with its own
//! Postgres pool, store-backed ledger and Pipedrive client, each working half of every company's
//! backlog, so both spend from the same budgets at once.

use std::sync::Arc;
use std::time::Instant;

use dealbridge_pipedrive::{BudgetLedger, CompanyId};
use dealbridge_sandbox::Control;
use sqlx::postgres::PgConnectOptions;

use super::instance::{Instance, InstanceFigures};
use super::peer::Peer;
use super::{deadline, measure, Company, RunResult};

/// Where the peer process finds the bench's database and sandbox.
pub(super) struct Shared<'a> {
    pub options: PgConnectOptions,
    pub postgres_url: &'a str,
    pub schema: &'a str,
    pub sandbox_url: &'a str,
}

pub(super) async fn run(
    companies: &[Arc<Company>],
    shared: Shared<'_>,
    control: &Control,
) -> anyhow::Result<RunResult> {
    let instance = Instance::connect(shared.options, shared.sandbox_url, true).await?;
    // The plan and seats are known, so the limit is configured once for everyone.
    for c in companies {
        instance
            .ledger
            .set_daily_limit(CompanyId(c.id), Some(c.budget))
            .await?;
    }
    let store = instance.store.clone();
    let mut peer = Peer::start(
        companies,
        shared.postgres_url,
        shared.schema,
        shared.sandbox_url,
    )
    .await?;
    let started = Instant::now();
    peer.go()?;
    let (pid, here) = (peer.pid, instance.work(companies, deadline()).await?);
    let there = peer.finish().await?;
    let elapsed = started.elapsed();
    let mut figures = here;
    figures += there;
    let InstanceFigures {
        done: _,
        deferred,
        errors,
        rate_limited,
        waited,
    } = figures;
    let persisted = store.budget_figures_all().await?;
    let mut result = measure(companies, control, elapsed)?;
    result.notes = vec![
        (
            "jobs done per process".into(),
            format!(
                "{} in this process, {} in the peer process (pid {pid})",
                here.done, there.done
            ),
        ),
        (
            "client figures".into(),
            format!(
                "{rate_limited} 429s seen, {:.0} s waited for windows in total, {deferred} jobs deferred to the reset, {errors} errors",
                waited.as_secs_f64(),
            ),
        ),
        (
            "ledger figures in the store".into(),
            format!(
                "{} companies, {} calls, {} tokens",
                persisted.len(),
                persisted.iter().map(|(_, f)| f.calls).sum::<i64>(),
                persisted.iter().map(|(_, f)| f.tokens_spent).sum::<i64>()
            ),
        ),
    ];
    Ok(result)
}
