//! Every branch of the gate: the pure admission rules, then the gate on a SQLite store with the
//! store-backed ledger and a manual clock, and a failing ledger.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use crate::{StoreLedger, StoreLedgerConfig};
use chrono::TimeZone;
use dealbridge_core::installation::{NewInstallation, SealedTokens};
use dealbridge_core::tenant::NewTenant;
use dealbridge_pipedrive::ledger::ManualClock;
use dealbridge_pipedrive::{CallRequest, Grant, Outcome, RateHeaders, UserId};
use dealbridge_storage_sql::SqliteStore;

use super::*;

const COMPANY: i64 = 4_242;
const USER: i64 = 7;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

fn status(limit: Option<u64>, spent: u64) -> BudgetStatus {
    BudgetStatus {
        daily_limit: limit,
        learned: false,
        spent,
        priority_reserve: limit.map_or(0, |l| l / 5),
        resets_at: start() + chrono::Duration::hours(12),
        exhausted_until: None,
    }
}

#[test]
fn allowance_is_what_the_remaining_tokens_cover() {
    let s = status(Some(1_000), 300);
    // 700 left; bulk may not spend the 200 reserved.
    let ready = |allowance| Admission::Ready { allowance };
    assert_eq!(admission(&s, Lane::Realtime, start(), 10), ready(70));
    assert_eq!(admission(&s, Lane::Default, start(), 10), ready(70));
    assert_eq!(admission(&s, Lane::Bulk, start(), 10), ready(50));
    // A few tokens left still admit one job: the ledger decides whether its calls fit.
    assert_eq!(
        admission(&status(Some(1_000), 995), Lane::Realtime, start(), 10),
        ready(1)
    );
}

#[test]
fn bulk_waits_for_the_reset_once_only_the_reserve_is_left() {
    let s = status(Some(1_000), 850);
    assert_eq!(
        admission(&s, Lane::Bulk, start(), 10),
        Admission::WaitUntil(s.resets_at)
    );
    assert_eq!(
        admission(&s, Lane::Realtime, start(), 10),
        Admission::Ready { allowance: 15 }
    );
}

#[test]
fn a_spent_budget_waits_for_the_reset_in_every_lane() {
    let s = status(Some(1_000), 1_000);
    for lane in Lane::ALL {
        assert_eq!(
            admission(&s, lane, start(), 10),
            Admission::WaitUntil(s.resets_at)
        );
    }
}

#[test]
fn an_exhausted_company_waits_until_it_is_not() {
    let until = start() + chrono::Duration::hours(3);
    let s = BudgetStatus {
        exhausted_until: Some(until),
        ..status(Some(1_000), 10)
    };
    for lane in Lane::ALL {
        assert_eq!(
            admission(&s, lane, start(), 10),
            Admission::WaitUntil(until)
        );
    }
    // Past its end, the mark no longer holds anything back.
    assert_eq!(
        admission(&s, Lane::Realtime, until, 10),
        Admission::Ready { allowance: 99 }
    );
}

#[test]
fn an_unknown_limit_is_not_rationed() {
    assert_eq!(
        admission(&status(None, 5_000), Lane::Bulk, start(), 10),
        Admission::Ready {
            allowance: u32::MAX
        }
    );
}

struct Fixture {
    store: Arc<dyn Store>,
    ledger: Arc<StoreLedger>,
    clock: ManualClock,
    tenant: TenantId,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A tenant with one active installation, its company's limit set to 1,000 tokens.
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gate.db").display());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url, 4).await.unwrap());
        store.migrate().await.unwrap();
        let tenant = store
            .upsert_tenant(&NewTenant {
                company_id: dealbridge_core::CompanyId::new(COMPANY),
                company_name: "Gate Co".into(),
                company_domain: "gate".into(),
            })
            .await
            .unwrap();
        store
            .upsert_installation(tenant.id, &installation(USER))
            .await
            .unwrap();
        let clock = ManualClock::new(start());
        let config = StoreLedgerConfig {
            // Leases of exactly one call, so the store's spent is exactly what was granted.
            lease_calls: 1,
            ..StoreLedgerConfig::default()
        };
        let ledger = Arc::new(StoreLedger::with_clock(
            store.clone(),
            config,
            Arc::new(clock.clone()),
        ));
        ledger
            .set_daily_limit(company(), Some(1_000))
            .await
            .unwrap();
        Self {
            store,
            ledger,
            clock,
            tenant: tenant.id,
            _dir: dir,
        }
    }

    fn gate(&self, config: GateConfig) -> LedgerGate {
        LedgerGate::with_clock(
            self.store.clone(),
            self.ledger.clone(),
            config,
            Arc::new(self.clock.clone()),
        )
    }

    /// Spends `cost` tokens in one call that Pipedrive answers with `outcome`.
    async fn spend(&self, cost: u32, outcome: Outcome) {
        let request = CallRequest {
            company: company(),
            user: UserId(USER as u64),
            lane: dealbridge_pipedrive::Lane::Interactive,
            cost,
            search: false,
        };
        let Grant::Granted(reservation) = self.ledger.reserve(&request).await.unwrap() else {
            panic!("expected a grant");
        };
        self.ledger.settle(reservation, outcome).await.unwrap();
    }

    fn recheck_at(&self, config: &GateConfig) -> Admission {
        Admission::WaitUntil(self.clock.now() + to_chrono(config.recheck))
    }
}

fn company() -> CompanyId {
    CompanyId(COMPANY as u64)
}

fn installation(user: i64) -> NewInstallation {
    NewInstallation {
        user_id: dealbridge_core::UserId::new(user),
        api_domain: "https://gate.pipedrive.com".into(),
        scopes: vec!["base".into()],
        tokens: SealedTokens {
            access_token: vec![1, 2, 3],
            refresh_token: vec![4, 5, 6],
            key_id: "k1".into(),
            access_expires_at: start() + chrono::Duration::hours(1),
        },
    }
}

#[tokio::test]
async fn an_installed_tenant_is_admitted_for_what_its_budget_covers() {
    let f = Fixture::new().await;
    f.spend(300, Outcome::Responded { status: 200 }).await;
    let gate = f.gate(GateConfig::default());
    // 700 left of 1,000; the reserve is 20 %: bulk may spend 500.
    assert_eq!(
        gate.admit(f.tenant, Lane::Realtime).await,
        Admission::Ready { allowance: 70 }
    );
    assert_eq!(
        gate.admit(f.tenant, Lane::Bulk).await,
        Admission::Ready { allowance: 50 }
    );
}

#[tokio::test]
async fn bulk_work_waits_for_the_reset_when_only_the_reserve_is_left() {
    let f = Fixture::new().await;
    f.spend(850, Outcome::Responded { status: 200 }).await;
    let gate = f.gate(GateConfig::default());
    let resets_at = f.ledger.status(company()).await.unwrap().resets_at;
    assert!(resets_at > f.clock.now());
    assert_eq!(
        gate.admit(f.tenant, Lane::Bulk).await,
        Admission::WaitUntil(resets_at)
    );
    assert_eq!(
        gate.admit(f.tenant, Lane::Realtime).await,
        Admission::Ready { allowance: 15 }
    );
}

#[tokio::test]
async fn an_exhausted_company_waits_until_the_ledger_says() {
    let f = Fixture::new().await;
    f.spend(
        5,
        Outcome::RateLimited {
            daily: true,
            retry_after: None,
        },
    )
    .await;
    let until = f
        .ledger
        .status(company())
        .await
        .unwrap()
        .exhausted_until
        .expect("a daily 429 marks the company exhausted");
    let gate = f.gate(GateConfig::default());
    for lane in Lane::ALL {
        assert_eq!(
            gate.admit(f.tenant, lane).await,
            Admission::WaitUntil(until)
        );
    }
}

#[tokio::test]
async fn a_tenant_needing_reauthorisation_waits_and_is_rechecked() {
    let f = Fixture::new().await;
    let user = dealbridge_core::UserId::new(USER);
    f.store
        .set_installation_status(f.tenant, user, InstallationStatus::NeedsReauth)
        .await
        .unwrap();
    let config = GateConfig::default();
    let gate = f.gate(config.clone());
    assert_eq!(
        gate.admit(f.tenant, Lane::Realtime).await,
        f.recheck_at(&config)
    );

    // Another user of the company still has a working install: its jobs can run.
    f.store
        .upsert_installation(f.tenant, &installation(USER + 1))
        .await
        .unwrap();
    f.clock.advance(config.tenant_ttl);
    assert_eq!(
        gate.admit(f.tenant, Lane::Realtime).await,
        Admission::Ready { allowance: 100 }
    );
}

#[tokio::test]
async fn missing_and_uninstalled_tenants_wait_instead_of_spinning() {
    let f = Fixture::new().await;
    let config = GateConfig::default();
    let gate = f.gate(config.clone());
    assert_eq!(
        gate.admit(TenantId::new(), Lane::Default).await,
        f.recheck_at(&config)
    );
    f.store
        .retire_installation(f.tenant, dealbridge_core::UserId::new(USER))
        .await
        .unwrap();
    assert_eq!(
        gate.admit(f.tenant, Lane::Bulk).await,
        f.recheck_at(&config)
    );
}

#[tokio::test]
async fn the_tenant_state_is_cached_briefly() {
    let f = Fixture::new().await;
    let config = GateConfig::default();
    let gate = f.gate(config.clone());
    let ready = Admission::Ready { allowance: 100 };
    assert_eq!(gate.admit(f.tenant, Lane::Realtime).await, ready);
    f.store
        .set_installation_status(
            f.tenant,
            dealbridge_core::UserId::new(USER),
            InstallationStatus::NeedsReauth,
        )
        .await
        .unwrap();
    // Within the cache lifetime the old answer stands (the ledger still guards every call)...
    f.clock.advance(config.status_ttl);
    assert_eq!(gate.admit(f.tenant, Lane::Realtime).await, ready);
    // ...and after it, the change is seen.
    f.clock.advance(config.tenant_ttl);
    assert_eq!(
        gate.admit(f.tenant, Lane::Realtime).await,
        f.recheck_at(&config)
    );
}

/// A ledger whose store is down.
struct Unavailable;

#[async_trait]
impl BudgetLedger for Unavailable {
    async fn reserve(&self, _: &CallRequest) -> Result<Grant, LedgerError> {
        Err(LedgerError::new("down"))
    }

    async fn settle(
        &self,
        _: dealbridge_pipedrive::Reservation,
        _: Outcome,
    ) -> Result<(), LedgerError> {
        Err(LedgerError::new("down"))
    }

    async fn observe_headers(
        &self,
        _: CompanyId,
        _: UserId,
        _: &RateHeaders,
    ) -> Result<(), LedgerError> {
        Err(LedgerError::new("down"))
    }

    async fn set_daily_limit(&self, _: CompanyId, _: Option<u64>) -> Result<(), LedgerError> {
        Err(LedgerError::new("down"))
    }

    async fn status(&self, _: CompanyId) -> Result<BudgetStatus, LedgerError> {
        Err(LedgerError::new("down"))
    }
}

#[tokio::test]
async fn an_unreadable_budget_admits_a_little_work() {
    let f = Fixture::new().await;
    let config = GateConfig {
        error_allowance: 2,
        ..GateConfig::default()
    };
    let gate = LedgerGate::with_clock(
        f.store.clone(),
        Arc::new(Unavailable),
        config,
        Arc::new(f.clock.clone()),
    );
    assert_eq!(
        gate.admit(f.tenant, Lane::Bulk).await,
        Admission::Ready { allowance: 2 }
    );
}

/// A tenant of its own company, with one installation in `status`.
async fn tenant_with(store: &dyn Store, company: i64, status: InstallationStatus) -> TenantId {
    let tenant = store
        .upsert_tenant(&NewTenant {
            company_id: dealbridge_core::CompanyId::new(company),
            company_name: format!("Company {company}"),
            company_domain: format!("c{company}"),
        })
        .await
        .unwrap();
    store
        .upsert_installation(tenant.id, &installation(USER))
        .await
        .unwrap();
    store
        .set_installation_status(tenant.id, dealbridge_core::UserId::new(USER), status)
        .await
        .unwrap();
    tenant.id
}

#[tokio::test]
async fn workers_run_what_the_gate_admits_and_keep_the_rest_queued() {
    use dealbridge_jobs::{JobContext, JobState, NewJob, Registry, Worker};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("worker.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url, 4).await.unwrap());
    store.migrate().await.unwrap();
    let ledger = Arc::new(StoreLedger::new(
        store.clone(),
        StoreLedgerConfig {
            lease_calls: 1,
            ..StoreLedgerConfig::default()
        },
    ));
    let ready = tenant_with(&*store, 1, InstallationStatus::Active).await;
    let reauth = tenant_with(&*store, 2, InstallationStatus::NeedsReauth).await;
    let reserve_only = tenant_with(&*store, 3, InstallationStatus::Active).await;
    ledger
        .set_daily_limit(CompanyId(3), Some(1_000))
        .await
        .unwrap();
    let spend = CallRequest {
        company: CompanyId(3),
        user: UserId(USER as u64),
        lane: dealbridge_pipedrive::Lane::Webhook,
        cost: 850,
        search: false,
    };
    let Grant::Granted(r) = ledger.reserve(&spend).await.unwrap() else {
        panic!("expected a grant");
    };
    ledger
        .settle(r, Outcome::Responded { status: 200 })
        .await
        .unwrap();

    let job = |tenant: Option<TenantId>, lane: Lane| {
        let job = NewJob::new("test.job", serde_json::json!({})).lane(lane);
        match tenant {
            Some(t) => job.tenant(t),
            None => job,
        }
    };
    let mut ids = Vec::new();
    for (tenant, lane) in [
        (None, Lane::Default),
        (Some(ready), Lane::Bulk),
        (Some(reserve_only), Lane::Realtime),
        (Some(reauth), Lane::Realtime),
        (Some(reserve_only), Lane::Bulk),
    ] {
        ids.push((
            tenant,
            store.enqueue(&job(tenant, lane)).await.unwrap().id(),
        ));
    }
    let ran = Arc::new(Mutex::new(Vec::new()));
    let seen = ran.clone();
    let registry = Registry::new().handle("test.job", move |ctx: JobContext| {
        let seen = seen.clone();
        async move {
            lock(&seen).push(ctx.job.id);
            Ok(())
        }
    });
    let gate = LedgerGate::new(store.clone(), ledger, GateConfig::default());
    Worker::builder(store.clone(), registry)
        .budget(Arc::new(gate))
        .build()
        .run_until_idle()
        .await
        .unwrap();

    let mut ran = lock(&ran).clone();
    ran.sort();
    let mut expected: Vec<_> = ids[..3].iter().map(|(_, id)| *id).collect();
    expected.sort();
    assert_eq!(ran, expected, "system, funded and priority work ran");
    // Waiting is neither failing nor dropping: the jobs are queued as they were.
    for (tenant, id) in &ids[3..] {
        let job = store.job(*tenant, *id).await.unwrap().unwrap();
        assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
    }
}
