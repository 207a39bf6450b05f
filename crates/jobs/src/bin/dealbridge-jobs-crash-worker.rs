//! A worker process for the crash test (`tests/postgres.rs`): runs the `crash.effect` job kind
//! against one schema of a Postgres database until killed, or with `--until-idle` until the queue
//! is drained. The handler's effect is idempotent (a keyed insert), as every real handler must be;
//! a separate, non-idempotent insert counts how often handlers started, so the test can see that
//! kills really interrupted jobs in flight.
//!
//! Usage: `dealbridge-jobs-crash-worker DATABASE_URL SCHEMA [--until-idle]`

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dealbridge_jobs::{JobContext, JobError, Registry, Worker};
use dealbridge_storage_sql::PgStore;
use rand::Rng;
use sqlx::postgres::PgConnectOptions;

pub const KIND: &str = "crash.effect";

async fn effect(store: PgStore, ctx: JobContext) -> Result<(), JobError> {
    let n = ctx.job.payload["n"]
        .as_i64()
        .ok_or_else(|| JobError::permanent("payload without n"))?;
    sqlx::query("insert into crash_runs (n) values ($1)")
        .bind(n)
        .execute(store.pool())
        .await
        .map_err(JobError::retry)?;
    let pause = rand::thread_rng().gen_range(1..15);
    tokio::time::sleep(Duration::from_millis(pause)).await;
    sqlx::query("insert into crash_effects (n) values ($1) on conflict (n) do nothing")
        .bind(n)
        .execute(store.pool())
        .await
        .map_err(JobError::retry)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(schema)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: dealbridge-jobs-crash-worker DATABASE_URL SCHEMA [--until-idle]");
    };
    let until_idle = args.iter().any(|a| a == "--until-idle");
    let options = PgConnectOptions::from_str(url)?.options([("search_path", schema.as_str())]);
    let store = PgStore::connect_with(options, 8)
        .await
        .context("connecting")?;
    let handler_store = store.clone();
    let registry = Registry::new().handle(KIND, move |ctx: JobContext| {
        let store = handler_store.clone();
        async move { effect(store, ctx).await }
    });
    let worker = Worker::builder(Arc::new(store), registry)
        .concurrency(8)
        .batch_size(16)
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(200))
        .build();
    let report = if until_idle {
        worker.run_until_idle().await?
    } else {
        worker.run(std::future::pending()).await?
    };
    println!("{report:?}");
    Ok(())
}
