//! The ledger run: two instances, each with its own Postgres pool, store-backed ledger and
//! Pipedrive client, working the same job backlogs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dealbridge_budget::{StoreLedger, StoreLedgerConfig};
use dealbridge_pipedrive::models::{DealPatch, NewDeal, SearchQuery};
use dealbridge_pipedrive::{
    BudgetLedger, CompanyCtx, CompanyId, Error, Lane, Pipedrive, PipedriveConfig, TokenError,
    TokenSource, UserId,
};
use dealbridge_sandbox::Control;
use dealbridge_storage::{Maintenance, Store};
use dealbridge_storage_postgres::PgStore;
use secrecy::SecretString;
use sqlx::postgres::PgConnectOptions;

use super::{deadline, measure, Company, RunResult, INSTANCES, WORKERS};

/// The token minted for the company; the bench never refreshes.
struct Minted(SecretString);

#[async_trait]
impl TokenSource for Minted {
    async fn access_token(&self) -> Result<SecretString, TokenError> {
        Ok(self.0.clone())
    }

    async fn refresh(&self, _rejected: &SecretString) -> Result<SecretString, TokenError> {
        Err(TokenError::Unavailable(
            "bench tokens are not refreshed".into(),
        ))
    }
}

#[derive(Default)]
struct Counts {
    deferred: AtomicU64,
    errors: AtomicU64,
}

pub(super) async fn run(
    companies: &[Arc<Company>],
    options: PgConnectOptions,
    control: &Control,
    base_url: &str,
) -> anyhow::Result<RunResult> {
    let mut instances = Vec::new();
    for n in 0..INSTANCES {
        let store = PgStore::connect_with(options.clone(), 8).await?;
        if n == 0 {
            store.migrate().await?;
        }
        let store: Arc<dyn Store> = Arc::new(store);
        let ledger = Arc::new(StoreLedger::new(
            store.clone(),
            StoreLedgerConfig::default(),
        ));
        let flusher = ledger.spawn_flusher();
        let url = url::Url::parse(base_url)?;
        let config = PipedriveConfig::new(
            url.clone(),
            "bench",
            SecretString::from("bench"),
            url.join("/callback")?,
        );
        let pd = Pipedrive::new(config, ledger.clone())?;
        instances.push((store, ledger, flusher, pd));
    }
    // The plan and seats are known, so the limit is configured once for everyone.
    for c in companies {
        instances[0]
            .1
            .set_daily_limit(CompanyId(c.id), Some(c.budget))
            .await?;
    }
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let stop_at = deadline();
    let mut tasks = Vec::new();
    for (_, _, _, pd) in &instances {
        for company in companies {
            for lane in [Lane::Bulk, Lane::Webhook] {
                for _ in 0..WORKERS {
                    let client = pd.company(CompanyCtx {
                        company_id: CompanyId(company.id),
                        user_id: UserId(company.user_id),
                        api_domain: company.api_domain.clone(),
                        token_source: Arc::new(Minted(SecretString::from(company.token.clone()))),
                        lane,
                    });
                    let (company, counts) = (company.clone(), counts.clone());
                    tasks.push(tokio::spawn(async move {
                        work(client, company, lane == Lane::Bulk, counts, stop_at).await
                    }));
                }
            }
        }
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed();
    let mut rate_limited = 0;
    let mut waited = Duration::ZERO;
    for (_, ledger, flusher, pd) in &instances {
        ledger.shutdown().await?;
        flusher.abort();
        for figures in pd.figures().snapshot_all().values() {
            rate_limited += figures.rate_limited;
            waited += figures.waited;
        }
    }
    let persisted = instances[0].0.budget_figures_all().await?;
    let mut result = measure(companies, control, elapsed)?;
    result.notes = vec![
        (
            "client figures".into(),
            format!(
                "{rate_limited} 429s seen, {:.0} s waited for windows in total, {} jobs deferred to the reset, {} errors",
                waited.as_secs_f64(),
                counts.deferred.load(Ordering::Relaxed),
                counts.errors.load(Ordering::Relaxed)
            ),
        ),
        (
            "ledger figures in the store".into(),
            format!(
                "{} companies, {} calls, {} tokens",
                persisted.len(),
                persisted.iter().map(|(_, f)| f.calls).sum::<i64>(),
                persisted.iter().map(|(_, f)| f.tokens_spent).sum::<i64>()
            ),
        ),
    ];
    Ok(result)
}

async fn work(
    client: dealbridge_pipedrive::CompanyClient,
    company: Arc<Company>,
    bulk: bool,
    counts: Arc<Counts>,
    stop_at: Instant,
) {
    let mut done = 0u64;
    while Instant::now() < stop_at && company.take(bulk) {
        done += 1;
        let result = if bulk {
            let deal = NewDeal {
                title: format!("Imported {done}"),
                fields: DealPatch::default(),
            };
            client.deals().create(&deal).await.map(|_| ())
        } else {
            webhook_job(&client, &company, done).await
        };
        match result {
            Ok(()) => {}
            Err(Error::Deferred { .. }) => {
                // The job queue would park it until the reset; the company is done for today.
                let left = if bulk {
                    &company.bulk_left
                } else {
                    &company.webhook_left
                };
                left.fetch_add(1, Ordering::Relaxed);
                counts.deferred.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(_) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Read and update the deal a webhook named; every fourth also searches.
async fn webhook_job(
    client: &dealbridge_pipedrive::CompanyClient,
    company: &Company,
    n: u64,
) -> Result<(), Error> {
    client.deals().get(company.deal_id).await?;
    let patch = DealPatch {
        title: Some(format!("Updated {n}")),
        ..DealPatch::default()
    };
    client.deals().update(company.deal_id, &patch).await?;
    if n.is_multiple_of(4) {
        client.deals().search(SearchQuery::new("Bench")).await?;
    }
    Ok(())
}
