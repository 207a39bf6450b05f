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
    let console = Trial::test("postgres::console_signs_in_and_lists_tenants", {
        let url = url.clone();
        move || run(console_signs_in_and_lists_tenants(url.unwrap_or_default()))
    })
    .with_ignored_flag(url.is_none());
    let race = Trial::test(
        "postgres::sixty_parallel_sign_ins_on_two_instances_verify_at_most_the_limit",
        {
            let url = url.clone();
            move || run(sign_in_race(url.unwrap_or_default()))
        },
    )
    .with_ignored_flag(url.is_none());
    let private = Trial::test(
        "postgres::private_mode_runs_one_company_with_an_api_token",
        {
            let url = url.clone();
            move || run(private_mode(url.unwrap_or_default()))
        },
    )
    .with_ignored_flag(url.is_none());
    libtest_mimic::run(&args, vec![trial, console, race, private]).exit();
}

fn run(test: impl std::future::Future<Output = Result<(), Failed>>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?
        .block_on(test)
}

/// The private mode scenario on a database of its own (start-up creates it).
async fn private_mode(admin_url: String) -> Result<(), Failed> {
    let name = format!("dealbridge_private_test_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url);
    let outcome = helpers::private_mode::scenario(Some(&format!("{base}/{name}"))).await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    outcome.map_err(|e| Failed::from(format!("{e:#}")))
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

/// The support console on Postgres: the offline first account signs in and the tenant list (one
/// query with per-tenant counts) renders a tenant with a dead job.
async fn console_signs_in_and_lists_tenants(admin_url: String) -> Result<(), Failed> {
    let name = format!("dealbridge_app_test_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url);
    let url = format!("{base}/{name}");
    let app = helpers::spawn_app_with(Some(&url)).await;
    let outcome = match console_checks(&app).await {
        Ok(()) => throttle_holds_across_instances(&app, &url).await,
        failed => failed,
    };
    drop(app);
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    outcome
}

async fn console_checks(app: &helpers::TestApp) -> Result<(), Failed> {
    let tenant = app
        .store
        .upsert_tenant(&dealbridge_core::tenant::NewTenant {
            company_id: dealbridge_core::CompanyId::new(4242),
            company_name: "Postgres Co".into(),
            company_domain: "pgco".into(),
        })
        .await
        .map_err(|e| e.to_string())?;
    let job = dealbridge_storage::NewJob::new("deal.sync", serde_json::json!({}))
        .tenant(tenant.id)
        .max_attempts(1);
    app.store.enqueue(&job).await.map_err(|e| e.to_string())?;
    let password = std::fs::read_to_string(
        app.data_path()
            .join(dealbridge_app::console_bootstrap::PASSWORD_FILE),
    )
    .map_err(|e| e.to_string())?;
    let client = helpers::browser();
    let account = dealbridge_app::console_bootstrap::FIRST_ACCOUNT;
    let status = sign_in(&app.address, &client, account, password.trim()).await?;
    if status != 303 {
        return Err(format!("sign-in answered {status}").into());
    }
    let list = client
        .get(format!("{}/console?q=postgres", app.address))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    if !list.contains("Postgres Co") || !list.contains("1 queued") {
        return Err(format!("the tenant list misses the tenant or its job: {list}").into());
    }
    // The state filters and the audit page's filters, on Postgres's parameter typing.
    for (path, expected) in [
        ("/console?state=active&q=postgres", "Postgres Co"),
        (
            "/console?state=paused&q=postgres",
            "No tenants in this state",
        ),
        (
            "/console/audit?action=staff.&from=2020-01-01&to=2999-12-31",
            "Audit log",
        ),
        (
            format!("/console/audit?tenant={}&actor=nobody", tenant.id).as_str(),
            "No entries",
        ),
    ] {
        let answer = client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status();
        let page = answer.text().await.map_err(|e| e.to_string())?;
        if status != 200 || !page.contains(expected) {
            return Err(format!("{path} answered {status} without {expected:?}: {page}").into());
        }
    }
    Ok(())
}

/// Failed sign-ins counted by one instance lock the account on another: the throttle is in the
/// store, not in a process.
async fn throttle_holds_across_instances(
    app: &helpers::TestApp,
    database_url: &str,
) -> Result<(), Failed> {
    let other = helpers::spawn_app_with(Some(database_url)).await;
    let account = dealbridge_app::console_bootstrap::FIRST_ACCOUNT;
    for _ in 0..5 {
        let status = sign_in(
            &app.address,
            &helpers::browser(),
            account,
            "wrong-password-1",
        )
        .await?;
        if status != 401 {
            return Err(format!("a wrong password answered {status}").into());
        }
    }
    let password = std::fs::read_to_string(
        app.data_path()
            .join(dealbridge_app::console_bootstrap::PASSWORD_FILE),
    )
    .map_err(|e| e.to_string())?;
    let status = sign_in(
        &other.address,
        &helpers::browser(),
        account,
        password.trim(),
    )
    .await?;
    if status != 429 {
        return Err(format!("the other instance answered {status}, not 429").into());
    }
    Ok(())
}

/// The sign-in race on Postgres (see `helpers::race`), on a database of its own, across two
/// instances.
async fn sign_in_race(admin_url: String) -> Result<(), Failed> {
    let name = format!("dealbridge_app_test_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url);
    let url = format!("{base}/{name}");
    let app = helpers::spawn_app_with(Some(&url)).await;
    // Two instances on one database, as production runs: the limit must hold across them.
    let other = helpers::spawn_app_with(Some(&url)).await;
    let instances = [app.address.clone(), other.address.clone()];
    let outcome = helpers::race::parallel_sign_ins(&app, &instances)
        .await
        .map_err(Failed::from);
    drop((app, other));
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    outcome
}

/// Signs in through the form (CSRF token from the page) and returns the answer's status.
async fn sign_in(
    address: &str,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> Result<reqwest::StatusCode, Failed> {
    let login = format!("{address}/console/login");
    let page = client.get(&login).send().await.map_err(|e| e.to_string())?;
    let html = page.text().await.map_err(|e| e.to_string())?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no CSRF token on the sign-in page")?;
    let answer = client
        .post(&login)
        .form(&[("csrf", csrf), ("email", email), ("password", password)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer.status())
}
