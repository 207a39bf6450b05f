//! One app instance of the ledger run: its own Postgres pool, store-backed ledger and Pipedrive
//! client, and the workers that take jobs from its share of every company's backlog. The bench
//! process runs one; its peer process (see `peer`) runs the other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dealbridge_budget::{StoreLedger, StoreLedgerConfig};
use dealbridge_pipedrive::models::{DealPatch, NewDeal, SearchQuery};
use dealbridge_pipedrive::{
    CompanyCtx, CompanyId, Error, Lane, Pipedrive, PipedriveConfig, TokenError, TokenSource, UserId,
};
use dealbridge_storage::{Maintenance, Store};
use dealbridge_storage_sql::PgStore;
use secrecy::SecretString;
use sqlx::postgres::PgConnectOptions;

use super::{Company, WORKERS};

/// The token minted for the company; the bench never refreshes.
struct Minted(SecretString);

#[async_trait]
impl TokenSource for Minted {
    async fn access_token(&self) -> Result<SecretString, TokenError> {
        Ok(self.0.clone())
    }

    async fn refresh(&self, _rejected: &SecretString) -> Result<SecretString, TokenError> {
        Err(TokenError::unavailable("bench tokens are not refreshed"))
    }
}

/// What one instance's workers and client saw.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct InstanceFigures {
    /// Jobs whose calls all went through.
    pub done: u64,
    /// Jobs the ledger deferred to the daily reset.
    pub deferred: u64,
    pub errors: u64,
    /// 429s the client was answered.
    pub rate_limited: u64,
    /// Time calls waited for burst and search windows, summed.
    pub waited: Duration,
}

impl std::ops::AddAssign for InstanceFigures {
    fn add_assign(&mut self, other: Self) {
        self.done += other.done;
        self.deferred += other.deferred;
        self.errors += other.errors;
        self.rate_limited += other.rate_limited;
        self.waited += other.waited;
    }
}

#[derive(Default)]
struct Counts {
    done: AtomicU64,
    deferred: AtomicU64,
    errors: AtomicU64,
}

pub(crate) struct Instance {
    pub store: Arc<dyn Store>,
    pub ledger: Arc<StoreLedger>,
    flusher: tokio::task::JoinHandle<()>,
    pd: Pipedrive,
}

impl Instance {
    /// Connects to the bench schema; `migrate` for the first instance only.
    pub async fn connect(
        options: PgConnectOptions,
        base_url: &str,
        migrate: bool,
    ) -> anyhow::Result<Self> {
        let store = PgStore::connect_with(options, 8).await?;
        if migrate {
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
        Ok(Self {
            store,
            ledger,
            flusher,
            pd,
        })
    }

    /// Works this instance's share of the backlogs until it is done or `stop_at`, then returns
    /// its leases (as the app does at exit) and what it saw.
    pub async fn work(
        self,
        companies: &[Arc<Company>],
        stop_at: Instant,
    ) -> anyhow::Result<InstanceFigures> {
        let counts = Arc::new(Counts::default());
        let mut tasks = Vec::new();
        for company in companies {
            for lane in [Lane::Bulk, Lane::Webhook] {
                for _ in 0..WORKERS {
                    let client = self.pd.company(CompanyCtx {
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
        for task in tasks {
            task.await?;
        }
        self.ledger.shutdown().await?;
        self.flusher.abort();
        let mut figures = InstanceFigures {
            done: counts.done.load(Ordering::Relaxed),
            deferred: counts.deferred.load(Ordering::Relaxed),
            errors: counts.errors.load(Ordering::Relaxed),
            ..InstanceFigures::default()
        };
        for company in self.pd.figures().snapshot_all().values() {
            figures.rate_limited += company.rate_limited;
            figures.waited += company.waited;
        }
        Ok(figures)
    }
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
            Ok(()) => {
                counts.done.fetch_add(1, Ordering::Relaxed);
            }
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
