//! Worker tests against a real Postgres (`TEST_POSTGRES_URL`), each in its own schema: the crash
//! test (SIGKILL a worker process mid-batch, repeatedly), the fairness test with 20,000 jobs,
//! periodic scheduling by concurrent workers, and a job longer than its lease.
//! Listed as ignored, with the reason printed, when no database is configured.

mod crash_worker;
mod support;

use std::process::Child;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dealbridge_jobs::NewJob;
use dealbridge_storage::{Jobs, Maintenance};
use dealbridge_storage_sql::PgStore;
use libtest_mimic::{Arguments, Failed, Trial};
use rand::Rng;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

const URL_VAR: &str = "TEST_POSTGRES_URL";
const CRASH_JOBS: i64 = 3000;

struct Schema {
    url: String,
    name: String,
    store: PgStore,
}

async fn fresh_schema() -> anyhow::Result<Schema> {
    let url = std::env::var(URL_VAR)?;
    let name = format!("jobs_test_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(&url)?;
    let mut admin = sqlx::PgConnection::connect_with(&base).await?;
    admin
        .execute(format!("create schema {name}").as_str())
        .await?;
    admin.close().await?;
    let store = PgStore::connect_with(base.options([("search_path", name.as_str())]), 8).await?;
    store.migrate().await?;
    Ok(Schema { url, name, store })
}

async fn drop_schema(schema: Schema) {
    schema.store.pool().close().await;
    if let Ok(mut admin) = sqlx::PgConnection::connect(&schema.url).await {
        let _ = admin
            .execute(format!("drop schema {} cascade", schema.name).as_str())
            .await;
    }
}

fn spawn_worker(schema: &Schema) -> std::io::Result<Child> {
    crash_worker::spawn(&schema.url, &schema.name)
}

async fn scalar(schema: &Schema, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql)
        .fetch_one(schema.store.pool())
        .await?)
}

/// Kills the worker process with SIGKILL at random points in the middle of its batches, restarts
/// it, and in the end checks that every job's effect happened exactly once and no job was lost.
async fn sigkill_mid_batch_loses_nothing(schema: &Schema) -> anyhow::Result<()> {
    let pool = schema.store.pool();
    pool.execute("create table crash_effects (n bigint primary key)")
        .await?;
    pool.execute("create table crash_runs (n bigint not null)")
        .await?;
    let tenants: Vec<_> = (0..4).map(|_| dealbridge_core::TenantId::new()).collect();
    let jobs: Vec<NewJob> = (0..CRASH_JOBS)
        .map(|n| NewJob::new(crash_worker::KIND, json!({ "n": n })).tenant(tenants[n as usize % 4]))
        .collect();
    anyhow::ensure!(
        schema.store.enqueue_batch(&jobs).await? == CRASH_JOBS as u64,
        "enqueue"
    );

    let mut kills = 0;
    for round in 0..6 {
        let before = scalar(schema, "select count(*) from crash_effects").await?;
        let mut child = spawn_worker(schema)?;
        let step = rand::thread_rng().gen_range(50..250);
        let deadline = Instant::now() + Duration::from_secs(120);
        while scalar(schema, "select count(*) from crash_effects").await? < before + step {
            anyhow::ensure!(Instant::now() < deadline, "round {round}: no progress");
            anyhow::ensure!(
                child.try_wait()?.is_none(),
                "round {round}: worker exited by itself"
            );
            tokio::time::sleep(Duration::from_millis(rand::thread_rng().gen_range(5..40))).await;
        }
        child.kill()?; // SIGKILL: no shutdown, no release, leases left to expire
        child.wait()?;
        kills += 1;
    }

    let mut child = spawn_worker(schema)?;
    let deadline = Instant::now() + Duration::from_secs(180);
    while scalar(schema, "select count(*) from jobs").await? > 0 {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            child.kill()?;
            anyhow::bail!("the queue did not drain after {kills} kills");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill()?;
    child.wait()?;

    let effects = scalar(schema, "select count(*) from crash_effects").await?;
    let distinct = scalar(schema, "select count(distinct n) from crash_runs").await?;
    let runs = scalar(schema, "select count(*) from crash_runs").await?;
    let range = scalar(
        schema,
        "select count(*) from crash_effects where n >= 0 and n < 3000",
    )
    .await?;
    eprintln!("crash: {kills} kills, {CRASH_JOBS} jobs, {runs} handler runs, {effects} effects");
    anyhow::ensure!(
        effects == CRASH_JOBS && range == CRASH_JOBS,
        "effects: {effects}"
    );
    anyhow::ensure!(
        distinct == CRASH_JOBS,
        "jobs that never ran: {}",
        CRASH_JOBS - distinct
    );
    // Kills landed while jobs were in flight, so some ran twice; their effect still counts once.
    anyhow::ensure!(
        runs > CRASH_JOBS,
        "no job was interrupted ({runs} runs); kills missed"
    );
    Ok(())
}

async fn fairness_with_20000_queued(schema: &Schema) -> anyhow::Result<()> {
    let store: Arc<dyn dealbridge_storage::Store> = Arc::new(schema.store.clone());
    let a_between = support::small_tenant_behind_big_backlog(store, 20_000).await;
    // B has used nothing lately, so its burst overtakes A's backlog: A starts only what was in
    // flight or claimed before the wake-up. Round-robin would start about 100 of A's (one per B
    // job), FIFO some 19,800.
    anyhow::ensure!(
        a_between <= support::OVERTAKEN,
        "A started {a_between} jobs while B's burst ran: the burst did not overtake the backlog"
    );
    Ok(())
}

/// `count` stores with their own pools on the test's schema: separate app instances.
async fn pools(
    schema: &Schema,
    count: usize,
) -> anyhow::Result<Vec<Arc<dyn dealbridge_storage::Store>>> {
    let mut stores: Vec<Arc<dyn dealbridge_storage::Store>> = vec![Arc::new(schema.store.clone())];
    for _ in 1..count {
        let options = PgConnectOptions::from_str(&schema.url)?
            .options([("search_path", schema.name.as_str())]);
        stores.push(Arc::new(PgStore::connect_with(options, 4).await?));
    }
    Ok(stores)
}

async fn periodic_scheduled_once_by_concurrent_workers(schema: &Schema) -> anyhow::Result<()> {
    support::periodic_jobs_scheduled_once_by_concurrent_workers(pools(schema, 4).await?).await;
    Ok(())
}

async fn a_job_longer_than_its_lease_runs_once(schema: &Schema) -> anyhow::Result<()> {
    support::a_job_longer_than_its_lease_runs_once(pools(schema, 2).await?).await;
    Ok(())
}

fn trial<F>(name: &'static str, unavailable: bool, check: F) -> Trial
where
    F: for<'a> Fn(&'a Schema) -> futures::future::LocalBoxFuture<'a, anyhow::Result<()>>
        + Send
        + 'static,
{
    Trial::test(name, move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failed::from(e.to_string()))?;
        runtime.block_on(async {
            let schema = fresh_schema()
                .await
                .map_err(|e| Failed::from(format!("{e:#}")))?;
            check(&schema)
                .await
                .map_err(|e| Failed::from(format!("{e:#}")))?;
            drop_schema(schema).await; // kept for inspection when the check failed
            Ok(())
        })
    })
    .with_ignored_flag(unavailable)
}

fn main() {
    // The crash test's worker processes are this binary, started again.
    crash_worker::run_if_asked();
    let args = Arguments::from_args();
    let unavailable = std::env::var(URL_VAR).is_err();
    if unavailable {
        eprintln!("postgres worker tests SKIPPED: {URL_VAR} is not set");
    }
    let trials = vec![
        trial(
            "postgres::sigkill_mid_batch_loses_nothing",
            unavailable,
            |s| Box::pin(sigkill_mid_batch_loses_nothing(s)),
        ),
        trial("postgres::fairness_with_20000_queued", unavailable, |s| {
            Box::pin(fairness_with_20000_queued(s))
        }),
        trial(
            "postgres::periodic_scheduled_once_by_concurrent_workers",
            unavailable,
            |s| Box::pin(periodic_scheduled_once_by_concurrent_workers(s)),
        ),
        trial(
            "postgres::a_job_longer_than_its_lease_runs_once",
            unavailable,
            |s| Box::pin(a_job_longer_than_its_lease_runs_once(s)),
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
