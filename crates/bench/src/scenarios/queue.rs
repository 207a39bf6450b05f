//! `queue`: the job queue on Postgres. No-op jobs per second drained by one worker process, then by
//! two (this binary re-run as a worker child, so each process has its own pool and runtime);
//! enqueue-to-start latency at a steady enqueue rate; worker CPU time per job.
//!
//! The database is `BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/dealbridge_bench`,
//! created if missing); every run uses a fresh schema and drops it at the end.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use dealbridge_core::TenantId;
use dealbridge_jobs::{JobContext, NewJob, Registry, Worker};
use dealbridge_storage::{Jobs, Maintenance};
use dealbridge_storage_sql::PgStore;
use hdrhistogram::Histogram;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

use super::{graphile, Options};
use crate::report::Report;

pub(crate) const URL_VAR: &str = "BENCH_POSTGRES_URL";
pub(crate) const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/dealbridge_bench";
/// Set (to the schema name) when this binary runs as a worker child.
const CHILD_VAR: &str = "DEALBRIDGE_BENCH_QUEUE_CHILD";
const JOBS: usize = 20_000;
const TENANTS: usize = 10;
pub(crate) const CONCURRENCY: usize = 64;

/// The drain workers' slots and the most jobs one claim takes (their free slots plus a ready
/// reserve): 128 and 1,024, the best of our side's sweep (crates/bench/README.md), unless
/// `QUEUE_CONCURRENCY` / `QUEUE_CLAIM_BATCH` say otherwise, so our side is swept as
/// graphile-worker's is (`GW_LOCAL_QUEUE`, `GW_CONCURRENCY`).
fn drain_setting() -> (usize, usize) {
    let pick = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let concurrency = pick("QUEUE_CONCURRENCY", 2 * CONCURRENCY);
    let batch = pick("QUEUE_CLAIM_BATCH", 8 * concurrency).max(concurrency);
    (concurrency, batch)
}

/// A fresh schema in the bench database, with the store migrated into it.
pub(crate) struct BenchDb {
    pub url: String,
    pub schema: String,
    pub store: PgStore,
}

impl BenchDb {
    pub async fn create() -> anyhow::Result<Self> {
        let url = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_string());
        Self::create_at(url, 8).await
    }

    /// A fresh schema in the database at `url`, its store with a pool of `pool` connections.
    pub async fn create_at(url: String, pool: u32) -> anyhow::Result<Self> {
        // Creates the database itself when missing.
        PgStore::connect(&url, 1)
            .await
            .context("connecting to the bench database")?;
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&url).await?;
        admin
            .execute(format!("create schema {schema}").as_str())
            .await?;
        admin.close().await?;
        let store = Self::connect(&url, &schema, pool).await?;
        store.migrate().await?;
        Ok(Self { url, schema, store })
    }

    pub async fn connect(url: &str, schema: &str, pool: u32) -> anyhow::Result<PgStore> {
        let options = PgConnectOptions::from_str(url)?.options([("search_path", schema)]);
        Ok(PgStore::connect_with(options, pool).await?)
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        self.store.pool().close().await;
        let mut admin = sqlx::PgConnection::connect(&self.url).await?;
        admin
            .execute(format!("drop schema {} cascade", self.schema).as_str())
            .await?;
        Ok(())
    }
}

pub(crate) fn noop_jobs(tenants: &[TenantId], count: usize) -> Vec<NewJob> {
    (0..count)
        .map(|n| {
            NewJob::new("bench.noop", serde_json::json!({ "n": n }))
                .tenant(tenants[n % tenants.len()])
        })
        .collect()
}

/// CPU time (user + system) this process has used, from `/proc/self/stat` (Linux; clock ticks
/// of 10 ms, fine over runs of seconds).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

pub fn run(
    options: Options,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Report>>>> {
    Box::pin(async move {
        match std::env::var(CHILD_VAR) {
            Ok(schema) => child(&schema).await,
            Err(_) => parent(options).await,
        }
    })
}

/// Worker child: connects, says `ready`, waits for `go` on stdin, drains the queue, and reports
/// the handler runs it counted, what the worker says it completed, and the CPU time it spent.
async fn child(schema: &str) -> anyhow::Result<Report> {
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_string());
    let store = BenchDb::connect(&url, schema, 8).await?;
    let runs = Arc::new(AtomicU64::new(0));
    let counted = runs.clone();
    let registry = Registry::new().handle("bench.noop", move |_ctx: JobContext| {
        counted.fetch_add(1, Ordering::Relaxed);
        async { Ok(()) }
    });
    // No-op handlers finish long before a claim comes back, so the worker's ready reserve grows
    // to its cap; claims up to four slots' worth amortise each claim's fixed cost (graphile-worker
    // runs its best swept local queue, 1,000, beside this).
    let (concurrency, batch) = drain_setting();
    let worker = Worker::builder(Arc::new(store), registry)
        .concurrency(concurrency)
        .batch_size(batch as u32)
        .prefetch(batch - concurrency)
        .build();
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;
    let cpu_before = cpu_time().unwrap_or_default();
    let report = worker.run_until_idle().await?;
    let cpu = cpu_time().unwrap_or_default().saturating_sub(cpu_before);
    let mut out = Report::new("queue-child");
    let runs = runs.load(Ordering::Relaxed);
    out.figure("handler_runs", runs as f64, runs.to_string());
    out.figure(
        "completed",
        report.completed as f64,
        report.completed.to_string(),
    );
    out.figure("cpu_us", cpu.as_micros() as f64, format!("{cpu:?}"));
    Ok(out)
}

struct ChildRun {
    handler_runs: f64,
    completed: f64,
    cpu_us: f64,
}

fn spawn_child(schema: &str) -> anyhow::Result<(Child, BufReader<std::process::ChildStdout>)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("queue")
        .env(CHILD_VAR, schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdout = BufReader::new(child.stdout.take().context("child stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    anyhow::ensure!(line.trim() == "ready", "worker child said {line:?}");
    Ok((child, stdout))
}

/// Drains `JOBS` queued no-op jobs with `processes` worker children; returns jobs/s and CPU/job.
async fn drain_with(
    db: &BenchDb,
    tenants: &[TenantId],
    processes: usize,
) -> anyhow::Result<(f64, f64)> {
    for chunk in noop_jobs(tenants, JOBS).chunks(5000) {
        db.store.enqueue_batch(chunk).await?;
    }
    let mut children = Vec::new();
    for _ in 0..processes {
        children.push(spawn_child(&db.schema)?);
    }
    let started = Instant::now();
    for (child, _) in &mut children {
        writeln!(child.stdin.as_mut().context("child stdin")?, "go")?;
    }
    let mut runs = Vec::new();
    for (mut child, stdout) in children {
        let output = tokio::task::spawn_blocking(move || {
            let last = stdout
                .lines()
                .map_while(Result::ok)
                .last()
                .unwrap_or_default();
            let status = child.wait();
            (last, status)
        });
        let (last, status) = output.await?;
        anyhow::ensure!(status?.success(), "worker child failed");
        let figures: serde_json::Value = serde_json::from_str(&last).context("child report")?;
        runs.push(ChildRun {
            handler_runs: figures["handler_runs"].as_f64().unwrap_or_default(),
            completed: figures["completed"].as_f64().unwrap_or_default(),
            cpu_us: figures["cpu_us"].as_f64().unwrap_or_default(),
        });
    }
    let elapsed = started.elapsed().as_secs_f64();
    let completed: f64 = runs.iter().map(|r| r.completed).sum();
    anyhow::ensure!(
        completed as usize == JOBS,
        "children completed {completed} of {JOBS}"
    );
    // The workers' own reports could count a job twice or miss one; the handlers and the table
    // cannot.
    let handler_runs: f64 = runs.iter().map(|r| r.handler_runs).sum();
    anyhow::ensure!(
        handler_runs as usize == JOBS,
        "handlers ran {handler_runs} times for {JOBS} jobs"
    );
    ensure_drained(db).await?;
    let cpu: f64 = runs.iter().map(|r| r.cpu_us).sum();
    Ok((completed / elapsed, cpu / completed))
}

/// Fails unless the jobs table is empty: every job ran to completion and was deleted.
async fn ensure_drained(db: &BenchDb) -> anyhow::Result<()> {
    let left = rows_left(db).await?;
    anyhow::ensure!(
        left == 0,
        "{left} jobs left in the jobs table after the run"
    );
    Ok(())
}

async fn rows_left(db: &BenchDb) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(db.store.pool())
        .await?)
}

/// Enqueues one job at a time at a steady rate while an in-process worker runs; measures the time
/// from enqueue to handler start.
async fn latency(
    db: &BenchDb,
    tenants: &[TenantId],
    duration: Duration,
) -> anyhow::Result<Histogram<u64>> {
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let record = histogram.clone();
    let runs = Arc::new(AtomicU64::new(0));
    let counted = runs.clone();
    let registry = Registry::new().handle("bench.noop", move |ctx: JobContext| {
        counted.fetch_add(1, Ordering::Relaxed);
        let waited = (Utc::now() - ctx.job.created_at)
            .num_microseconds()
            .unwrap_or(0);
        if let Ok(mut h) = record.lock() {
            let _ = h.record(u64::try_from(waited).unwrap_or(0));
        }
        async { Ok(()) }
    });
    let store = BenchDb::connect(&db.url, &db.schema, 8).await?;
    let worker = Worker::builder(Arc::new(store), registry)
        .concurrency(CONCURRENCY)
        .build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    let deadline = Instant::now() + duration;
    let mut n = 0;
    while Instant::now() < deadline {
        tick.tick().await;
        let job = NewJob::new("bench.noop", serde_json::json!({ "n": n }));
        db.store
            .enqueue(&job.tenant(tenants[n % tenants.len()]))
            .await?;
        n += 1;
    }
    // Until the worker has caught up (bounded, so a stuck queue fails the run instead of hanging).
    let drain_by = Instant::now() + Duration::from_secs(30);
    while rows_left(db).await? > 0 && Instant::now() < drain_by {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    running.await??;
    ensure_drained(db).await?;
    let h = histogram
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram poisoned"))?
        .clone();
    let runs = runs.load(Ordering::Relaxed);
    anyhow::ensure!(
        runs == n as u64,
        "handlers ran {runs} times for {n} enqueued jobs"
    );
    Ok(h)
}

/// Our figures from one round: a fresh schema, both drains, the latency phase.
struct Figures {
    one: f64,
    two: f64,
    p50: f64,
    p99: f64,
    cpu_per_job: f64,
}

async fn ours(options: Options) -> anyhow::Result<Figures> {
    let db = BenchDb::create().await?;
    let tenants: Vec<TenantId> = (0..TENANTS).map(|_| TenantId::new()).collect();
    let (one, cpu_per_job) = drain_with(&db, &tenants, 1).await?;
    let (two, _) = drain_with(&db, &tenants, 2).await?;
    let histogram = latency(&db, &tenants, options.duration).await?;
    db.drop().await?;
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(Figures {
        one,
        two,
        p50: ms(0.5),
        p99: ms(0.99),
        cpu_per_job,
    })
}

/// The 1-minute load average (Linux), shown next to each round: the machine is shared.
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

async fn parent(options: Options) -> anyhow::Result<Report> {
    let peer_missing = graphile::unavailable();
    let mut rounds = Vec::new();
    let mut loads = Vec::new();
    for _ in 0..options.rounds {
        loads.push(load_average());
        let figures = ours(options).await?;
        let peer = match &peer_missing {
            None => Some(graphile::run(options.duration.as_secs()).await?),
            Some(_) => None,
        };
        rounds.push((figures, peer));
    }

    let mut report = Report::new("queue");
    report.row("setup", {
        let (concurrency, batch) = drain_setting();
        format!(
            "{JOBS} no-op jobs over {TENANTS} tenants, concurrency {concurrency} per process, \
                 claims of up to {batch}"
        )
    });
    match &peer_missing {
        None => report.row("peer", format!("graphile-worker, {}", graphile::setting())),
        Some(why) => report.row("peer", format!("graphile-worker not run: {why}")),
    };
    for (n, ((ours, peer), load)) in rounds.iter().zip(&loads).enumerate() {
        report.row(
            format!("round {} (load {load:.2})", n + 1),
            format!(
                "ours {:.0} / {:.0} jobs/s, p50 {:.2} p99 {:.2} ms, {:.1} us/job",
                ours.one, ours.two, ours.p50, ours.p99, ours.cpu_per_job
            ),
        );
        if let Some(peer) = peer {
            report.row(
                "",
                format!(
                    "peer {:.0} / {:.0} jobs/s, p50 {:.2} p99 {:.2} ms, {:.1} us/job",
                    peer.jobs_per_s_1,
                    peer.jobs_per_s_2,
                    peer.p50_ms,
                    peer.p99_ms,
                    peer.cpu_us_per_job
                ),
            );
        }
    }
    let of = |pick: fn(&Figures) -> f64| median(rounds.iter().map(|(f, _)| pick(f)).collect());
    let (one, two) = (of(|f| f.one), of(|f| f.two));
    let (p50, p99, cpu) = (of(|f| f.p50), of(|f| f.p99), of(|f| f.cpu_per_job));
    let medians = if options.rounds > 1 { " (median)" } else { "" };
    report.figure(
        "jobs_per_s_1",
        one,
        format!("{one:.0} jobs/s (1 worker process){medians}"),
    );
    report.figure(
        "jobs_per_s_2",
        two,
        format!("{two:.0} jobs/s (2 worker processes){medians}"),
    );
    report.figure(
        "p50_ms",
        p50,
        format!("{p50:.2} ms enqueue to start{medians}"),
    );
    report.figure(
        "p99_ms",
        p99,
        format!("{p99:.2} ms enqueue to start{medians}"),
    );
    report.figure(
        "cpu_us_per_job",
        cpu,
        format!("{cpu:.1} us worker CPU per job{medians}"),
    );
    let peers: Vec<graphile::PeerFigures> = rounds.iter().filter_map(|(_, p)| *p).collect();
    if !peers.is_empty() {
        let of = |pick: fn(&graphile::PeerFigures) -> f64| median(peers.iter().map(pick).collect());
        let peer_one = of(|p| p.jobs_per_s_1);
        report.figure(
            "peer_jobs_per_s",
            peer_one,
            format!(
                "{peer_one:.0} jobs/s graphile-worker, 1 process{medians} (ours {:.2}x)",
                one / peer_one
            ),
        );
        let peer_two = of(|p| p.jobs_per_s_2);
        report.figure(
            "peer_jobs_per_s_2",
            peer_two,
            format!("{peer_two:.0} jobs/s graphile-worker, 2 processes{medians}"),
        );
        let (pp50, pp99) = (of(|p| p.p50_ms), of(|p| p.p99_ms));
        report.figure(
            "peer_p50_ms",
            pp50,
            format!("{pp50:.2} ms graphile-worker{medians}"),
        );
        report.figure(
            "peer_p99_ms",
            pp99,
            format!("{pp99:.2} ms graphile-worker{medians}"),
        );
        let pcpu = of(|p| p.cpu_us_per_job);
        report.figure(
            "peer_cpu_us_per_job",
            pcpu,
            format!("{pcpu:.1} us graphile-worker CPU per job{medians}"),
        );
    }
    let load = median(loads);
    report.figure(
        "load_1m",
        load,
        format!("{load:.2} (1-minute load average at round starts{medians})"),
    );
    Ok(report)
}
