//! Shared by the worker tests: a fair-share scenario that runs on either backend.

// Integration-test support runs outside `#[test]` functions, where clippy does not apply
// `allow-unwrap-in-tests` (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealbridge_core::TenantId;
use dealbridge_jobs::{JobContext, JobError, NewJob, Registry, Worker};
use dealbridge_storage::{Enqueued, Store};
use serde_json::json;

/// Who started, in start order.
#[derive(Default)]
pub struct StartLog {
    seq: AtomicU64,
    starts: Mutex<Vec<(TenantId, u64)>>,
}

impl StartLog {
    pub fn record(&self, tenant: TenantId) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        self.starts.lock().unwrap().push((tenant, seq));
    }

    pub fn count(&self, tenant: TenantId) -> usize {
        self.starts
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t == tenant)
            .count()
    }

    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Starts of `tenant` after sequence number `from` and up to `to` (inclusive).
    pub fn between(&self, tenant: TenantId, from: u64, to: u64) -> usize {
        let starts = self.starts.lock().unwrap();
        starts
            .iter()
            .filter(|(t, s)| *t == tenant && *s >= from && *s <= to)
            .count()
    }

    pub fn last(&self, tenant: TenantId) -> Option<u64> {
        let starts = self.starts.lock().unwrap();
        starts
            .iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, s)| *s)
            .max()
    }
}

/// The most of A's jobs that may start while B's burst runs: the 8 slots in flight when B arrives,
/// a claim or two before the wake-up lands, and the rest of B's last claim. Round-robin would start
/// about 100 (one of A's for each of B's), so this holds only if the burst overtakes the backlog.
pub const OVERTAKEN: usize = 70;

pub async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Tenant A queues `big` jobs and is being worked on; tenant B then queues 100. Returns how many
/// of A's jobs started between B's enqueue and B's last start. Without fairness that is nearly all
/// of A's backlog; with round-robin claims it is about B's 100 plus the jobs already in flight; with
/// claims dealt by recent use B (which has used nothing) overtakes A, so it is only what A had
/// claimed before the worker saw B's jobs and what shared B's last claim.
pub async fn small_tenant_behind_big_backlog(store: Arc<dyn Store>, big: u32) -> usize {
    let (a, b) = (TenantId::new(), TenantId::new());
    let log = Arc::new(StartLog::default());
    let handler_log = log.clone();
    let registry = Registry::new().handle("fair.work", move |ctx: JobContext| {
        let log = handler_log.clone();
        async move {
            log.record(
                ctx.tenant_id()
                    .ok_or_else(|| JobError::permanent("no tenant"))?,
            );
            // A little work, so the backlog outlasts the test's own steps.
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(())
        }
    });
    let jobs: Vec<NewJob> = (0..big)
        .map(|n| NewJob::new("fair.work", json!({ "n": n })).tenant(a))
        .collect();
    for chunk in jobs.chunks(5000) {
        store.enqueue_batch(chunk).await.unwrap();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::builder(store.clone(), registry)
        .concurrency(8)
        .build();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));

    wait_for("tenant A to be busy", Duration::from_secs(120), || {
        log.count(a) >= 200
    })
    .await;
    let small: Vec<NewJob> = (0..100)
        .map(|n| NewJob::new("fair.work", json!({ "n": n })).tenant(b))
        .collect();
    let from = log.seq();
    store.enqueue_batch(&small).await.unwrap();
    wait_for("tenant B's 100 jobs", Duration::from_secs(120), || {
        log.count(b) == 100
    })
    .await;
    let to = log.last(b).unwrap();
    let a_between = log.between(a, from, to);
    let _ = stop.send(());
    let report = running.await.unwrap().unwrap();
    assert!(report.completed >= 300, "worker report {report:?}");
    let remaining = store.job_counts(Some(a)).await.unwrap().queued;
    assert!(
        remaining > 0,
        "A's backlog ran out before B finished; the test proves nothing"
    );
    eprintln!("fairness: A started {a_between} jobs while B ran its 100 ({remaining} of A left)");
    a_between
}

/// Several workers, each on its own pool of one database, start at the same moment and each
/// schedules the registry's periodic jobs. Every kind must end up queued once, for its next slot.
pub async fn periodic_jobs_scheduled_once_by_concurrent_workers(stores: Vec<Arc<dyn Store>>) {
    let kinds = ["sys.sweep", "sys.purge", "sys.refresh"];
    let every = Duration::from_secs(3600);
    let runs = Arc::new(AtomicU64::new(0));
    let mut registry = Registry::new();
    for kind in kinds {
        let runs = runs.clone();
        registry = registry.periodic(kind, every, move |_ctx: JobContext| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
    }
    let start = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let workers: Vec<_> = stores
        .iter()
        .map(|store| {
            let worker = Worker::builder(store.clone(), registry.clone()).build();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                worker.run_until_idle().await
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
    let store = &stores[0];
    let counts = store.job_counts(None).await.unwrap();
    assert_eq!(
        (counts.queued, counts.running, counts.dead),
        (kinds.len() as u64, 0, 0),
        "{} workers at once scheduled each slot once",
        stores.len()
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "ran before its slot");
    for kind in kinds {
        let slot = dealbridge_jobs::Periodic {
            kind: kind.into(),
            every,
            lane: dealbridge_jobs::Lane::Default,
        }
        .job_after(chrono::Utc::now());
        let run_at = slot.run_at.unwrap();
        assert_eq!(run_at.timestamp() % 3600, 0);
        assert!(
            run_at > chrono::Utc::now()
                && run_at <= chrono::Utc::now() + chrono::TimeDelta::hours(1)
        );
        // Scheduling the slot once more finds the job the workers queued.
        match store.enqueue(&slot).await.unwrap() {
            Enqueued::Duplicate(id) => {
                let job = store.job(None, id).await.unwrap().unwrap();
                assert_eq!((job.kind.as_str(), job.run_at), (kind, run_at));
            }
            Enqueued::New(_) => panic!("{kind} was not scheduled by any worker"),
        }
    }
}

/// A handler that runs several leases long, with two workers on their own pools watching for
/// expired leases: the heartbeat keeps the lease alive, so the job runs exactly once. Runs are
/// counted in the handler itself; nothing absorbs a second run.
pub async fn a_job_longer_than_its_lease_runs_once(stores: Vec<Arc<dyn Store>>) {
    let lease = Duration::from_secs(1);
    let work = lease * 4;
    let (started, finished) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (s, f) = (started.clone(), finished.clone());
    let registry = Registry::new().handle("slow.job", move |_ctx: JobContext| {
        let (started, finished) = (s.clone(), f.clone());
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(work).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let tenant = TenantId::new();
    stores[0]
        .enqueue(&NewJob::new("slow.job", json!({})).tenant(tenant))
        .await
        .unwrap();
    let (stop, _) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = stores
        .iter()
        .map(|store| {
            let worker = Worker::builder(store.clone(), registry.clone())
                .lease(lease)
                .poll_interval(Duration::from_millis(50))
                .build();
            let mut stopped = stop.subscribe();
            tokio::spawn(worker.run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            }))
        })
        .collect();
    let store = stores[0].clone();
    let deadline = Instant::now() + work * 4;
    let counts = loop {
        let counts = store.job_counts(Some(tenant)).await.unwrap();
        if counts.queued + counts.running == 0 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "the job never finished: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Anything that re-claimed the job while it ran would still be running now.
    tokio::time::sleep(lease * 2).await;
    stop.send(true).unwrap();
    let mut reports = Vec::new();
    for worker in workers {
        reports.push(worker.await.unwrap().unwrap());
    }
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "a job running {work:?} under a {lease:?} lease was run again: {counts:?}, {reports:?}"
    );
    assert_eq!(counts.dead, 0, "the job went dead");
    for report in &reports {
        assert_eq!(report.lost, 0, "a result was refused: {report:?}");
    }
    assert_eq!(reports.iter().map(|r| r.completed).sum::<u64>(), 1);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}
