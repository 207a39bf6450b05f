//! Two ledgers ("instances") on one store, each with its own connection pool: a SQLite file, or a
//! fresh Postgres schema in `TEST_POSTGRES_URL`.

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
use dealbridge_storage_postgres::PgStore;
use dealbridge_storage_sqlite::SqliteStore;
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
    /// The Postgres server and the test's schema in it.
    schema: Option<(PgConnectOptions, String)>,
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

/// Where a test runs: the embedded SQLite file, or a fresh schema in `TEST_POSTGRES_URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const URL_VAR: &str = "TEST_POSTGRES_URL";

/// Two ledgers with their own pools on one fresh database of `backend`. Postgres needs
/// `TEST_POSTGRES_URL`; its trials are listed as ignored when it is unset, so this is only called
/// with it set.
pub async fn pair(backend: Backend, config: StoreLedgerConfig) -> Pair {
    let clock = ManualClock::new(start());
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("budget.db").display());
            let first: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url, 4).await.unwrap());
            first.migrate().await.unwrap();
            let second: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url, 4).await.unwrap());
            Pair {
                name: "sqlite",
                one: ledger(first.clone(), &clock, &config),
                two: ledger(second, &clock, &config),
                store: first,
                clock,
                _dir: Some(dir),
                schema: None,
            }
        }
        Backend::Postgres => {
            let url =
                std::env::var(URL_VAR).expect("postgres trials run only with TEST_POSTGRES_URL");
            let schema = format!("budget_{}", uuid::Uuid::new_v4().simple());
            let base = PgConnectOptions::from_str(&url).unwrap();
            let mut admin = sqlx::PgConnection::connect_with(&base).await.unwrap();
            admin
                .execute(format!("create schema {schema}").as_str())
                .await
                .unwrap();
            admin.close().await.unwrap();
            let options = base.clone().options([("search_path", schema.as_str())]);
            let first: Arc<dyn Store> =
                Arc::new(PgStore::connect_with(options.clone(), 8).await.unwrap());
            first.migrate().await.unwrap();
            let second: Arc<dyn Store> = Arc::new(PgStore::connect_with(options, 8).await.unwrap());
            Pair {
                name: "postgres",
                one: ledger(first.clone(), &clock, &config),
                two: ledger(second, &clock, &config),
                store: first,
                clock,
                _dir: None,
                schema: Some((base, schema)),
            }
        }
    }
}

impl Pair {
    /// Drops the Postgres schema of a test that passed (a failed one keeps it for inspection).
    pub async fn finish(self) {
        let Pair {
            one,
            two,
            store,
            schema,
            ..
        } = self;
        drop((one, two, store));
        if let Some((base, schema)) = schema {
            if let Ok(mut admin) = sqlx::PgConnection::connect_with(&base).await {
                let _ = admin
                    .execute(format!("drop schema {schema} cascade").as_str())
                    .await;
            }
        }
    }
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
