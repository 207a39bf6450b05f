//! The token vault against the sandbox's OAuth server, on SQLite and (with `TEST_POSTGRES_URL`)
//! Postgres. Two vaults with their own store pools stand in for two app processes.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use dealbridge_core::installation::{InstallationStatus, NewInstallation};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::{ExposeSecret, KeyRing, SecretString};
use dealbridge_pipedrive::ledger::{InMemoryLedger, LedgerConfig};
use dealbridge_pipedrive::oauth::OAuth;
use dealbridge_pipedrive::{CompanyCtx, Lane, Pipedrive, PipedriveConfig, TokenError, TokenSource};
use dealbridge_sandbox::{AppSpec, CompanySpec, Plan, SandboxConfig, SandboxHandle, UserSpec};
use dealbridge_storage::{Maintenance, Store};
use dealbridge_storage_sql::{PgStore, SqliteStore};
use dealbridge_tokens::{rotate_keys, TokenVault, VaultConfig};
use libtest_mimic::{Failed, Trial};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

const URL_VAR: &str = "TEST_POSTGRES_URL";
// A child process (this test binary run again) is told what to do through these variables.
const CHILD: &str = "VAULT_TEST_CHILD_REQUESTS";
const CHILD_SQLITE: &str = "VAULT_TEST_CHILD_SQLITE";
const CHILD_PG_URL: &str = "VAULT_TEST_CHILD_PG_URL";
const CHILD_PG_SCHEMA: &str = "VAULT_TEST_CHILD_PG_SCHEMA";
const CHILD_OAUTH: &str = "VAULT_TEST_CHILD_OAUTH";
const CHILD_KEYS: &str = "VAULT_TEST_CHILD_KEYS";
const CHILD_TENANT: &str = "VAULT_TEST_CHILD_TENANT";
const CHILD_USER: &str = "VAULT_TEST_CHILD_USER";
const CLIENT_ID: &str = "dealbridge-test";
const CLIENT_SECRET: &str = "test-secret";
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

#[path = "vault/history.rs"]
mod history;
#[path = "vault/lease.rs"]
mod lease;

type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// How a child process finds the test database: (variable, value) pairs for its environment.
type DbEnv = Vec<(&'static str, String)>;

/// Two stores (separate pools) on one fresh database, how a child process reaches it, and what
/// removes it afterwards.
async fn two_stores(backend: Backend) -> anyhow::Result<([Arc<dyn Store>; 2], DbEnv, Cleanup)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("vault.db").display());
            let first = SqliteStore::connect(&url, 8).await?;
            first.migrate().await?;
            let second = SqliteStore::connect(&url, 8).await?;
            Ok((
                [Arc::new(first), Arc::new(second)],
                vec![(CHILD_SQLITE, url)],
                Box::pin(async move { drop(dir) }),
            ))
        }
        Backend::Postgres => {
            let url = std::env::var(URL_VAR)?;
            let schema = format!("vault_{}", uuid::Uuid::new_v4().simple());
            let base = PgConnectOptions::from_str(&url)?;
            let mut admin = sqlx::PgConnection::connect_with(&base).await?;
            admin
                .execute(format!("create schema {schema}").as_str())
                .await?;
            admin.close().await?;
            let options = base.clone().options([("search_path", schema.as_str())]);
            let first = PgStore::connect_with(options.clone(), 8).await?;
            first.migrate().await?;
            let second = PgStore::connect_with(options, 8).await?;
            let db_env = vec![(CHILD_PG_URL, url), (CHILD_PG_SCHEMA, schema.clone())];
            let cleanup = async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect_with(&base).await {
                    let _ = admin
                        .execute(format!("drop schema {schema} cascade").as_str())
                        .await;
                }
            };
            Ok((
                [Arc::new(first), Arc::new(second)],
                db_env,
                Box::pin(cleanup),
            ))
        }
    }
}

/// A sandbox with the app registered, an installed user, and two vaults ("processes").
struct Env {
    sandbox: SandboxHandle,
    pd: Pipedrive,
    stores: [Arc<dyn Store>; 2],
    keys: Arc<KeyRing>,
    key_entry: SecretString,
    db_env: DbEnv,
    vaults: [TokenVault; 2],
    tenant: Tenant,
    user: UserId,
    sandbox_company: u64,
    api_domain: url::Url,
}

impl Env {
    async fn start(
        backend: Backend,
        rotate_refresh_tokens: bool,
        config: VaultConfig,
    ) -> anyhow::Result<(Self, Cleanup)> {
        let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
            rotate_refresh_tokens,
            apps: vec![AppSpec {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                callback_url: CALLBACK.into(),
                scopes: vec!["deals:full".into()],
            }],
            companies: vec![CompanySpec {
                name: "Acme".into(),
                domain: "acme".into(),
                plan: Plan::Growth,
                seats: 3,
                daily_budget: None,
                burst_limit: None,
                users: vec![UserSpec {
                    name: "Ada".into(),
                    email: "ada@acme.test".into(),
                    is_admin: true,
                }],
            }],
            ..SandboxConfig::default()
        })
        .await?;
        let company = sandbox.control().companies().remove(0);
        let pd = Pipedrive::new(
            PipedriveConfig::new(
                sandbox.base_url().parse()?,
                CLIENT_ID,
                SecretString::from(CLIENT_SECRET),
                CALLBACK.parse()?,
            ),
            Arc::new(InMemoryLedger::new(LedgerConfig::default())),
        )?;
        let (stores, db_env, cleanup) = two_stores(backend).await?;
        let (keys, key_entry) = KeyRing::generate("k1")?;
        let keys = Arc::new(keys);
        let vaults = [
            TokenVault::with_config(
                stores[0].clone(),
                keys.clone(),
                pd.oauth().clone(),
                config.clone(),
            ),
            TokenVault::with_config(stores[1].clone(), keys.clone(), pd.oauth().clone(), config),
        ];
        let tenant = stores[0]
            .upsert_tenant(&NewTenant {
                company_id: CompanyId::new(i64::try_from(company.id)?),
                company_name: company.name.clone(),
                company_domain: company.domain.clone(),
            })
            .await?;
        let user_id = company.user_ids[0];
        let env = Self {
            api_domain: company.api_domain.parse()?,
            sandbox,
            pd,
            stores,
            keys,
            key_entry,
            db_env,
            vaults,
            tenant,
            user: UserId::new(i64::try_from(user_id)?),
            sandbox_company: company.id,
        };
        env.install(Utc::now() - chrono::Duration::minutes(1))
            .await?;
        env.sandbox.control().clear_calls();
        Ok((env, cleanup))
    }

    fn oauth(&self) -> &OAuth {
        self.pd.oauth()
    }

    /// Runs the install flow and stores the tokens with the given access-token expiry.
    async fn install(&self, access_expires_at: chrono::DateTime<Utc>) -> anyhow::Result<()> {
        let user = u64::try_from(self.user.get())?;
        let redirect =
            self.sandbox
                .control()
                .approve_install(CLIENT_ID, self.sandbox_company, user, None)?;
        let redirect = url::Url::parse(&redirect)?;
        let code = redirect
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .context("no code in the callback")?;
        let set = self.oauth().exchange_code(SecretString::from(code)).await?;
        let refresh = set.refresh_token.context("no refresh token")?;
        self.store_tokens(&set.access_token, &refresh, access_expires_at)
            .await
    }

    async fn store_tokens(
        &self,
        access: &SecretString,
        refresh: &SecretString,
        access_expires_at: chrono::DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let sealed = dealbridge_tokens::seal(
            &self.keys,
            self.tenant.company_id,
            self.user,
            access,
            refresh,
            access_expires_at,
        )?;
        self.stores[0]
            .upsert_installation(
                self.tenant.id,
                &NewInstallation {
                    user_id: self.user,
                    api_domain: self.api_domain.to_string(),
                    scopes: vec!["base".into(), "deals:full".into()],
                    tokens: sealed,
                },
            )
            .await?;
        Ok(())
    }

    /// The stored refresh token, decrypted.
    async fn stored_refresh_token(&self) -> anyhow::Result<SecretString> {
        let installation = self.stores[0]
            .installation(self.tenant.id, self.user)
            .await?
            .context("installation gone")?;
        let tokens = installation.tokens.context("tokens gone")?;
        Ok(
            dealbridge_tokens::open(&self.keys, self.tenant.company_id, self.user, &tokens)?
                .refresh_token,
        )
    }

    async fn status(&self) -> anyhow::Result<InstallationStatus> {
        Ok(self.stores[1]
            .installation(self.tenant.id, self.user)
            .await?
            .context("installation gone")?
            .status)
    }

    /// `/oauth/token` calls since the install, as (successful, refused).
    fn refreshes(&self) -> (usize, usize) {
        let calls = self.sandbox.control().calls(None);
        let token_calls = calls.iter().filter(|c| c.path == "/oauth/token");
        let ok = token_calls.clone().filter(|c| c.status == 200).count();
        (ok, token_calls.count() - ok)
    }

    /// A real API call through the shared client with the vault as token source.
    async fn call_api(&self, vault: usize) -> anyhow::Result<()> {
        let source = self.vaults[vault].source(self.tenant.id, self.user);
        let company = self.pd.company(CompanyCtx {
            company_id: dealbridge_pipedrive::CompanyId(self.sandbox_company),
            user_id: dealbridge_pipedrive::UserId(u64::try_from(self.user.get())?),
            api_domain: self.api_domain.clone(),
            token_source: Arc::new(source),
            lane: Lane::Interactive,
        });
        company.users().me().await?;
        Ok(())
    }
}

fn quick() -> VaultConfig {
    VaultConfig {
        lease_ttl: Duration::from_secs(30),
        lease_wait: Duration::from_secs(60),
        lease_poll: Duration::from_millis(20),
        ..VaultConfig::default()
    }
}

/// 200 concurrent requests over two "processes" for an expired token: exactly one refresh.
async fn single_flight(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, false, quick()).await?;
    let env = Arc::new(env);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            let source = env.vaults[i % 2].source(env.tenant.id, env.user);
            source.access_token().await
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(
            task.await?
                .map_err(|e| anyhow::anyhow!("token request failed: {e}"))?,
        );
    }
    let first = tokens[0].expose_secret().to_owned();
    anyhow::ensure!(
        tokens.iter().all(|t| t.expose_secret() == first),
        "not every request got the one refreshed token"
    );
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "refreshes (ok, refused): {:?}",
        env.refreshes()
    );
    // The vaults count the one refresh once, and the waiters as refreshed by someone else.
    let counts = env.vaults.each_ref().map(TokenVault::refresh_counts);
    anyhow::ensure!(
        counts[0].refreshed + counts[1].refreshed == 1
            && counts.iter().all(|c| c.refused == 0 && c.failed == 0),
        "refresh counts: {counts:?}"
    );
    env.call_api(0).await?;
    env.call_api(1).await?;
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "a fresh token was refreshed again"
    );
    Ok(cleanup)
}

/// With a refresh token that changes on every refresh, storms of concurrent 401-refreshes leave
/// the stored refresh token alive: one per storm, and one more forced refresh works after.
async fn rotating_refresh_tokens(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, true, quick()).await?;
    let env = Arc::new(env);
    let storms = 5;
    for storm in 0..storms {
        let rejected = env.vaults[0]
            .source(env.tenant.id, env.user)
            .access_token()
            .await?;
        let rejected = Arc::new(rejected);
        let mut tasks = Vec::new();
        for i in 0..40 {
            let env = env.clone();
            let rejected = rejected.clone();
            tasks.push(tokio::spawn(async move {
                env.vaults[i % 2]
                    .source(env.tenant.id, env.user)
                    .refresh(&rejected)
                    .await
            }));
        }
        for task in tasks {
            let token = task
                .await?
                .map_err(|e| anyhow::anyhow!("storm {storm}: {e}"))?;
            anyhow::ensure!(
                token.expose_secret() != rejected.expose_secret(),
                "storm {storm}: the rejected token came back"
            );
        }
        // The first storm also refreshes the expired install token.
        let expected = storm + 2;
        anyhow::ensure!(
            env.refreshes() == (expected, 0),
            "after storm {storm}: refreshes (ok, refused) {:?}, expected {expected}",
            env.refreshes()
        );
    }
    let before = env.stored_refresh_token().await?;
    env.vaults[1]
        .source(env.tenant.id, env.user)
        .force_refresh()
        .await?;
    anyhow::ensure!(
        env.refreshes() == (storms + 2, 0),
        "forced refresh: {:?}",
        env.refreshes()
    );
    anyhow::ensure!(
        env.stored_refresh_token().await?.expose_secret() != before.expose_secret(),
        "the rotated refresh token was not stored"
    );
    env.call_api(0).await?;
    anyhow::ensure!(env.status().await? == InstallationStatus::Active, "status");
    Ok(cleanup)
}

/// A refresh token that Pipedrive no longer accepts: checked once more, then `needs_reauth`.
async fn invalid_grant(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, true, quick()).await?;
    // Spend the stored refresh token behind the vault's back (rotation makes it single use).
    let stored = env.stored_refresh_token().await?;
    env.oauth().refresh(&stored).await?;
    env.sandbox.control().clear_calls();

    let source = env.vaults[0].source(env.tenant.id, env.user);
    match source.access_token().await {
        Err(TokenError::NeedsReauth(_)) => {}
        other => anyhow::bail!("expected NeedsReauth, got {other:?}"),
    }
    anyhow::ensure!(
        env.refreshes() == (0, 2),
        "tried once and re-checked once: {:?}",
        env.refreshes()
    );
    let counts = env.vaults[0].refresh_counts();
    anyhow::ensure!(
        counts.refused == 1 && counts.refreshed == 0,
        "refresh counts: {counts:?}"
    );
    anyhow::ensure!(
        env.status().await? == InstallationStatus::NeedsReauth,
        "status not needs_reauth"
    );
    // Jobs asking again get the same answer without another call to Pipedrive.
    match env.vaults[1]
        .source(env.tenant.id, env.user)
        .access_token()
        .await
    {
        Err(TokenError::NeedsReauth(_)) => {}
        other => anyhow::bail!("second process: expected NeedsReauth, got {other:?}"),
    }
    anyhow::ensure!(
        env.refreshes() == (0, 2),
        "asked Pipedrive again: {:?}",
        env.refreshes()
    );

    // A reinstall makes the installation usable again.
    env.install(Utc::now() + chrono::Duration::hours(1)).await?;
    env.call_api(1).await?;
    anyhow::ensure!(
        env.status().await? == InstallationStatus::Active,
        "reinstalled"
    );
    Ok(cleanup)
}

/// A token inside the refresh margin (default 5 min) is refreshed before use, so no call goes out
/// with a token about to expire; one outside it is used as stored.
async fn refreshes_inside_the_margin(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, false, quick()).await?;
    anyhow::ensure!(
        VaultConfig::default().refresh_margin == Duration::from_secs(5 * 60),
        "this test assumes the 5-minute default margin"
    );
    env.install(Utc::now() + chrono::Duration::minutes(10))
        .await?;
    env.sandbox.control().clear_calls();
    let source = env.vaults[0].source(env.tenant.id, env.user);
    let outside = source.access_token().await?;
    anyhow::ensure!(
        env.refreshes() == (0, 0),
        "refreshed a token 10 minutes from expiry: {:?}",
        env.refreshes()
    );

    // The same token, now 4 minutes from expiry: still valid at Pipedrive, but inside the margin.
    let refresh = env.stored_refresh_token().await?;
    env.store_tokens(
        &outside,
        &refresh,
        Utc::now() + chrono::Duration::minutes(4),
    )
    .await?;
    let inside = env.vaults[1]
        .source(env.tenant.id, env.user)
        .access_token()
        .await?;
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "a token 4 minutes from expiry was not refreshed before use: {:?}",
        env.refreshes()
    );
    anyhow::ensure!(
        inside.expose_secret() != outside.expose_secret(),
        "the token inside the margin was handed out"
    );
    let stored = env.stores[0]
        .installation(env.tenant.id, env.user)
        .await?
        .and_then(|i| i.tokens)
        .context("tokens")?;
    anyhow::ensure!(
        stored.access_expires_at > Utc::now() + chrono::Duration::minutes(30),
        "the refreshed token's expiry was not stored: {}",
        stored.access_expires_at
    );
    env.call_api(0).await?;
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "the refreshed token was not usable"
    );
    Ok(cleanup)
}

/// Another process holds the lease and stores new tokens: this one waits and uses them.
async fn waits_for_another_process(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, true, quick()).await?;
    let env = Arc::new(env);
    let now = Utc::now();
    anyhow::ensure!(
        env.stores[1]
            .acquire_refresh_lease(
                env.tenant.id,
                env.user,
                "other",
                now,
                now + chrono::Duration::seconds(60)
            )
            .await?,
        "lease"
    );
    let waiting = {
        let env = env.clone();
        tokio::spawn(async move {
            env.vaults[0]
                .source(env.tenant.id, env.user)
                .access_token()
                .await
        })
    };
    // Let the vault find the lease taken and start waiting (it cannot refresh meanwhile).
    tokio::time::sleep(Duration::from_millis(300)).await;
    anyhow::ensure!(!waiting.is_finished(), "did not wait for the lease");
    anyhow::ensure!(
        env.refreshes() == (0, 0),
        "refreshed under another holder's lease"
    );

    let set = env
        .oauth()
        .refresh(&env.stored_refresh_token().await?)
        .await?;
    let refresh = set.refresh_token.context("rotated refresh token")?;
    let sealed = dealbridge_tokens::seal(
        &env.keys,
        env.tenant.company_id,
        env.user,
        &set.access_token,
        &refresh,
        Utc::now() + chrono::Duration::hours(1),
    )?;
    env.stores[1]
        .store_refreshed_tokens(env.tenant.id, env.user, "other", &sealed, Utc::now())
        .await?;
    let token = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .context("still waiting after the other process stored its tokens")???;
    anyhow::ensure!(
        token.expose_secret() == set.access_token.expose_secret(),
        "did not use the other process's token"
    );
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "refreshes: {:?}",
        env.refreshes()
    );
    Ok(cleanup)
}

/// A holder that died keeps the lease only until it ends; then the vault takes over.
async fn takes_over_an_abandoned_lease(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, false, quick()).await?;
    let now = Utc::now();
    anyhow::ensure!(
        env.stores[1]
            .acquire_refresh_lease(
                env.tenant.id,
                env.user,
                "crashed",
                now,
                now + chrono::Duration::milliseconds(500)
            )
            .await?,
        "lease"
    );
    env.vaults[0]
        .source(env.tenant.id, env.user)
        .access_token()
        .await?;
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "refreshes: {:?}",
        env.refreshes()
    );
    anyhow::ensure!(
        !env.stores[1]
            .release_refresh_lease(env.tenant.id, env.user, "crashed")
            .await?,
        "the crashed holder still holds the lease"
    );
    Ok(cleanup)
}

/// The idle sweep refreshes installations whose tokens are older than the cut-off, only those.
async fn refresh_idle(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, false, quick()).await?;
    let sweep = env.vaults[0]
        .refresh_idle(chrono::Duration::days(30))
        .await?;
    anyhow::ensure!(sweep.found == 0, "just installed, yet idle: {sweep:?}");
    anyhow::ensure!(env.refreshes() == (0, 0), "refreshed a fresh install");

    // Make the tokens 31 days old, as a refresh long ago would have left them.
    let installation = env.stores[0]
        .installation(env.tenant.id, env.user)
        .await?
        .context("installation")?;
    let tokens = installation.tokens.context("tokens")?;
    let long_ago = Utc::now() - chrono::Duration::days(31);
    anyhow::ensure!(
        env.stores[0]
            .acquire_refresh_lease(
                env.tenant.id,
                env.user,
                "test",
                Utc::now(),
                Utc::now() + chrono::Duration::seconds(30)
            )
            .await?,
        "lease"
    );
    env.stores[0]
        .store_refreshed_tokens(env.tenant.id, env.user, "test", &tokens, long_ago)
        .await?;

    let sweep = env.vaults[1]
        .refresh_idle(chrono::Duration::days(30))
        .await?;
    anyhow::ensure!(
        (
            sweep.found,
            sweep.refreshed,
            sweep.failed,
            sweep.needs_reauth
        ) == (1, 1, 0, 0),
        "sweep: {sweep:?}"
    );
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "refreshes: {:?}",
        env.refreshes()
    );
    let again = env.vaults[0]
        .refresh_idle(chrono::Duration::days(30))
        .await?;
    anyhow::ensure!(again.found == 0, "still idle after the sweep: {again:?}");
    env.call_api(0).await?;
    anyhow::ensure!(env.refreshes() == (1, 0), "the swept token was not usable");
    Ok(cleanup)
}

/// Rotating to a new key, then removing the old ones: every token still opens and works.
async fn key_rotation(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, false, quick()).await?;
    let store = env.stores[0].clone();
    // More installations, under another old key and in a second tenant, to span batches.
    let other = store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(424_242),
            company_name: "Other".into(),
            company_domain: "other".into(),
        })
        .await?;
    let (old_ring, old_entry) = KeyRing::generate("old")?;
    let (_, new_entry) = KeyRing::generate("new")?;
    let installation = |user: i64, tokens| NewInstallation {
        user_id: UserId::new(user),
        api_domain: "https://other.pipedrive.com".into(),
        scopes: vec!["base".into()],
        tokens,
    };
    for user in 1..=5 {
        let sealed = dealbridge_tokens::seal(
            &old_ring,
            other.company_id,
            UserId::new(user),
            &SecretString::from(format!("access-{user}")),
            &SecretString::from(format!("refresh-{user}")),
            Utc::now() + chrono::Duration::hours(1),
        )?;
        store
            .upsert_installation(other.id, &installation(user, sealed))
            .await?;
    }
    // A row that cannot be re-encrypted: its ciphertexts are user 1's (wrong associated data).
    let foreign = store
        .installation(other.id, UserId::new(1))
        .await?
        .and_then(|i| i.tokens)
        .context("tokens")?;
    store
        .upsert_installation(other.id, &installation(6, foreign))
        .await?;

    // During the rotation the ring is: new key first, then every old one.
    let rotating = KeyRing::from_env_str(&format!(
        "{},{},{}",
        new_entry.expose_secret(),
        old_entry.expose_secret(),
        env.key_entry.expose_secret()
    ))?;
    let first = rotate_keys(store.as_ref(), &rotating, 2).await?;
    anyhow::ensure!(
        (
            first.scanned,
            first.reencrypted,
            first.failed,
            first.remaining
        ) == (7, 6, 1, 1),
        "first run: {first:?}"
    );
    let second = rotate_keys(store.as_ref(), &rotating, 2).await?;
    anyhow::ensure!(
        (
            second.scanned,
            second.reencrypted,
            second.failed,
            second.remaining
        ) == (1, 0, 1, 1),
        "a second run only looks at what is left: {second:?}"
    );

    // Retire the old keys: everything they sealed opens under the new ring alone.
    let new_only = Arc::new(KeyRing::from_env_str(new_entry.expose_secret())?);
    for user in 1..=5 {
        let tokens = store
            .installation(other.id, UserId::new(user))
            .await?
            .and_then(|i| i.tokens)
            .context("tokens")?;
        anyhow::ensure!(
            tokens.key_id == "new",
            "user {user} still under {}",
            tokens.key_id
        );
        let open =
            dealbridge_tokens::open(&new_only, other.company_id, UserId::new(user), &tokens)?;
        anyhow::ensure!(
            open.access_token.expose_secret() == format!("access-{user}")
                && open.refresh_token.expose_secret() == format!("refresh-{user}"),
            "user {user}: tokens changed by the rotation"
        );
    }
    // The installed user's refresh token, rotated too, still refreshes through a vault that
    // only knows the new key.
    let vault = TokenVault::with_config(store, new_only, env.oauth().clone(), quick());
    vault.source(env.tenant.id, env.user).access_token().await?;
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "refreshes: {:?}",
        env.refreshes()
    );
    Ok(cleanup)
}

/// Fingerprint of a token, so processes can compare tokens without printing them.
fn fingerprint(token: &SecretString) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    token.expose_secret().hash(&mut hasher);
    hasher.finish()
}

/// Child mode: open the store and a vault, say "ready", wait for "go" on stdin, then request the
/// token `requests` times at once and print "ok <count> <fingerprints...>".
fn child(requests: usize) -> anyhow::Result<()> {
    let var = |name: &str| std::env::var(name).with_context(|| format!("{name} not set"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store: Arc<dyn Store> = match std::env::var(CHILD_SQLITE) {
            Ok(url) => Arc::new(SqliteStore::connect(&url, 8).await?),
            Err(_) => {
                let options = PgConnectOptions::from_str(&var(CHILD_PG_URL)?)?
                    .options([("search_path", var(CHILD_PG_SCHEMA)?.as_str())]);
                Arc::new(PgStore::connect_with(options, 8).await?)
            }
        };
        let pd = Pipedrive::new(
            PipedriveConfig::new(
                var(CHILD_OAUTH)?.parse()?,
                CLIENT_ID,
                SecretString::from(CLIENT_SECRET),
                CALLBACK.parse()?,
            ),
            Arc::new(InMemoryLedger::new(LedgerConfig::default())),
        )?;
        let keys = Arc::new(KeyRing::from_env_str(&var(CHILD_KEYS)?)?);
        let vault = TokenVault::with_config(store, keys, pd.oauth().clone(), quick());
        let tenant: dealbridge_core::TenantId = var(CHILD_TENANT)?.parse()?;
        let user = UserId::new(var(CHILD_USER)?.parse()?);
        println!("ready");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        anyhow::ensure!(line.trim() == "go", "expected go, got {line:?}");
        let mut tasks = Vec::new();
        for _ in 0..requests {
            let source = vault.source(tenant, user);
            tasks.push(tokio::spawn(async move { source.access_token().await }));
        }
        let mut prints = std::collections::BTreeSet::new();
        for task in tasks {
            let token = task
                .await?
                .map_err(|e| anyhow::anyhow!("token request: {e}"))?;
            prints.insert(fingerprint(&token));
        }
        let prints: Vec<String> = prints.iter().map(u64::to_string).collect();
        println!("ok {requests} {}", prints.join(" "));
        Ok(())
    })
}

/// Two real OS processes, 100 concurrent requests each, for one expired token: one refresh.
async fn single_flight_across_processes(backend: Backend) -> anyhow::Result<Cleanup> {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let (env, cleanup) = Env::start(backend, false, quick()).await?;
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut command = Command::new(&exe);
        command
            .env(CHILD, "100")
            .env(CHILD_OAUTH, env.sandbox.base_url())
            .env(CHILD_KEYS, env.key_entry.expose_secret())
            .env(CHILD_TENANT, env.tenant.id.to_string())
            .env(CHILD_USER, env.user.get().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (name, value) in &env.db_env {
            command.env(name, value);
        }
        children.push(command.spawn()?);
    }
    // Both processes ready before either starts, so their requests overlap.
    let mut readers = Vec::new();
    for child in &mut children {
        let mut reader = BufReader::new(child.stdout.take().context("child stdout")?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        anyhow::ensure!(line.trim() == "ready", "child said {line:?}");
        readers.push(reader);
    }
    for child in &mut children {
        writeln!(child.stdin.as_mut().context("child stdin")?, "go")?;
    }
    let mut outputs = Vec::new();
    for (mut child, mut reader) in children.into_iter().zip(readers) {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest)?;
        let status = tokio::task::spawn_blocking(move || child.wait()).await??;
        anyhow::ensure!(status.success(), "child failed: {rest}");
        outputs.push(rest.trim().to_owned());
    }
    let stored = env.vaults[0]
        .source(env.tenant.id, env.user)
        .access_token()
        .await?;
    let expected = format!("ok 100 {}", fingerprint(&stored));
    for output in &outputs {
        anyhow::ensure!(
            output == &expected,
            "a process saw another token than the stored one: {output:?} vs {expected:?}"
        );
    }
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "refreshes (ok, refused): {:?}",
        env.refreshes()
    );
    Ok(cleanup)
}

type TestFn = fn(Backend) -> Pin<Box<dyn Future<Output = anyhow::Result<Cleanup>> + Send>>;

fn tests() -> Vec<(&'static str, TestFn)> {
    vec![
        ("single_flight_200_requests_two_processes", |b| {
            Box::pin(single_flight(b))
        }),
        ("single_flight_across_two_os_processes", |b| {
            Box::pin(single_flight_across_processes(b))
        }),
        ("rotating_refresh_tokens_survive_storms", |b| {
            Box::pin(rotating_refresh_tokens(b))
        }),
        ("invalid_grant_marks_needs_reauth", |b| {
            Box::pin(invalid_grant(b))
        }),
        ("refreshes_inside_the_margin", |b| {
            Box::pin(refreshes_inside_the_margin(b))
        }),
        ("waits_for_another_process", |b| {
            Box::pin(waits_for_another_process(b))
        }),
        ("takes_over_an_abandoned_lease", |b| {
            Box::pin(takes_over_an_abandoned_lease(b))
        }),
        ("an_error_under_the_lease_releases_it", |b| {
            Box::pin(lease::an_error_under_the_lease_releases_it(b))
        }),
        ("a_cancelled_refresh_releases_the_lease", |b| {
            Box::pin(lease::a_cancelled_refresh_releases_the_lease(b))
        }),
        ("refresh_idle", |b| Box::pin(refresh_idle(b))),
        ("each_refresh_sent_is_recorded", |b| {
            Box::pin(history::each_refresh_sent_is_recorded(b))
        }),
        ("key_rotation_then_old_key_removed", |b| {
            Box::pin(key_rotation(b))
        }),
    ]
}

fn run(backend: Backend, test: TestFn) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let cleanup = test(backend)
            .await
            .map_err(|e| Failed::from(format!("{e:#}")))?;
        cleanup.await;
        Ok(())
    })
}

fn main() {
    if let Ok(requests) = std::env::var(CHILD) {
        let outcome = requests.parse().map_err(anyhow::Error::new).and_then(child);
        if let Err(e) = outcome {
            eprintln!("child: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let args = libtest_mimic::Arguments::from_args();
    let no_postgres = std::env::var(URL_VAR).is_err();
    if no_postgres {
        eprintln!("postgres vault tests SKIPPED: {URL_VAR} is not set");
    }
    let mut trials = Vec::new();
    for (name, test) in tests() {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run(Backend::Sqlite, test)
        }));
        trials.push(
            Trial::test(format!("postgres::{name}"), move || {
                run(Backend::Postgres, test)
            })
            .with_ignored_flag(no_postgres),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}
