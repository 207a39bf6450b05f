//! Runs the store conformance suite against both backends: SQLite on one fresh database file per
//! check, and Postgres when `TEST_POSTGRES_URL` is set, one schema per check (dropped when the
//! check passes, kept for inspection when it fails).

use std::str::FromStr;
use std::sync::Arc;

use dealbridge_core::{CompanyId, UserId};
use dealbridge_storage::conformance::{trials, TestStore};
use dealbridge_storage::{Budgets, Maintenance, WindowKey, WindowKind};
use dealbridge_storage_sql::{take_slots_sql, PgStore, SqliteStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

const URL_VAR: &str = "TEST_POSTGRES_URL";

async fn fresh_sqlite() -> anyhow::Result<TestStore> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = SqliteStore::connect(&url, 4).await?;
    store.migrate().await?;
    Ok(TestStore {
        store: Arc::new(store),
        // Keeping the TempDir alive until the check passed; dropping it removes the file.
        cleanup: Some(Box::pin(async move { drop(dir) })),
    })
}

async fn fresh_postgres() -> anyhow::Result<TestStore> {
    let url = std::env::var(URL_VAR)?;
    let schema = format!("conformance_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(&url)?;
    let mut admin = sqlx::PgConnection::connect_with(&base).await?;
    admin
        .execute(format!("create schema {schema}").as_str())
        .await?;
    admin.close().await?;

    let options = base.clone().options([("search_path", schema.as_str())]);
    let store = PgStore::connect_with(options, 4).await?;
    store.migrate().await?;
    let cleanup = async move {
        if let Ok(mut admin) = sqlx::PgConnection::connect_with(&base).await {
            let _ = admin
                .execute(format!("drop schema {schema} cascade").as_str())
                .await;
        }
    };
    Ok(TestStore {
        store: Arc::new(store),
        cleanup: Some(Box::pin(cleanup)),
    })
}

/// A daily budget is a window of up to 100,000 slots, taken from many times a second: Postgres
/// must walk the primary key in slot order and stop after the slots it needs, never read and sort
/// the whole window (which stalled large imports and pipelines at a few takes per second).
async fn slot_takes_walk_the_primary_key() -> anyhow::Result<()> {
    let url = std::env::var(URL_VAR)?;
    let schema = format!("slot_plan_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(&url)?;
    let mut conn = sqlx::PgConnection::connect_with(&base).await?;
    conn.execute(format!("create schema {schema}").as_str())
        .await?;
    let options = base.clone().options([("search_path", schema.as_str())]);
    let outcome = async {
        let store = PgStore::connect_with(options.clone(), 2).await?;
        store.migrate().await?;
        let key = WindowKey {
            company_id: CompanyId::new(7),
            user_id: UserId::new(9),
            kind: WindowKind::Burst,
        };
        store.budget_ensure_window(key, 100_000).await?;
        let mut conn = sqlx::PgConnection::connect_with(&options).await?;
        conn.execute("analyze budget_slots").await?;
        for prefer_high in [false, true] {
            let literals = [
                ("$1", "7"),
                ("$2", "9"),
                ("$3", "'burst'"),
                ("$4", "100000"),
                ("$5", "0"),
                ("$6", "1000"),
                ("$7", "4"),
            ];
            let mut statement = take_slots_sql::<sqlx::Postgres>(prefer_high);
            for (placeholder, literal) in literals {
                statement = statement.replace(placeholder, literal);
            }
            let plan: Vec<(String,)> = sqlx::query_as(&format!("explain {statement}"))
                .fetch_all(&mut conn)
                .await?;
            let plan: Vec<String> = plan.into_iter().map(|(line,)| line).collect();
            let plan = plan.join("\n");
            anyhow::ensure!(
                !plan.contains("Sort") && plan.contains("budget_slots_pkey"),
                "prefer_high={prefer_high}: the take must walk the primary key without a sort:\n{plan}"
            );
        }
        anyhow::Ok(())
    }
    .await;
    conn.execute(format!("drop schema {schema} cascade").as_str())
        .await?;
    outcome
}

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let unavailable = std::env::var(URL_VAR).is_err().then_some(
        "TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)",
    );
    let mut all = trials("sqlite", fresh_sqlite, None);
    all.extend(trials("postgres", fresh_postgres, unavailable));
    let plan = libtest_mimic::Trial::test("postgres::slot_takes_walk_the_primary_key", || {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime
            .block_on(slot_takes_walk_the_primary_key())
            .map_err(|e| format!("{e:#}").into())
    });
    all.push(plan.with_ignored_flag(unavailable.is_some()));
    libtest_mimic::run(&args, all).exit();
}
