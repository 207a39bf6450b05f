//! The app on Postgres, as production runs it: start-up creates the database named in
//! `DATABASE_URL` when it does not exist, migrates it, and serves. Runs when `TEST_POSTGRES_URL` is
//! set; otherwise the tests are listed as ignored, with the reason printed.

mod helpers;

use libtest_mimic::{Arguments, Failed, Trial};

const URL_VAR: &str = "TEST_POSTGRES_URL";

fn main() {
    let args = Arguments::from_args();
    let url = std::env::var(URL_VAR).ok();
    if url.is_none() {
        eprintln!("postgres app tests SKIPPED: {URL_VAR} is not set");
    }
    let trial = Trial::test("postgres::app_creates_its_database_and_serves", {
        let url = url.clone();
        move || run(creates_database_and_serves(url.unwrap_or_default()))
    })
    .with_ignored_flag(url.is_none());
    libtest_mimic::run(&args, vec![trial]).exit();
}

fn run(test: impl std::future::Future<Output = Result<(), Failed>>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?
        .block_on(test)
}

async fn creates_database_and_serves(admin_url: String) -> Result<(), Failed> {
    let name = format!("dealbridge_app_test_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url);
    let app = helpers::spawn_app_with(Some(&format!("{base}/{name}"))).await;

    for (path, status) in [("/healthz", 200), ("/readyz", 200), ("/", 200)] {
        let got = app.get(path).await.status();
        if got != status {
            return Err(format!("{path}: expected {status}, got {got}").into());
        }
    }
    let ready: serde_json::Value = app
        .get("/readyz")
        .await
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if ready["store"] != "postgres" {
        return Err(format!("readyz reports {ready}").into());
    }
    drop(app);
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .map_err(|e| e.to_string())?;
    // The pool of the dropped app may still be closing; force it off so the drop succeeds.
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
