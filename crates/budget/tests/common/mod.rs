//! Two ledgers ("instances") on one store, each with its own connection pool: SQLite always,
//! Postgres too when `TEST_POSTGRES_URL` is set (a fresh schema per test).

#![allow(dead_code, clippy::unwrap_used)]

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use dealbridge_budget::{StoreLedger, StoreLedgerConfig};
use dealbridge_pipedrive::ledger::ManualClock;
use dealbridge_pipedrive::{
    BudgetLedger, CallRequest, CompanyId, Grant, Lane, Reservation, UserId, WaitReason,
};
use dealbridge_storage::Store;
use dealbridge_storage_sql::{PgStore, SqliteStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

pub const A: CompanyId = CompanyId(1);
pub const U: UserId = UserId(10);

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

pub struct Pair {
    pub name: &'static str,
    pub one: Arc<StoreLedger>,
    pub two: Arc<StoreLedger>,
    pub store: Arc<dyn Store>,
    pub clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
}

fn ledger(
    store: Arc<dyn Store>,
    clock: &ManualClock,
    config: &StoreLedgerConfig,
) -> Arc<StoreLedger> {
    Arc::new(StoreLedger::with_clock(
        store,
        config.clone(),
        Arc::new(clock.clone()),
    ))
}

/// SQLite, and Postgres when configured.
pub async fn pairs(config: StoreLedgerConfig) -> Vec<Pair> {
    let clock = ManualClock::new(start());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("budget.db").display());
    let first: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url, 4).await.unwrap());
    first.migrate().await.unwrap();
    let second: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url, 4).await.unwrap());
    let mut out = vec![Pair {
        name: "sqlite",
        one: ledger(first.clone(), &clock, &config),
        two: ledger(second, &clock, &config),
        store: first,
        clock,
        _dir: Some(dir),
    }];
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        let clock = ManualClock::new(start());
        let schema = format!("budget_{}", uuid::Uuid::new_v4().simple());
        let base = PgConnectOptions::from_str(&url).unwrap();
        let mut admin = sqlx::PgConnection::connect_with(&base).await.unwrap();
        admin
            .execute(format!("create schema {schema}").as_str())
            .await
            .unwrap();
        let options = base.options([("search_path", schema.as_str())]);
        let first: Arc<dyn Store> =
            Arc::new(PgStore::connect_with(options.clone(), 8).await.unwrap());
        first.migrate().await.unwrap();
        let second: Arc<dyn Store> = Arc::new(PgStore::connect_with(options, 8).await.unwrap());
        out.push(Pair {
            name: "postgres",
            one: ledger(first.clone(), &clock, &config),
            two: ledger(second, &clock, &config),
            store: first,
            clock,
            _dir: None,
        });
    } else {
        eprintln!("postgres ledger tests SKIPPED: TEST_POSTGRES_URL is not set");
    }
    out
}

pub fn call(lane: Lane, cost: u32) -> CallRequest {
    CallRequest {
        company: A,
        user: U,
        lane,
        cost,
        search: false,
    }
}

pub async fn granted(ledger: &StoreLedger, request: CallRequest) -> Reservation {
    match ledger.reserve(&request).await.unwrap() {
        Grant::Granted(r) => r,
        other => panic!("expected a grant, got {other:?}"),
    }
}

pub async fn waits(ledger: &StoreLedger, request: CallRequest) -> (DateTime<Utc>, WaitReason) {
    match ledger.reserve(&request).await.unwrap() {
        Grant::WaitUntil { until, reason } => (until, reason),
        other => panic!("expected a wait, got {other:?}"),
    }
}
