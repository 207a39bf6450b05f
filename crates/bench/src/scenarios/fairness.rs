//! `fairness`: tenant B's 100 jobs, first with the queue otherwise idle, then right after tenant A
//! queued 20,000 and got going. Every job simulates a 5 ms API call; one in-process worker with 16
//! slots runs them on Postgres (see `queue` for the database). Figures: B's p99 (enqueue to
//! finish) with A busy over B's p99 alone (`quiet_p99_ratio`: with round-robin claims B gets half
//! the slots, so about 2; dealt by recent use B overtakes A, so near 1), and A's drain rate of its
//! 20,000 with B's burst in the middle over its rate alone (`noisy_rate_ratio`: the backlog should
//! still drain at full speed).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealbridge_core::TenantId;
use dealbridge_jobs::{JobContext, JobError, Registry, Worker};
use dealbridge_storage::Jobs;
use hdrhistogram::Histogram;

use super::queue::{noop_jobs, BenchDb};
use super::Options;
use crate::report::Report;

const BIG: usize = 20_000;
const SMALL: usize = 100;
const SLOTS: usize = 16;
const WORK: Duration = Duration::from_millis(5);

/// When each of B's jobs finished, and how many of A's started and finished.
#[derive(Default)]
struct Finishes {
    small: Vec<Instant>,
    big_started: usize,
    big_done: usize,
}

pub fn run(
    _: Options,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Report>>>> {
    Box::pin(async move {
        let db = BenchDb::create().await?;
        let (a, b) = (TenantId::new(), TenantId::new());
        let finishes = Arc::new(Mutex::new(Finishes::default()));
        let record = finishes.clone();
        let registry = Registry::new().handle("bench.noop", move |ctx: JobContext| {
            let record = record.clone();
            async move {
                let small = ctx.tenant_id() == Some(b);
                if !small {
                    record
                        .lock()
                        .map_err(|_| JobError::permanent("poisoned"))?
                        .big_started += 1;
                }
                tokio::time::sleep(WORK).await;
                let mut finishes = record.lock().map_err(|_| JobError::permanent("poisoned"))?;
                if small {
                    finishes.small.push(Instant::now());
                } else {
                    finishes.big_done += 1;
                }
                Ok(())
            }
        });
        let worker = Worker::builder(Arc::new(db.store.clone()), registry)
            .concurrency(SLOTS)
            .build();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;

        // One unmeasured burst first: the pool opens its connections and prepares its statements
        // on first use, and that cold start is not what "alone" means.
        small_batch(&db, b, &finishes).await?;
        let alone = small_batch(&db, b, &finishes).await?;
        // A alone: its whole backlog, for the rate to compare with.
        let big_started = Instant::now();
        enqueue_big(&db, a, &finishes).await?;
        wait_until(&finishes, |f| f.big_done >= BIG, "A's backlog alone").await?;
        let rate_alone = BIG as f64 / big_started.elapsed().as_secs_f64();

        // A again, and B's burst once A has got going.
        let big_started = Instant::now();
        enqueue_big(&db, a, &finishes).await?;
        wait_until(&finishes, |f| f.big_started >= 200, "A to get going").await?;
        let busy = small_batch(&db, b, &finishes).await?;
        let a_left = db.store.job_counts(Some(a)).await?.queued;
        wait_until(&finishes, |f| f.big_done >= BIG, "A's backlog with B").await?;
        let rate_busy = BIG as f64 / big_started.elapsed().as_secs_f64();
        let _ = stop.send(());
        running.await??;
        db.drop().await?;
        anyhow::ensure!(
            a_left > 0,
            "A's backlog drained before B finished; nothing was measured"
        );

        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let ratio = ms(&busy, 0.99) / ms(&alone, 0.99);
        let mut report = Report::new("fairness");
        report.row(
            "setup",
            format!("B: {SMALL} jobs; A: {BIG} jobs; {SLOTS} slots; 5 ms per job"),
        );
        report.row(
            "B alone p50 / p99",
            format!("{:.1} / {:.1} ms", ms(&alone, 0.5), ms(&alone, 0.99)),
        );
        report.row(
            "B with A busy p50 / p99",
            format!("{:.1} / {:.1} ms", ms(&busy, 0.5), ms(&busy, 0.99)),
        );
        report.row("A still queued after B", a_left.to_string());
        report.row(
            "A drain alone / with B",
            format!("{rate_alone:.0} / {rate_busy:.0} jobs/s"),
        );
        report.figure("quiet_p99_ratio", ratio, format!("{ratio:.2}x"));
        let rate_ratio = rate_busy / rate_alone;
        report.figure("noisy_rate_ratio", rate_ratio, format!("{rate_ratio:.3}x"));
        Ok(report)
    })
}

/// Queues A's backlog, with A's counters reset.
async fn enqueue_big(
    db: &BenchDb,
    a: TenantId,
    finishes: &Arc<Mutex<Finishes>>,
) -> anyhow::Result<()> {
    if let Ok(mut f) = finishes.lock() {
        f.big_started = 0;
        f.big_done = 0;
    }
    for chunk in noop_jobs(&[a], BIG).chunks(5000) {
        db.store.enqueue_batch(chunk).await?;
    }
    Ok(())
}

/// Polls until `done` holds, for at most two minutes.
async fn wait_until(
    finishes: &Arc<Mutex<Finishes>>,
    done: impl Fn(&Finishes) -> bool,
    what: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !finishes.lock().map(|f| done(&f)).unwrap_or(false) {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Enqueues B's batch and waits for it; latency of each job is enqueue to handler end.
async fn small_batch(
    db: &BenchDb,
    b: TenantId,
    finishes: &Arc<Mutex<Finishes>>,
) -> anyhow::Result<Histogram<u64>> {
    if let Ok(mut f) = finishes.lock() {
        f.small.clear();
    }
    let enqueued = Instant::now();
    db.store.enqueue_batch(&noop_jobs(&[b], SMALL)).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while finishes.lock().map(|f| f.small.len()).unwrap_or(0) < SMALL {
        anyhow::ensure!(Instant::now() < deadline, "tenant B's jobs did not finish");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut histogram = Histogram::<u64>::new(3)?;
    for at in finishes
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .small
        .iter()
    {
        histogram.record(at.duration_since(enqueued).as_micros() as u64)?;
    }
    Ok(histogram)
}
