//! Worker behaviour on the embedded SQLite backend: retries, dead letters, budgets, shutdown,
//! periodic jobs and fairness. Each test gets its own database file.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use dealbridge_core::TenantId;
use dealbridge_jobs::{
    Admission, Backoff, JobContext, JobError, JobState, ManualBudget, NewJob, Registry, Worker,
};
use dealbridge_storage::{Maintenance, Store};
use dealbridge_storage_sql::SqliteStore;
use serde_json::json;

async fn store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let store = SqliteStore::connect(&url, 4).await.expect("sqlite store");
    store.migrate().await.expect("migrations");
    (Arc::new(store), dir)
}

const FAST: Backoff = Backoff {
    base: Duration::from_millis(1),
    max: Duration::from_millis(1),
};

fn counting(counter: Arc<AtomicU32>, result: fn(u32) -> Result<(), JobError>) -> Registry {
    Registry::new().handle_with("t.job", FAST, move |_ctx: JobContext| {
        let counter = counter.clone();
        async move { result(counter.fetch_add(1, Ordering::SeqCst) + 1) }
    })
}

/// Runs workers until `done` holds; retries become ready a moment after they fail.
async fn drive(store: &Arc<dyn Store>, registry: &Registry, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        Worker::builder(store.clone(), registry.clone())
            .build()
            .run_until_idle()
            .await
            .expect("worker run");
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition never held");
}

#[tokio::test]
async fn runs_every_job_once_and_deletes_it() {
    let (store, _dir) = store().await;
    let tenants: Vec<TenantId> = (0..3).map(|_| TenantId::new()).collect();
    let jobs: Vec<NewJob> = (0..300)
        .map(|n| NewJob::new("t.job", json!({ "n": n })).tenant(tenants[n % 3]))
        .collect();
    store.enqueue_batch(&jobs).await.unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let worker = Worker::builder(store.clone(), counting(runs.clone(), |_| Ok(()))).build();
    let report = worker.run_until_idle().await.unwrap();
    assert_eq!(report.completed, 300);
    assert_eq!(runs.load(Ordering::SeqCst), 300);
    for tenant in tenants {
        assert_eq!(
            store.job_counts(Some(tenant)).await.unwrap(),
            Default::default()
        );
    }
}

#[tokio::test]
async fn retries_up_to_the_limit_then_dead_with_the_error_then_retry_from_dead() {
    let (store, _dir) = store().await;
    let tenant = TenantId::new();
    let job = NewJob::new("t.job", json!({}))
        .tenant(tenant)
        .max_attempts(3);
    let id = store.enqueue(&job).await.unwrap().id();
    let runs = Arc::new(AtomicU32::new(0));
    let registry = counting(runs.clone(), |n| {
        Err(JobError::retry(format!("HTTP 503 (run {n})")))
    });
    drive(&store, &registry, || runs.load(Ordering::SeqCst) >= 3).await;
    let dead = store.dead_jobs(Some(tenant), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 503 (run 3)"));
    assert_eq!(runs.load(Ordering::SeqCst), 3, "ran past its attempt limit");

    store.retry_dead_job(Some(tenant), id).await.unwrap();
    let registry = counting(Arc::new(AtomicU32::new(0)), |_| Ok(()));
    let report = Worker::builder(store.clone(), registry)
        .build()
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(report.completed, 1);
    assert!(store.job(Some(tenant), id).await.unwrap().is_none());
}

#[tokio::test]
async fn permanent_errors_go_dead_at_once_and_panics_are_retried() {
    let (store, _dir) = store().await;
    let tenant = TenantId::new();
    let bad = store
        .enqueue(&NewJob::new("t.bad", json!({})).tenant(tenant))
        .await
        .unwrap()
        .id();
    let wild = store
        .enqueue(&NewJob::new("t.panic", json!({})).tenant(tenant))
        .await
        .unwrap()
        .id();
    let unknown = store
        .enqueue(&NewJob::new("t.new", json!({})).tenant(tenant))
        .await
        .unwrap();
    let registry = Registry::new()
        .handle("t.bad", |ctx: JobContext| async move {
            ctx.payload::<Vec<u32>>().map(|_| ())
        })
        .handle("t.panic", |_ctx: JobContext| async move {
            let fail = true;
            if fail {
                panic!("handler bug");
            }
            Ok(())
        });
    let report = Worker::builder(store.clone(), registry)
        .build()
        .run_until_idle()
        .await
        .unwrap();
    // A retry's jittered delay can be near zero, so a retried job may run again in this run.
    assert_eq!(report.dead, 1, "{report:?}");
    assert!(report.retried >= 2, "{report:?}");
    let bad = store.job(Some(tenant), bad).await.unwrap().unwrap();
    assert_eq!((bad.state, bad.attempts), (JobState::Dead, 1));
    assert!(bad.last_error.unwrap().contains("payload"));
    for id in [wild, unknown.id()] {
        let job = store.job(Some(tenant), id).await.unwrap().unwrap();
        assert_eq!(job.state, JobState::Queued, "{job:?}");
        assert!(job.attempts >= 1 && job.last_error.is_some(), "{job:?}");
    }
}

#[tokio::test]
async fn a_tenant_without_budget_holds_no_worker() {
    let (store, _dir) = store().await;
    let (broke, fine) = (TenantId::new(), TenantId::new());
    for n in 0..20 {
        store
            .enqueue(&NewJob::new("t.job", json!({ "n": n })).tenant(broke))
            .await
            .unwrap();
        store
            .enqueue(&NewJob::new("t.job", json!({ "n": n })).tenant(fine))
            .await
            .unwrap();
    }
    let budget = Arc::new(ManualBudget::default());
    budget.set(
        broke,
        Admission::WaitUntil(Utc::now() + TimeDelta::hours(1)),
    );
    budget.set(fine, Admission::Ready { allowance: 5 });
    let runs = Arc::new(AtomicU32::new(0));
    let registry = counting(runs.clone(), |_| Ok(()));
    let worker = Worker::builder(store.clone(), registry.clone())
        .budget(budget.clone())
        .build();
    let report = worker.run_until_idle().await.unwrap();
    assert_eq!(
        report.completed, 20,
        "the tenant with budget ran everything"
    );
    let waiting = store.job_counts(Some(broke)).await.unwrap();
    assert_eq!(
        (waiting.queued, waiting.running),
        (20, 0),
        "blocked jobs were claimed"
    );

    budget.clear(broke);
    let worker = Worker::builder(store.clone(), registry)
        .budget(budget)
        .build();
    assert_eq!(worker.run_until_idle().await.unwrap().completed, 20);
}

#[tokio::test]
async fn shutdown_finishes_quick_jobs_and_releases_stuck_ones_unrun() {
    let (store, _dir) = store().await;
    let tenant = TenantId::new();
    for kind in ["t.quick", "t.stuck", "t.stuck"] {
        store
            .enqueue(&NewJob::new(kind, json!({})).tenant(tenant))
            .await
            .unwrap();
    }
    let started = Arc::new(AtomicU32::new(0));
    let (s1, s2) = (started.clone(), started.clone());
    let registry = Registry::new()
        .handle("t.quick", move |_ctx: JobContext| {
            let started = s1.clone();
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .handle("t.stuck", move |_ctx: JobContext| {
            let started = s2.clone();
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    let worker = Worker::builder(store.clone(), registry)
        .shutdown_grace(Duration::from_millis(200))
        .build();
    let watched = started.clone();
    let signal = async move {
        support::wait_for("all three started", Duration::from_secs(60), || {
            watched.load(Ordering::SeqCst) == 3
        })
        .await;
    };
    let report = worker.run(signal).await.unwrap();
    assert_eq!((report.completed, report.released), (1, 2), "{report:?}");
    let counts = store.job_counts(Some(tenant)).await.unwrap();
    assert_eq!((counts.queued, counts.running), (2, 0));
    for job in store.ready_queues(Utc::now(), None, 10).await.unwrap() {
        assert_eq!(job.tenant_id, Some(tenant));
    }
}

/// `count` stores, each with its own pool, on one SQLite file: separate app instances.
async fn pools(count: usize) -> (Vec<Arc<dyn Store>>, tempfile::TempDir) {
    let (first, dir) = store().await;
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let mut stores = vec![first];
    for _ in 1..count {
        let store = SqliteStore::connect(&url, 4).await.expect("sqlite store");
        stores.push(Arc::new(store));
    }
    (stores, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_jobs_are_scheduled_once_per_slot() {
    let (stores, _dir) = pools(4).await;
    support::periodic_jobs_scheduled_once_by_concurrent_workers(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_longer_than_its_lease_runs_once_under_the_heartbeat() {
    let (stores, _dir) = pools(2).await;
    support::a_job_longer_than_its_lease_runs_once(stores).await;
}

#[tokio::test]
async fn fairness_small_tenant_behind_big_backlog_on_sqlite() {
    let (store, _dir) = store().await;
    let a_between = support::small_tenant_behind_big_backlog(store, 5_000).await;
    assert!(
        a_between <= support::OVERTAKEN,
        "A started {a_between} jobs while B's burst ran: the burst did not overtake the backlog"
    );
}

#[tokio::test]
async fn the_finish_observer_hears_each_recorded_outcome_with_its_kind() {
    let (store, _dir) = store().await;
    let tenant = TenantId::new();
    for kind in ["t.ok", "t.ok", "t.flaky", "t.broken"] {
        store
            .enqueue(&NewJob::new(kind, json!({})).tenant(tenant).max_attempts(2))
            .await
            .unwrap();
    }
    let registry = Registry::new()
        .handle("t.ok", |_ctx: JobContext| async move { Ok(()) })
        .handle_with("t.flaky", FAST, |_ctx: JobContext| async move {
            Err(JobError::retry("try later"))
        })
        .handle("t.broken", |_ctx: JobContext| async move {
            Err(JobError::permanent("never works"))
        });
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let observer: dealbridge_jobs::FinishObserver = {
        let heard = heard.clone();
        Arc::new(move |kind: &str, finished: dealbridge_jobs::Finished| {
            heard
                .lock()
                .unwrap()
                .push(format!("{kind}:{}", finished.as_str()));
        })
    };
    for _ in 0..200 {
        Worker::builder(store.clone(), registry.clone())
            .on_finished(observer.clone())
            .build()
            .run_until_idle()
            .await
            .unwrap();
        if heard.lock().unwrap().len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut heard = heard.lock().unwrap().clone();
    heard.sort();
    assert_eq!(
        heard,
        [
            "t.broken:dead",
            "t.flaky:dead",
            "t.flaky:retried",
            "t.ok:done",
            "t.ok:done"
        ]
    );
}
