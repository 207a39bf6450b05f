//! The worker process of the crash test: the Postgres test binary runs itself again with
//! [`SCHEMA_VAR`] set, and then runs the `crash.effect` job kind against that schema until killed.
//! Living in the test (not as a binary of the crate) keeps the queue free of any concrete backend.
//! The handler's effect is idempotent (a keyed insert), as every real handler must be; a separate,
//! non-idempotent insert counts how often handlers started, so the test can see that kills really
//! interrupted jobs in flight.

use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dealbridge_jobs::{JobContext, JobError, Registry, Worker};
use dealbridge_storage_sql::PgStore;
use rand::Rng;
use sqlx::postgres::PgConnectOptions;

pub const KIND: &str = "crash.effect";

/// Set (to the schema) in the environment of the worker process, with [`URL_VAR`] for the database.
const SCHEMA_VAR: &str = "DEALBRIDGE_CRASH_WORKER_SCHEMA";
const URL_VAR: &str = "DEALBRIDGE_CRASH_WORKER_URL";

/// Starts this test binary again as a crash worker on `schema` of the database at `url`.
pub fn spawn(url: &str, schema: &str) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .env(URL_VAR, url)
        .env(SCHEMA_VAR, schema)
        .stdout(Stdio::null())
        .spawn()
}

/// When this process was started by [`spawn`], runs the worker until killed and exits; otherwise
/// returns, and the binary runs its tests.
pub fn run_if_asked() {
    let (Ok(url), Ok(schema)) = (std::env::var(URL_VAR), std::env::var(SCHEMA_VAR)) else {
        return;
    };
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(work(&url, &schema)));
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("crash worker: {e:#}");
            std::process::exit(1)
        }
    }
}

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

async fn work(url: &str, schema: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url)?.options([("search_path", schema)]);
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
    let report = worker.run(std::future::pending()).await?;
    println!("{report:?}");
    Ok(())
}
