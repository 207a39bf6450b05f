//! One scenario run on each store: a fresh SQLite file, and a fresh Postgres database (created by
//! the app's start-up, dropped afterwards) when `TEST_POSTGRES_URL` is set; without it the
//! Postgres trials are listed as ignored and the reason is printed.

use std::future::Future;
use std::pin::Pin;

use libtest_mimic::{Failed, Trial};

const URL_VAR: &str = "TEST_POSTGRES_URL";

/// A scenario given the database URL to start the app on (`None`: SQLite).
pub type Scenario = fn(Option<String>) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A `sqlite::NAME` and a `postgres::NAME` trial per scenario.
pub fn trials(scenarios: &[(&'static str, Scenario)]) -> Vec<Trial> {
    let admin = std::env::var(URL_VAR).ok();
    if admin.is_none() {
        eprintln!("postgres trials IGNORED: {URL_VAR} is not set");
    }
    let mut trials = Vec::new();
    for &(name, scenario) in scenarios {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run(scenario(None))
        }));
        let admin = admin.clone();
        let ignored = admin.is_none();
        trials.push(
            Trial::test(format!("postgres::{name}"), move || {
                run(on_postgres(admin.unwrap_or_default(), scenario))
            })
            .with_ignored_flag(ignored),
        );
    }
    trials
}

fn run(test: impl Future<Output = anyhow::Result<()>>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?
        .block_on(test)
        .map_err(|e| Failed::from(format!("{e:#}")))
}

async fn on_postgres(admin_url: String, scenario: Scenario) -> anyhow::Result<()> {
    let name = format!("dealbridge_app_test_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    let outcome = scenario(Some(format!("{base}/{name}"))).await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await?;
    // The app's pool may still be closing; force it off so the drop succeeds.
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await?;
    outcome
}
