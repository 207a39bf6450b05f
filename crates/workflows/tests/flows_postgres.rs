//! The workflows end to end on Postgres, as production runs them: every workflow, clean and while
//! Pipedrive applies writes and drops the connection, with no duplicate left. Runs when
//! `TEST_POSTGRES_URL` names a server it may create databases on; otherwise the tests are listed as
//! ignored and the reason is printed.

mod support;

use libtest_mimic::{Arguments, Failed, Trial};
use support::scenario::{every_workflow, lookups};
use support::{Env, Options};

const URL_VAR: &str = "TEST_POSTGRES_URL";

fn main() {
    let url = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("workflows on Postgres SKIPPED: {URL_VAR} is not set");
    }
    let trial = |name: &str, drops: f64| {
        let admin_url = url.clone().unwrap_or_default();
        Trial::test(format!("postgres::{name}"), move || {
            run(every_workflow_on(admin_url, drops))
        })
        .with_ignored_flag(url.is_none())
    };
    let trials = vec![
        trial("every_workflow_writes_its_records", 0.0),
        trial("every_workflow_survives_writes_whose_answer_is_lost", 0.4),
    ];
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}

fn run(test: impl std::future::Future<Output = anyhow::Result<()>>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?
        .block_on(test)
        .map_err(|e| Failed::from(format!("{e:#}")))
}

async fn every_workflow_on(admin_url: String, drop_after_write_rate: f64) -> anyhow::Result<()> {
    let env = Env::start_opts(Options {
        postgres: Some(admin_url),
        fast_client_retries: true,
        ..Options::default()
    })
    .await?;
    let faults = dealbridge_sandbox::FaultSpec {
        drop_after_write_rate,
        ..Default::default()
    };
    let outcome = every_workflow(&env, faults, None).await;
    env.stop().await;
    let calls = outcome?;
    if drop_after_write_rate > 0.0 {
        anyhow::ensure!(lookups(&calls) > 0, "no interrupted write was looked up");
    } else {
        anyhow::ensure!(lookups(&calls) == 0, "a first run looked records up");
    }
    Ok(())
}
