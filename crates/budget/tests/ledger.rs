//! The store-backed ledger with two instances on one store: the daily budget, the lane reserve,
//! the burst and search windows, headers, daily 429s, refunds and figures. Time is a manual
//! clock, so every expectation is exact.
//!
//! Every test runs on SQLite and on Postgres. The Postgres trials need `TEST_POSTGRES_URL` and are
//! listed as ignored without it; they matter most for the race, which SQLite's single write lock
//! serialises.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use common::*;
use dealbridge_budget::StoreLedgerConfig;
use dealbridge_pipedrive::ledger::next_reset;
use dealbridge_pipedrive::{
    BudgetLedger, CallRequest, Grant, Lane, Outcome, RateHeaders, RefusedCall, RefusedLimit,
    WaitReason,
};
use libtest_mimic::{Arguments, Failed, Trial};

fn big_window() -> RateHeaders {
    RateHeaders {
        limit: Some(2_000),
        ..RateHeaders::default()
    }
}

async fn two_instances_racing_never_overspend_and_use_the_budget(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    pair.one.set_daily_limit(A, Some(1_000)).await.unwrap();
    pair.one.observe_headers(A, U, &big_window()).await.unwrap();
    pair.two.observe_headers(A, U, &big_window()).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let ledger = if n % 2 == 0 {
                pair.one.clone()
            } else {
                pair.two.clone()
            };
            let lane = if n % 4 == 1 {
                Lane::Webhook
            } else {
                Lane::Interactive
            };
            tokio::spawn(async move {
                let mut granted = 0u64;
                loop {
                    match ledger.reserve(&call(lane, 7)).await.unwrap() {
                        Grant::Granted(r) => {
                            granted += 1;
                            let ok = Outcome::Responded { status: 200 };
                            ledger.settle(r, ok).await.unwrap();
                        }
                        Grant::WaitUntil { reason, .. } => {
                            assert_eq!(reason, WaitReason::DailyBudget);
                            return granted;
                        }
                    }
                }
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += task.await.unwrap();
    }
    pair.one.shutdown().await.unwrap();
    pair.two.shutdown().await.unwrap();
    let status = pair.one.status(A).await.unwrap();
    assert!(
        granted * 7 <= 1_000,
        "{}: overspent: {granted} calls",
        pair.name
    );
    assert_eq!(
        status.spent,
        granted * 7,
        "{}: store and grants agree",
        pair.name
    );
    // Leases strand at most a few calls' worth per instance at the end of the day.
    assert!(granted >= 138, "{}: only {granted} of 142 calls", pair.name);
    let figures = pair.one.figures(A).await.unwrap();
    assert_eq!(figures.calls as u64, granted, "{}: figures", pair.name);
    assert_eq!(figures.tokens_spent as u64, granted * 7, "{}", pair.name);
    pair.finish().await;
}

async fn bulk_work_leaves_the_priority_reserve_and_waits_for_the_reset(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    let reset = next_reset(start(), chrono::Utc.fix());
    pair.one.set_daily_limit(A, Some(100)).await.unwrap();
    for _ in 0..8 {
        granted(&pair.one, call(Lane::Bulk, 10)).await;
    }
    assert_eq!(
        waits(&pair.two, call(Lane::Bulk, 10)).await,
        (reset, WaitReason::LaneReserve),
        "{}",
        pair.name
    );
    assert_eq!(
        waits(&pair.one, call(Lane::Bulk, 10)).await.1,
        WaitReason::LaneReserve
    );
    granted(&pair.two, call(Lane::Interactive, 10)).await;
    granted(&pair.one, call(Lane::Webhook, 10)).await;
    assert_eq!(
        waits(&pair.two, call(Lane::Interactive, 10)).await,
        (reset, WaitReason::DailyBudget),
        "{}",
        pair.name
    );
    let status = pair.two.status(A).await.unwrap();
    assert_eq!((status.spent, status.priority_reserve), (100, 20));
    assert_eq!(status.resets_at, reset);
    // The next day starts empty.
    pair.clock.set(reset);
    granted(&pair.one, call(Lane::Bulk, 10)).await;
    pair.finish().await;
}

async fn the_burst_window_is_shared_by_both_instances(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    let mut reservations = Vec::new();
    // Both instances ask until both are told to wait: 80 sends fit the default window.
    let mut open = [true, true];
    while open.iter().any(|o| *o) {
        for (i, ledger) in [&pair.one, &pair.two].into_iter().enumerate() {
            if !open[i] {
                continue;
            }
            match ledger.reserve(&call(Lane::Interactive, 1)).await.unwrap() {
                Grant::Granted(r) => reservations.push((i, r)),
                Grant::WaitUntil { reason, .. } => {
                    assert_eq!(reason, WaitReason::BurstWindow);
                    open[i] = false;
                }
            }
        }
    }
    assert_eq!(reservations.len(), 80, "{}: sends in one window", pair.name);
    pair.clock.advance(Duration::from_millis(300));
    for (i, r) in reservations {
        let ledger = if i == 0 { &pair.one } else { &pair.two };
        ledger
            .settle(r, Outcome::Responded { status: 200 })
            .await
            .unwrap();
    }
    pair.one.flush().await.unwrap();
    pair.two.flush().await.unwrap();
    // Answered at +300 ms: the sends stay in Pipedrive's window until +2.3 s. A waiting
    // caller is told to look again within a slot lease and a flush (+350 ms).
    let (until, reason) = waits(&pair.two, call(Lane::Interactive, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow, "{}", pair.name);
    assert_eq!(until, start() + chrono::Duration::milliseconds(650));
    pair.clock
        .set(start() + chrono::Duration::milliseconds(2_299));
    // Never sooner than 5 ms, so a caller cannot spin on the store.
    let (until, _) = waits(&pair.two, call(Lane::Interactive, 1)).await;
    assert_eq!(until, start() + chrono::Duration::milliseconds(2_304));
    pair.clock.advance(Duration::from_millis(1));
    granted(&pair.two, call(Lane::Interactive, 1)).await;
    pair.finish().await;
}

async fn bulk_work_fills_at_most_its_share_of_a_window(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    let small = RateHeaders {
        limit: Some(8),
        ..RateHeaders::default()
    };
    pair.one.observe_headers(A, U, &small).await.unwrap();
    for _ in 0..6 {
        granted(&pair.one, call(Lane::Bulk, 1)).await;
    }
    assert_eq!(
        waits(&pair.one, call(Lane::Bulk, 1)).await.1,
        WaitReason::BurstWindow
    );
    granted(&pair.one, call(Lane::Interactive, 1)).await;
    granted(&pair.one, call(Lane::Interactive, 1)).await;
    let (_, reason) = waits(&pair.one, call(Lane::Interactive, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow, "{}", pair.name);
    pair.finish().await;
}

/// One slot per lease, so which instance gets which slot is exact.
fn single_slots() -> StoreLedgerConfig {
    StoreLedgerConfig {
        slot_lease: 1,
        ..StoreLedgerConfig::default()
    }
}

async fn searches_have_their_own_window_and_headers(backend: Backend) {
    let pair = pair(backend, single_slots()).await;
    let search = CallRequest {
        search: true,
        ..call(Lane::Interactive, 20)
    };
    for n in 0..10 {
        let ledger = if n % 2 == 0 { &pair.one } else { &pair.two };
        granted(ledger, search).await;
    }
    let (_, reason) = waits(&pair.one, search).await;
    assert_eq!(reason, WaitReason::SearchWindow, "{}", pair.name);
    granted(&pair.one, call(Lane::Interactive, 1)).await;
    // Search headers reporting the search window do not shrink the burst window.
    let headers = RateHeaders {
        limit: Some(10),
        remaining: Some(0),
        reset: Some(Duration::from_secs(2)),
        search: true,
        daily_requests_left: None,
    };
    pair.two.observe_headers(A, U, &headers).await.unwrap();
    for _ in 0..10 {
        granted(&pair.two, call(Lane::Interactive, 1)).await;
    }
    pair.finish().await;
}

async fn headers_resize_and_block_the_window(backend: Backend) {
    let pair = pair(backend, single_slots()).await;
    let two = RateHeaders {
        limit: Some(2),
        ..RateHeaders::default()
    };
    pair.one.observe_headers(A, U, &two).await.unwrap();
    pair.two.observe_headers(A, U, &two).await.unwrap();
    granted(&pair.one, call(Lane::Interactive, 1)).await;
    granted(&pair.two, call(Lane::Interactive, 1)).await;
    let (_, reason) = waits(&pair.one, call(Lane::Interactive, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow, "{}", pair.name);

    // Pipedrive says the window of another token is spent for 1 s.
    let other = CallRequest {
        user: dealbridge_pipedrive::UserId(11),
        ..call(Lane::Interactive, 1)
    };
    let blocked = RateHeaders {
        limit: Some(80),
        remaining: Some(0),
        reset: Some(Duration::from_secs(1)),
        search: false,
        daily_requests_left: None,
    };
    pair.one
        .observe_headers(A, other.user, &blocked)
        .await
        .unwrap();
    let (until, reason) = waits(&pair.two, other).await;
    assert_eq!(reason, WaitReason::BurstWindow);
    // Asked to look again after a lease and a flush (350 ms); still blocked until 1 s.
    assert_eq!(
        until,
        start() + chrono::Duration::milliseconds(350),
        "{}",
        pair.name
    );
    pair.clock
        .set(start() + chrono::Duration::milliseconds(900));
    let (until, _) = waits(&pair.two, other).await;
    assert_eq!(
        until,
        start() + chrono::Duration::seconds(1),
        "{}",
        pair.name
    );
    pair.clock.advance(Duration::from_millis(100));
    granted(&pair.two, other).await;
    pair.finish().await;
}

async fn a_daily_429_stops_every_instance_until_the_reset_and_learns_a_limit(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    let reset = next_reset(start(), chrono::Utc.fix());
    let first = granted(&pair.one, call(Lane::Interactive, 10)).await;
    pair.one
        .settle(first, Outcome::Responded { status: 200 })
        .await
        .unwrap();
    let second = granted(&pair.one, call(Lane::Interactive, 10)).await;
    let daily = Outcome::RateLimited {
        daily: true,
        retry_after: None,
    };
    pair.one.settle(second, daily).await.unwrap();
    assert_eq!(
        waits(&pair.two, call(Lane::Interactive, 10)).await,
        (reset, WaitReason::DailyBudget),
        "{}",
        pair.name
    );
    let status = pair.two.status(A).await.unwrap();
    assert_eq!(status.exhausted_until, Some(reset));
    assert!(status.learned);
    assert_eq!(
        status.daily_limit,
        Some(10),
        "{}: the spend that was charged",
        pair.name
    );
    pair.clock.set(reset);
    granted(&pair.two, call(Lane::Interactive, 10)).await;
    pair.finish().await;
}

async fn refused_and_unsent_calls_are_refunded(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    pair.one.set_daily_limit(A, Some(30)).await.unwrap();
    let a = granted(&pair.one, call(Lane::Interactive, 10)).await;
    let b = granted(&pair.one, call(Lane::Interactive, 10)).await;
    let c = granted(&pair.one, call(Lane::Interactive, 10)).await;
    assert_eq!(
        waits(&pair.two, call(Lane::Interactive, 10)).await.1,
        WaitReason::DailyBudget
    );
    pair.one.settle(a, Outcome::NotSent).await.unwrap();
    let burst = Outcome::RateLimited {
        daily: false,
        retry_after: Some(Duration::from_millis(500)),
    };
    pair.one.settle(b, burst).await.unwrap();
    pair.one.settle(c, Outcome::Unknown).await.unwrap();
    pair.one.shutdown().await.unwrap();
    assert_eq!(pair.two.status(A).await.unwrap().spent, 10, "{}", pair.name);
    // The burst 429 blocked the token's window for 500 ms: at once where it was seen, and
    // for the other instance as soon as its own short slot lease has run out.
    let (until, reason) = waits(&pair.one, call(Lane::Interactive, 10)).await;
    assert_eq!(reason, WaitReason::BurstWindow, "{}", pair.name);
    assert_eq!(
        until,
        start() + chrono::Duration::milliseconds(350),
        "recheck"
    );
    pair.clock.advance(Duration::from_millis(300));
    let (until, reason) = waits(&pair.two, call(Lane::Interactive, 10)).await;
    assert_eq!(reason, WaitReason::BurstWindow, "{}", pair.name);
    assert_eq!(until, start() + chrono::Duration::milliseconds(500));
    pair.clock.advance(Duration::from_millis(200));
    granted(&pair.two, call(Lane::Interactive, 10)).await;
    granted(&pair.two, call(Lane::Interactive, 10)).await;
    let figures = pair.one.figures(A).await.unwrap();
    assert_eq!(
        (figures.calls, figures.rate_limited, figures.tokens_spent),
        (2, 1, 10)
    );
    pair.finish().await;
}

/// A 401 is counted with the call, in the cumulative figures and in the record of its day, so the
/// console's timeline can say when the company's token was refused.
async fn a_401_is_counted_in_the_figures_and_its_day(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    let refused = granted(&pair.one, call(Lane::Interactive, 10)).await;
    let fine = granted(&pair.one, call(Lane::Interactive, 10)).await;
    let status = |status| Outcome::Responded { status };
    pair.one.settle(refused, status(401)).await.unwrap();
    pair.one.settle(fine, status(200)).await.unwrap();
    pair.one.shutdown().await.unwrap();
    let figures = pair.one.figures(A).await.unwrap();
    assert_eq!(
        (figures.calls, figures.unauthorized, figures.rate_limited),
        (2, 1, 0),
        "{}",
        pair.name
    );
    // The flush dates its record by the wall clock; a run across midnight lands on either day.
    let today = chrono::Utc::now().date_naive();
    let company = dealbridge_core::CompanyId::new(1);
    let days = pair
        .store
        .budget_days(company, today - chrono::Duration::days(1), today)
        .await
        .unwrap();
    let per_day: i64 = days.iter().map(|d| d.unauthorized).sum();
    assert_eq!(per_day, 1, "{}", pair.name);
    pair.finish().await;
}

/// A refused call is kept as one record, and the path it is kept under has no query string, id
/// or token even when the ledger is handed a concrete one.
async fn a_refused_call_is_kept_without_query_or_token(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    let call = RefusedCall {
        company: A,
        user: U,
        at: start(),
        status: 429,
        method: "GET",
        path: "/api/v1/persons/12345/deals?api_token=tok_s3cret&term=ada%40example.com".into(),
        retry_after: Some(Duration::from_millis(1_500)),
        limit: Some(RefusedLimit::Burst),
    };
    pair.one.record_refusal(&call).await.unwrap();
    let company = dealbridge_core::CompanyId::new(1);
    let kept = pair.store.refusals(company, None, 10).await.unwrap();
    assert_eq!(kept.len(), 1, "{}", pair.name);
    let refusal = &kept[0];
    assert_eq!(refusal.path, "/api/v1/persons/{id}/deals", "{}", pair.name);
    for leak in ["?", "12345", "tok_s3cret", "api_token", "ada", "term"] {
        assert!(!refusal.path.contains(leak), "{leak:?} in {}", refusal.path);
    }
    assert_eq!(
        (refusal.status, refusal.method.as_str(), refusal.at),
        (429, "GET", start())
    );
    assert_eq!(refusal.retry_after_ms, Some(1_500));
    assert_eq!(refusal.limit.as_deref(), Some("burst"));
    pair.finish().await;
}

async fn the_reset_time_is_configurable(backend: Backend) {
    let offset = chrono::FixedOffset::east_opt(-5 * 3600).unwrap();
    let config = StoreLedgerConfig {
        ledger: dealbridge_pipedrive::ledger::LedgerConfig {
            reset_offset: offset,
            ..Default::default()
        },
        ..StoreLedgerConfig::default()
    };
    let pair = pair(backend, config).await;
    let status = pair.one.status(A).await.unwrap();
    // Noon UTC is 07:00 at -05:00; the reset is the next local midnight, 05:00 UTC.
    assert_eq!(
        status.resets_at,
        start() + chrono::Duration::hours(17),
        "{}",
        pair.name
    );
    pair.finish().await;
}

async fn unused_leased_slots_go_back_to_the_other_instance(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    let four = RateHeaders {
        limit: Some(4),
        ..RateHeaders::default()
    };
    pair.one.observe_headers(A, U, &four).await.unwrap();
    pair.two.observe_headers(A, U, &four).await.unwrap();
    // One call takes a lease of all four slots; the other instance waits, but only until
    // the lease's unused slots are due back.
    granted(&pair.one, call(Lane::Interactive, 1)).await;
    let (until, reason) = waits(&pair.two, call(Lane::Interactive, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow, "{}", pair.name);
    assert_eq!(until, start() + chrono::Duration::milliseconds(350));
    pair.clock.advance(Duration::from_millis(250));
    pair.one.flush().await.unwrap();
    for _ in 0..3 {
        granted(&pair.two, call(Lane::Interactive, 1)).await;
    }
    let (_, reason) = waits(&pair.two, call(Lane::Interactive, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow, "{}", pair.name);
    pair.finish().await;
}

use chrono::Offset as _;

async fn shutdown_returns_unused_leased_tokens_at_once(backend: Backend) {
    let pair = pair(backend, StoreLedgerConfig::default()).await;
    pair.one.set_daily_limit(A, Some(10_000)).await.unwrap();
    // A lease of four calls' worth is taken for the first call.
    let r = granted(&pair.one, call(Lane::Interactive, 5)).await;
    pair.one
        .settle(r, Outcome::Responded { status: 200 })
        .await
        .unwrap();
    // A flush keeps a lease that has not ended...
    pair.one.flush().await.unwrap();
    assert_eq!(pair.two.status(A).await.unwrap().spent, 20, "{}", pair.name);
    // ...shutdown gives back its unused part, well before its lifetime ends.
    pair.one.shutdown().await.unwrap();
    assert_eq!(pair.two.status(A).await.unwrap().spent, 5, "{}", pair.name);
    let figures = pair.two.figures(A).await.unwrap();
    assert_eq!(
        (figures.calls, figures.tokens_spent),
        (1, 5),
        "{}",
        pair.name
    );
    pair.finish().await;
}

type TestFn = fn(Backend) -> Pin<Box<dyn Future<Output = ()> + Send>>;

fn tests() -> Vec<(&'static str, TestFn)> {
    vec![
        (
            "two_instances_racing_never_overspend_and_use_the_budget",
            |b| Box::pin(two_instances_racing_never_overspend_and_use_the_budget(b)),
        ),
        (
            "bulk_work_leaves_the_priority_reserve_and_waits_for_the_reset",
            |b| Box::pin(bulk_work_leaves_the_priority_reserve_and_waits_for_the_reset(b)),
        ),
        ("the_burst_window_is_shared_by_both_instances", |b| {
            Box::pin(the_burst_window_is_shared_by_both_instances(b))
        }),
        ("bulk_work_fills_at_most_its_share_of_a_window", |b| {
            Box::pin(bulk_work_fills_at_most_its_share_of_a_window(b))
        }),
        ("searches_have_their_own_window_and_headers", |b| {
            Box::pin(searches_have_their_own_window_and_headers(b))
        }),
        ("headers_resize_and_block_the_window", |b| {
            Box::pin(headers_resize_and_block_the_window(b))
        }),
        (
            "a_daily_429_stops_every_instance_until_the_reset_and_learns_a_limit",
            |b| Box::pin(a_daily_429_stops_every_instance_until_the_reset_and_learns_a_limit(b)),
        ),
        ("refused_and_unsent_calls_are_refunded", |b| {
            Box::pin(refused_and_unsent_calls_are_refunded(b))
        }),
        ("a_401_is_counted_in_the_figures_and_its_day", |b| {
            Box::pin(a_401_is_counted_in_the_figures_and_its_day(b))
        }),
        ("a_refused_call_is_kept_without_query_or_token", |b| {
            Box::pin(a_refused_call_is_kept_without_query_or_token(b))
        }),
        ("the_reset_time_is_configurable", |b| {
            Box::pin(the_reset_time_is_configurable(b))
        }),
        ("unused_leased_slots_go_back_to_the_other_instance", |b| {
            Box::pin(unused_leased_slots_go_back_to_the_other_instance(b))
        }),
        ("shutdown_returns_unused_leased_tokens_at_once", |b| {
            Box::pin(shutdown_returns_unused_leased_tokens_at_once(b))
        }),
    ]
}

/// Runs one test on a two-thread runtime, so the racing tasks really run in parallel.
fn run(backend: Backend, test: TestFn) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("tokio runtime: {e}")))?;
    runtime.block_on(test(backend));
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let no_postgres = std::env::var(URL_VAR).is_err();
    if no_postgres {
        eprintln!("postgres ledger tests IGNORED: {URL_VAR} is not set");
    }
    let mut trials = Vec::new();
    for (name, test) in tests() {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run(Backend::Sqlite, test)
        }));
        trials.push(
            Trial::test(format!("postgres::{name}"), move || {
                run(Backend::Postgres, test)
            })
            .with_ignored_flag(no_postgres),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}
