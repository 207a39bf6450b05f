//! The conformance suite: behaviour every backend must show. Each backend's test harness calls
//! [`trials`] with a factory that hands out a fresh, migrated, isolated store per check, and runs the
//! result with `libtest_mimic`, so every check is reported by name (and as ignored when the backend
//! is not available, instead of passing silently).

mod audit;
mod budgets;
mod constraints;
mod event_retention;
mod event_sources;
mod imports;
mod inbox;
mod installations;
mod installs;
mod job_claims;
mod job_days;
mod jobs;
mod journal;
mod maintenance;
mod nonces;
mod queue_overview;
mod refusals;
mod retention;
mod session_epochs;
mod settings;
mod sign_in_failures;
mod staff;
mod tenant_directory;
mod tenant_pause;
mod tenants;
mod timeline;
mod tokens;
mod webhooks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use libtest_mimic::{Failed, Trial};

use crate::Store;

pub type CheckFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
type Check = fn(Arc<dyn Store>) -> CheckFuture;

/// A store made for one check, and what to do once the check has passed (drop its schema or file).
/// A failed check keeps its database for inspection.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// Every check, by name.
pub fn checks() -> Vec<(&'static str, Check)> {
    let mut all: Vec<(&'static str, Check)> = Vec::new();
    all.extend(maintenance::CHECKS.iter().copied());
    all.extend(tenants::CHECKS.iter().copied());
    all.extend(tenant_pause::CHECKS.iter().copied());
    all.extend(installations::CHECKS.iter().copied());
    all.extend(installs::CHECKS.iter().copied());
    all.extend(settings::CHECKS.iter().copied());
    all.extend(audit::CHECKS.iter().copied());
    all.extend(tokens::CHECKS.iter().copied());
    all.extend(budgets::CHECKS.iter().copied());
    all.extend(nonces::CHECKS.iter().copied());
    all.extend(jobs::CHECKS.iter().copied());
    all.extend(job_claims::CHECKS.iter().copied());
    all.extend(job_days::CHECKS.iter().copied());
    all.extend(retention::CHECKS.iter().copied());
    all.extend(event_retention::CHECKS.iter().copied());
    all.extend(queue_overview::CHECKS.iter().copied());
    all.extend(sign_in_failures::CHECKS.iter().copied());
    all.extend(session_epochs::CHECKS.iter().copied());
    all.extend(staff::CHECKS.iter().copied());
    all.extend(tenant_directory::CHECKS.iter().copied());
    all.extend(inbox::CHECKS.iter().copied());
    all.extend(journal::CHECKS.iter().copied());
    all.extend(webhooks::CHECKS.iter().copied());
    all.extend(event_sources::CHECKS.iter().copied());
    all.extend(imports::CHECKS.iter().copied());
    all.extend(timeline::CHECKS.iter().copied());
    all.extend(refusals::CHECKS.iter().copied());
    all.extend(constraints::CHECKS.iter().copied());
    all
}

/// Builds one trial per check. With `unavailable = Some(reason)` the trials are listed as ignored
/// and the reason is printed once, so a missing database is visible in the test output.
pub fn trials<F, Fut>(backend: &'static str, factory: F, unavailable: Option<&str>) -> Vec<Trial>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<TestStore>> + Send + 'static,
{
    if let Some(reason) = unavailable {
        eprintln!("{backend} conformance suite SKIPPED: {reason}");
    }
    checks()
        .into_iter()
        .map(|(name, check)| {
            let factory = factory.clone();
            Trial::test(format!("{backend}::{name}"), move || {
                run_check(factory, check)
            })
            .with_ignored_flag(unavailable.is_some())
        })
        .collect()
}

fn run_check<F, Fut>(factory: F, check: Check) -> Result<(), Failed>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<TestStore>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let test_store = factory()
            .await
            .map_err(|e| Failed::from(format!("creating the test store: {e:#}")))?;
        check(test_store.store.clone())
            .await
            .map_err(|e| Failed::from(format!("{e:#}")))?;
        drop(test_store.store);
        if let Some(cleanup) = test_store.cleanup {
            cleanup.await;
        }
        Ok(())
    })
}

/// Fails the check with a message when the condition does not hold.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            anyhow::bail!("{}: left = {:?}, right = {:?}", format!($($msg)+), left, right);
        }
    }};
}
pub(crate) use ensure_eq;

pub(crate) mod fixtures {
    use dealbridge_core::installation::{NewInstallation, SealedTokens};
    use dealbridge_core::tenant::{NewTenant, Tenant};
    use dealbridge_core::{CompanyId, UserId};

    use crate::Store;

    pub fn new_tenant(company: i64) -> NewTenant {
        NewTenant {
            company_id: CompanyId::new(company),
            company_name: format!("Company {company}"),
            company_domain: format!("company{company}"),
        }
    }

    pub async fn tenant(store: &dyn Store, company: i64) -> anyhow::Result<Tenant> {
        Ok(store.upsert_tenant(&new_tenant(company)).await?)
    }

    pub fn tokens(seed: u8) -> SealedTokens {
        SealedTokens {
            access_token: vec![seed, 0, 255, seed.wrapping_add(1)],
            refresh_token: vec![seed; 40],
            key_id: format!("k{seed}"),
            access_expires_at: chrono::DateTime::from_timestamp(1_900_000_000 + i64::from(seed), 0)
                .unwrap_or_default(),
        }
    }

    pub fn installation(user: i64, seed: u8) -> NewInstallation {
        NewInstallation {
            user_id: UserId::new(user),
            api_domain: format!("https://company{user}.pipedrive.com"),
            scopes: vec!["base".into(), "deals:full".into()],
            tokens: tokens(seed),
        }
    }
}
