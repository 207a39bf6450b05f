//! The in-memory ledger: burst window, search limit, daily budget, lanes, refunds, headers.
//! Time is a manual clock, so every expectation is exact.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use dealbridge_pipedrive::ledger::{
    daily_budget_for_plan, next_reset, InMemoryLedger, LedgerConfig, ManualClock, Plan,
};
use dealbridge_pipedrive::{
    BudgetLedger, CallRequest, CompanyId, Grant, Lane, Outcome, RateHeaders, Reservation, UserId,
    WaitReason,
};

const A: CompanyId = CompanyId(1);
const B: CompanyId = CompanyId(2);
const U: UserId = UserId(10);

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

fn ledger() -> (InMemoryLedger, ManualClock) {
    let clock = ManualClock::new(start());
    (
        InMemoryLedger::with_clock(LedgerConfig::default(), Arc::new(clock.clone())),
        clock,
    )
}

fn call(company: CompanyId, lane: Lane, cost: u32) -> CallRequest {
    CallRequest {
        company,
        user: U,
        lane,
        cost,
        search: false,
    }
}

async fn granted(ledger: &InMemoryLedger, request: CallRequest) -> Reservation {
    match ledger.reserve(&request).await.unwrap() {
        Grant::Granted(r) => r,
        other => panic!("expected a grant, got {other:?}"),
    }
}

async fn waits(ledger: &InMemoryLedger, request: CallRequest) -> (DateTime<Utc>, WaitReason) {
    match ledger.reserve(&request).await.unwrap() {
        Grant::WaitUntil { until, reason } => (until, reason),
        other => panic!("expected a wait, got {other:?}"),
    }
}

#[tokio::test]
async fn burst_window_admits_the_limit_then_opens_as_sends_age_out() {
    let (ledger, clock) = ledger();
    for _ in 0..80 {
        granted(&ledger, call(A, Lane::Interactive, 1)).await;
    }
    let (until, reason) = waits(&ledger, call(A, Lane::Interactive, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow);
    assert_eq!(until, start() + chrono::Duration::seconds(2));
    clock.advance(Duration::from_millis(1_999));
    waits(&ledger, call(A, Lane::Interactive, 1)).await;
    clock.advance(Duration::from_millis(1));
    granted(&ledger, call(A, Lane::Interactive, 1)).await;
    // Another user of the same company has a window of its own.
    let other_user = CallRequest {
        user: UserId(11),
        ..call(A, Lane::Interactive, 1)
    };
    granted(&ledger, other_user).await;
}

#[tokio::test]
async fn bulk_may_fill_only_its_share_of_the_burst_window() {
    let (ledger, _clock) = ledger();
    for _ in 0..60 {
        granted(&ledger, call(A, Lane::Bulk, 1)).await;
    }
    let (_, reason) = waits(&ledger, call(A, Lane::Bulk, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow);
    for _ in 0..20 {
        granted(&ledger, call(A, Lane::Interactive, 1)).await;
    }
    waits(&ledger, call(A, Lane::Webhook, 1)).await;
}

#[tokio::test]
async fn searches_have_their_own_smaller_window() {
    let (ledger, clock) = ledger();
    let search = CallRequest {
        search: true,
        ..call(A, Lane::Interactive, 20)
    };
    for _ in 0..10 {
        granted(&ledger, search).await;
    }
    let (until, reason) = waits(&ledger, search).await;
    assert_eq!(reason, WaitReason::SearchWindow);
    assert_eq!(until, start() + chrono::Duration::seconds(2));
    granted(&ledger, call(A, Lane::Interactive, 1)).await;
    clock.advance(Duration::from_secs(2));
    granted(&ledger, search).await;

    // Bulk searches may fill 7 of the 10 slots of a fresh window.
    let bulk_search = CallRequest {
        user: UserId(12),
        lane: Lane::Bulk,
        ..search
    };
    for _ in 0..7 {
        granted(&ledger, bulk_search).await;
    }
    assert_eq!(
        waits(&ledger, bulk_search).await.1,
        WaitReason::SearchWindow
    );
}

#[tokio::test]
async fn daily_budget_stops_everyone_until_the_reset() {
    let (ledger, clock) = ledger();
    ledger.set_daily_limit(A, Some(100)).await.unwrap();
    for _ in 0..10 {
        granted(&ledger, call(A, Lane::Interactive, 10)).await;
    }
    let reset = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    assert_eq!(
        waits(&ledger, call(A, Lane::Interactive, 1)).await,
        (reset, WaitReason::DailyBudget)
    );
    // Company B is untouched.
    granted(&ledger, call(B, Lane::Bulk, 10)).await;
    let status = ledger.status(A).await.unwrap();
    assert_eq!(
        (status.daily_limit, status.spent, status.resets_at),
        (Some(100), 100, reset)
    );
    clock.set(reset);
    granted(&ledger, call(A, Lane::Interactive, 10)).await;
    assert_eq!(ledger.status(A).await.unwrap().spent, 10);
}

#[tokio::test]
async fn the_priority_reserve_is_kept_from_bulk_work() {
    let (ledger, _clock) = ledger();
    ledger.set_daily_limit(A, Some(1_000)).await.unwrap();
    for _ in 0..8 {
        granted(&ledger, call(A, Lane::Bulk, 100)).await;
    }
    let (until, reason) = waits(&ledger, call(A, Lane::Bulk, 1)).await;
    assert_eq!(reason, WaitReason::LaneReserve);
    assert_eq!(until, ledger.status(A).await.unwrap().resets_at);
    assert_eq!(ledger.status(A).await.unwrap().priority_reserve, 200);
    granted(&ledger, call(A, Lane::Webhook, 100)).await;
    granted(&ledger, call(A, Lane::Interactive, 100)).await;
    assert_eq!(
        waits(&ledger, call(A, Lane::Interactive, 1)).await.1,
        WaitReason::DailyBudget
    );
}

#[tokio::test]
async fn settling_refunds_only_calls_that_cost_nothing() {
    let (ledger, _clock) = ledger();
    let sent = granted(&ledger, call(A, Lane::Interactive, 10)).await;
    let unsent = granted(&ledger, call(A, Lane::Interactive, 20)).await;
    let limited = granted(&ledger, call(A, Lane::Interactive, 40)).await;
    let unknown = granted(&ledger, call(A, Lane::Interactive, 80)).await;
    assert_eq!(
        ledger.status(A).await.unwrap().spent,
        150,
        "charged at reserve time"
    );
    ledger
        .settle(sent, Outcome::Responded { status: 200 })
        .await
        .unwrap();
    ledger.settle(unsent, Outcome::NotSent).await.unwrap();
    let burst = Outcome::RateLimited {
        daily: false,
        retry_after: Some(Duration::from_secs(3)),
    };
    ledger.settle(limited, burst).await.unwrap();
    ledger.settle(unknown, Outcome::Unknown).await.unwrap();
    assert_eq!(ledger.status(A).await.unwrap().spent, 90);
    // The burst 429 paused this token for the server's Retry-After.
    let (until, reason) = waits(&ledger, call(A, Lane::Interactive, 1)).await;
    assert_eq!(
        (until, reason),
        (
            start() + chrono::Duration::seconds(3),
            WaitReason::BurstWindow
        )
    );
}

#[tokio::test]
async fn a_daily_rate_limit_exhausts_the_company_and_teaches_a_limit() {
    let (ledger, clock) = ledger();
    for _ in 0..5 {
        let r = granted(&ledger, call(A, Lane::Interactive, 100)).await;
        ledger
            .settle(r, Outcome::Responded { status: 200 })
            .await
            .unwrap();
    }
    let r = granted(&ledger, call(A, Lane::Interactive, 100)).await;
    let daily = Outcome::RateLimited {
        daily: true,
        retry_after: None,
    };
    ledger.settle(r, daily).await.unwrap();
    let status = ledger.status(A).await.unwrap();
    assert_eq!(status.exhausted_until, Some(status.resets_at));
    assert_eq!((status.daily_limit, status.learned), (Some(500), true));
    assert_eq!(
        waits(&ledger, call(A, Lane::Interactive, 1)).await.1,
        WaitReason::DailyBudget
    );

    clock.set(status.resets_at);
    // Next day: the learned limit is not a hard stop, but bulk leaves the reserve of it.
    for _ in 0..4 {
        granted(&ledger, call(A, Lane::Bulk, 100)).await;
    }
    assert_eq!(
        waits(&ledger, call(A, Lane::Bulk, 1)).await.1,
        WaitReason::LaneReserve
    );
    for _ in 0..3 {
        granted(&ledger, call(A, Lane::Interactive, 100)).await;
    }
}

#[tokio::test]
async fn headers_tighten_the_window_to_what_pipedrive_reports() {
    let (ledger, clock) = ledger();
    granted(&ledger, call(A, Lane::Interactive, 1)).await;
    // Another instance used most of the window: 40 allowed, 5 left, resets in 1 s.
    let headers = RateHeaders {
        limit: Some(40),
        remaining: Some(5),
        reset: Some(Duration::from_secs(1)),
        search: false,
        daily_requests_left: None,
    };
    ledger.observe_headers(A, U, &headers).await.unwrap();
    for _ in 0..5 {
        granted(&ledger, call(A, Lane::Interactive, 1)).await;
    }
    let (until, reason) = waits(&ledger, call(A, Lane::Interactive, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow);
    assert_eq!(until, start() + chrono::Duration::seconds(1));
    clock.advance(Duration::from_secs(1));
    granted(&ledger, call(A, Lane::Interactive, 1)).await;

    let empty = RateHeaders {
        limit: Some(40),
        remaining: Some(0),
        reset: Some(Duration::from_millis(500)),
        search: false,
        daily_requests_left: None,
    };
    ledger.observe_headers(A, U, &empty).await.unwrap();
    let (until, _) = waits(&ledger, call(A, Lane::Interactive, 1)).await;
    assert_eq!(until, start() + chrono::Duration::milliseconds(1_500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_never_overspend() {
    let (ledger, _clock) = ledger();
    let ledger = Arc::new(ledger);
    ledger.set_daily_limit(A, Some(1_000)).await.unwrap();
    // A generous burst limit so only the daily budget binds.
    let headers = RateHeaders {
        limit: Some(10_000),
        ..RateHeaders::default()
    };
    ledger.observe_headers(A, U, &headers).await.unwrap();
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                matches!(
                    ledger
                        .reserve(&call(A, Lane::Interactive, 7))
                        .await
                        .unwrap(),
                    Grant::Granted(_)
                )
            })
        })
        .collect();
    let mut grants = 0;
    for task in tasks {
        grants += usize::from(task.await.unwrap());
    }
    assert_eq!(grants, 1_000 / 7);
    assert_eq!(ledger.status(A).await.unwrap().spent, 7 * (1_000 / 7));
}

#[test]
fn resets_fall_on_midnight_of_the_configured_offset() {
    let utc = FixedOffset::east_opt(0).unwrap();
    let cet = FixedOffset::east_opt(3_600).unwrap();
    let noon = start();
    assert_eq!(
        next_reset(noon, utc),
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
    );
    assert_eq!(
        next_reset(noon, cet),
        Utc.with_ymd_and_hms(2026, 11, 29, 23, 0, 0).unwrap()
    );
    let late = Utc.with_ymd_and_hms(2026, 11, 29, 23, 30, 0).unwrap();
    assert_eq!(
        next_reset(late, cet),
        Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap()
    );
    let midnight = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    assert_eq!(
        next_reset(midnight, utc),
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    );
}

#[test]
fn plan_budgets_follow_the_published_formula() {
    assert_eq!(daily_budget_for_plan(Plan::Growth, 5, 0), 300_000);
    assert_eq!(daily_budget_for_plan(Plan::Lite, 1, 10_000), 40_000);
    assert_eq!(daily_budget_for_plan(Plan::Professional, 2, 0), 180_000);
}

#[tokio::test(start_paused = true)]
async fn the_default_clock_follows_a_paused_tokio_clock() {
    let ledger = InMemoryLedger::new(LedgerConfig::default());
    let search = CallRequest {
        search: true,
        ..call(A, Lane::Interactive, 20)
    };
    for _ in 0..10 {
        granted(&ledger, search).await;
    }
    let (until, reason) = waits(&ledger, search).await;
    assert_eq!(reason, WaitReason::SearchWindow);
    tokio::time::advance(Duration::from_millis(1_999)).await;
    waits(&ledger, search).await;
    tokio::time::advance(Duration::from_millis(1)).await;
    let r = granted(&ledger, search).await;
    assert_eq!(r.granted_at, until);
}

#[tokio::test]
async fn search_headers_fill_the_search_window_not_the_burst_window() {
    let (ledger, _clock) = ledger();
    let search = CallRequest {
        search: true,
        ..call(A, Lane::Interactive, 20)
    };
    granted(&ledger, search).await;
    let headers = RateHeaders {
        limit: Some(10),
        remaining: Some(0),
        reset: Some(Duration::from_secs(2)),
        search: true,
        daily_requests_left: None,
    };
    ledger.observe_headers(A, U, &headers).await.unwrap();
    let (until, reason) = waits(&ledger, search).await;
    assert_eq!(reason, WaitReason::SearchWindow);
    assert_eq!(until, start() + chrono::Duration::seconds(2));
    // The burst window keeps its 80 slots: 79 more plain calls fit.
    for _ in 0..79 {
        granted(&ledger, call(A, Lane::Interactive, 1)).await;
    }
    let (_, reason) = waits(&ledger, call(A, Lane::Interactive, 1)).await;
    assert_eq!(reason, WaitReason::BurstWindow);
}
