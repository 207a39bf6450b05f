//! The token vault: hands out an installation's access token, refreshing it at most once at a time
//! per installation, across every process that shares the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::installation::{Installation, InstallationStatus, SealedTokens};
use dealbridge_core::{CompanyId, ErrorChain, TenantId, UserId};
use dealbridge_crypto::{ExposeSecret, KeyRing, SecretString};
use dealbridge_pipedrive::oauth::{OAuth, TokenSet};
use dealbridge_pipedrive::{TokenError, TokenSource};
use dealbridge_storage::{InstallationKey, RefreshOutcome, Store, StoreError};
use rand::Rng;

use crate::lease::RefreshLease;
use crate::refresh_counts::{Ended, RefreshCounts, RefreshFigures};
use crate::seal::{open, seal};

/// Timing of refreshes. The defaults suit Pipedrive's one-hour access tokens.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// An access token this close to its expiry is refreshed before use.
    pub refresh_margin: Duration,
    /// How long a lease protects a refresh. Longer than the OAuth request timeout (30 s), so a
    /// live holder never loses it; short enough that a crashed holder delays others only briefly.
    pub lease_ttl: Duration,
    /// How long a caller waits for another process's refresh before giving up with
    /// `TokenError::Unavailable`.
    pub lease_wait: Duration,
    /// Pause between looks at the store while another process holds the lease (a random jitter
    /// of up to the same again is added).
    pub lease_poll: Duration,
    /// Installations per page in [`TokenVault::refresh_idle`].
    pub idle_batch: u32,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(5 * 60),
            lease_ttl: Duration::from_secs(120),
            lease_wait: Duration::from_secs(150),
            lease_poll: Duration::from_millis(100),
            idle_batch: 100,
        }
    }
}

/// Failures of the vault's batch operations (the idle sweep, key rotation).
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("store error")]
    Store(#[from] StoreError),
}

/// Outcome of one [`TokenVault::refresh_idle`] run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdleSweep {
    /// Idle installations found.
    pub found: u64,
    /// Refreshed now (or by another process while this one waited).
    pub refreshed: u64,
    /// The refresh token was refused twice: the installation is now `needs_reauth`.
    pub needs_reauth: u64,
    /// Could not be refreshed now (OAuth server or store unavailable); the next sweep retries.
    pub failed: u64,
}

type LockMap = HashMap<InstallationKey, Weak<tokio::sync::Mutex<()>>>;

/// Owns the store, the key ring and the OAuth client; cheap to clone. One per process: its
/// per-installation locks are what keep the tasks of one process from refreshing side by side.
#[derive(Clone)]
pub struct TokenVault {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    oauth: OAuth,
    config: VaultConfig,
    /// This vault's name on leases; unique per instance.
    holder: String,
    locks: Mutex<LockMap>,
    refreshes: RefreshCounts,
}

impl std::fmt::Debug for TokenVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVault")
            .field("holder", &self.inner.holder)
            .field("keys", &self.inner.keys)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl TokenVault {
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>, oauth: OAuth) -> Self {
        Self::with_config(store, keys, oauth, VaultConfig::default())
    }

    pub fn with_config(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        oauth: OAuth,
        config: VaultConfig,
    ) -> Self {
        let holder = format!(
            "pid{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Self {
            inner: Arc::new(Inner {
                store,
                keys,
                oauth,
                config,
                holder,
                locks: Mutex::new(HashMap::new()),
                refreshes: RefreshCounts::default(),
            }),
        }
    }

    /// How the refreshes this vault attempted so far ended (the metrics page reads it).
    pub fn refresh_counts(&self) -> RefreshFigures {
        self.inner.refreshes.snapshot()
    }

    /// The token source of one installation, for `CompanyCtx::token_source`.
    pub fn source(&self, tenant_id: TenantId, user_id: UserId) -> InstallationTokens {
        InstallationTokens {
            vault: self.clone(),
            tenant_id,
            user_id,
            company_id: tokio::sync::OnceCell::new(),
        }
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.inner.keys
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Refreshes every active installation whose tokens were last written `older_than` ago or
    /// earlier (30 days for the periodic sweep), so refresh tokens never reach Pipedrive's 60-day
    /// idle expiry. Each refresh takes the same locks as any other, so it is safe while the app
    /// serves; an installation refreshed meanwhile by someone else counts as refreshed.
    pub async fn refresh_idle(
        &self,
        older_than: chrono::Duration,
    ) -> Result<IdleSweep, VaultError> {
        let cutoff = Utc::now() - older_than;
        let mut sweep = IdleSweep::default();
        let mut after = None;
        loop {
            let page = self
                .inner
                .store
                .idle_installations(cutoff, after, self.inner.config.idle_batch)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((last.tenant_id, last.user_id));
            for idle in page {
                sweep.found += 1;
                let source = self.source(idle.tenant_id, idle.user_id);
                match source.force_refresh().await {
                    Ok(()) => sweep.refreshed += 1,
                    Err(TokenError::NeedsReauth(_)) => sweep.needs_reauth += 1,
                    Err(e @ TokenError::Unavailable { .. }) => {
                        // Handled here (the sweep goes on): the one place its chain is logged.
                        tracing::warn!(
                            tenant.id = %idle.tenant_id,
                            user.id = %idle.user_id,
                            error = %ErrorChain(&e),
                            "idle refresh failed"
                        );
                        sweep.failed += 1;
                    }
                }
            }
        }
        Ok(sweep)
    }

    fn lock_for(&self, key: InstallationKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(lock) = locks.get(&key).and_then(Weak::upgrade) {
            return lock;
        }
        if locks.len() >= 1024 {
            locks.retain(|_, lock| lock.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key, Arc::downgrade(&lock));
        lock
    }
}

/// How a refresh under the locks ended.
enum Outcome {
    /// This call refreshed; the new tokens are stored.
    Refreshed(SecretString),
    /// Someone else's tokens are current (refreshed or reinstalled meanwhile); nothing was sent.
    Current(SecretString),
}

impl Outcome {
    fn into_token(self) -> SecretString {
        match self {
            Outcome::Refreshed(token) | Outcome::Current(token) => token,
        }
    }
}

/// Pipedrive always sends `expires_in`; if it ever does not, assume its documented hour.
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3599);

/// One installation's access tokens; implements [`TokenSource`]. Cheap to create (the vault
/// holds the shared state); wrap it in an `Arc` for `CompanyCtx::token_source`.
pub struct InstallationTokens {
    vault: TokenVault,
    tenant_id: TenantId,
    user_id: UserId,
    company_id: tokio::sync::OnceCell<CompanyId>,
}

impl std::fmt::Debug for InstallationTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationTokens")
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Whether the stored tokens are no longer the ones a caller saw. A refresh or a reinstall always
/// moves the expiry; a key rotation changes the ciphertexts but not the tokens, and does not.
fn changed(seen: &SealedTokens, current: &SealedTokens) -> bool {
    seen.access_expires_at != current.access_expires_at
}

#[async_trait]
impl TokenSource for InstallationTokens {
    async fn access_token(&self) -> Result<SecretString, TokenError> {
        let tokens = self.read().await?;
        if self.is_fresh(&tokens) {
            return self.access_of(&tokens).await;
        }
        self.refresh_locked(&tokens).await.map(Outcome::into_token)
    }

    async fn refresh(&self, rejected: &SecretString) -> Result<SecretString, TokenError> {
        let tokens = self.read().await?;
        if self.is_fresh(&tokens) {
            let access = self.access_of(&tokens).await?;
            if access.expose_secret() != rejected.expose_secret() {
                // Another worker refreshed since the caller read its token.
                return Ok(access);
            }
        }
        self.refresh_locked(&tokens).await.map(Outcome::into_token)
    }
}

impl InstallationTokens {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Refreshes now even if the access token is still fresh, unless someone else refreshed since
    /// this call read the tokens (the idle sweep, and tests).
    pub async fn force_refresh(&self) -> Result<(), TokenError> {
        let tokens = self.read().await?;
        self.refresh_locked(&tokens).await.map(|_| ())
    }

    fn inner(&self) -> &Inner {
        &self.vault.inner
    }

    /// Records how a refresh that reached the OAuth server ended (see `history`).
    async fn record(&self, outcome: RefreshOutcome, reason: Option<String>) {
        let store = self.inner().store.as_ref();
        crate::history::record(store, self.tenant_id, self.user_id, outcome, reason).await;
    }

    /// The company id is part of the tokens' associated data; it never changes for a tenant.
    async fn company_id(&self) -> Result<CompanyId, TokenError> {
        self.company_id
            .get_or_try_init(|| async {
                self.inner()
                    .store
                    .tenant(self.tenant_id)
                    .await
                    .map_err(|e| TokenError::unavailable_because("reading the tenant", e))?
                    .map(|t| t.company_id)
                    .ok_or_else(|| TokenError::needs_reauth("tenant not installed"))
            })
            .await
            .copied()
    }

    /// The installation's tokens, or why there are none to use.
    async fn read(&self) -> Result<SealedTokens, TokenError> {
        let installation: Option<Installation> = self
            .inner()
            .store
            .installation(self.tenant_id, self.user_id)
            .await
            .map_err(|e| TokenError::unavailable_because("reading the installation", e))?;
        let installation = installation.ok_or_else(|| TokenError::needs_reauth("not installed"))?;
        match installation.status {
            InstallationStatus::Active => {}
            InstallationStatus::NeedsReauth => {
                return Err(TokenError::needs_reauth(
                    "the refresh token was refused; the user must install again",
                ))
            }
            InstallationStatus::Uninstalled => return Err(TokenError::needs_reauth("uninstalled")),
        }
        installation
            .tokens
            .ok_or_else(|| TokenError::needs_reauth("no tokens stored"))
    }

    fn is_fresh(&self, tokens: &SealedTokens) -> bool {
        let margin = chrono::Duration::from_std(self.inner().config.refresh_margin)
            .unwrap_or(chrono::Duration::MAX);
        tokens.access_expires_at - margin > Utc::now()
    }

    async fn access_of(&self, tokens: &SealedTokens) -> Result<SecretString, TokenError> {
        let company = self.company_id().await?;
        open(&self.inner().keys, company, self.user_id, tokens)
            .map(|open| open.access_token)
            .map_err(|e| TokenError::unavailable_because("opening the stored tokens", e))
    }

    /// The current access token if the stored tokens changed since `seen` and are fresh.
    async fn current_if_changed(
        &self,
        seen: &SealedTokens,
        current: &SealedTokens,
    ) -> Result<Option<SecretString>, TokenError> {
        if changed(seen, current) && self.is_fresh(current) {
            return self.access_of(current).await.map(Some);
        }
        Ok(None)
    }

    /// Refreshes under the per-installation mutex and the store lease, unless the tokens changed
    /// since `seen` (then the current access token is returned and nothing is sent).
    async fn refresh_locked(&self, seen: &SealedTokens) -> Result<Outcome, TokenError> {
        let outcome = self.refresh_locked_uncounted(seen).await;
        self.inner().refreshes.count(match &outcome {
            Ok(Outcome::Refreshed(_)) => Ended::Refreshed,
            Ok(Outcome::Current(_)) => Ended::AlreadyRefreshed,
            Err(e) => Ended::Failed(e),
        });
        outcome
    }

    async fn refresh_locked_uncounted(&self, seen: &SealedTokens) -> Result<Outcome, TokenError> {
        let lock = self.vault.lock_for((self.tenant_id, self.user_id));
        let _guard = lock.lock().await;

        // Another task of this process may have refreshed while this one waited for the mutex.
        let current = self.read().await?;
        if let Some(token) = self.current_if_changed(seen, &current).await? {
            return Ok(Outcome::Current(token));
        }
        let mut lease = match self.take_lease(seen).await? {
            Leased::Held(lease) => lease,
            Leased::Landed(token) => return Ok(Outcome::Current(token)),
        };
        let outcome = self.refresh_under_lease(&mut lease, seen).await;
        // Every way out gives the lease back here (a no-op when storing the tokens or marking the
        // installation already ended it); a cancelled refresh gives it back from the guard's drop.
        lease.release().await;
        outcome
    }

    /// Takes the store lease, waiting while another process holds it. Returns a token instead
    /// when that process's refresh landed meanwhile.
    async fn take_lease(&self, seen: &SealedTokens) -> Result<Leased, TokenError> {
        let config = &self.inner().config;
        let ttl = chrono::Duration::from_std(config.lease_ttl)
            .map_err(|e| TokenError::unavailable_because("lease duration", e))?;
        let started = tokio::time::Instant::now();
        loop {
            let now = Utc::now();
            let taken = RefreshLease::take(
                &self.inner().store,
                self.tenant_id,
                self.user_id,
                &self.inner().holder,
                now,
                now + ttl,
            )
            .await
            .map_err(|e| TokenError::unavailable_because("taking the refresh lease", e))?;
            if let Some(lease) = taken {
                return Ok(Leased::Held(lease));
            }
            // Refused: another process holds it, or the installation stopped being usable
            // (`read` says which).
            let current = self.read().await?;
            if let Some(token) = self.current_if_changed(seen, &current).await? {
                return Ok(Leased::Landed(token));
            }
            if started.elapsed() >= config.lease_wait {
                return Err(TokenError::unavailable(
                    "another process is still refreshing this installation's tokens",
                ));
            }
            let jitter = rand::thread_rng().gen_range(Duration::ZERO..=config.lease_poll);
            tokio::time::sleep(config.lease_poll + jitter).await;
        }
    }

    /// Holding the lease: refresh with the stored refresh token, unless another process
    /// refreshed and released between our last read and our taking the lease. An
    /// `invalid_grant` is checked once more (re-read, retry with whatever refresh token is stored
    /// then) before the installation is marked `needs_reauth`.
    async fn refresh_under_lease(
        &self,
        lease: &mut RefreshLease,
        seen: &SealedTokens,
    ) -> Result<Outcome, TokenError> {
        let mut used = self.read().await?;
        if let Some(token) = self.current_if_changed(seen, &used).await? {
            return Ok(Outcome::Current(token));
        }
        let company = self.company_id().await?;
        let mut rechecked = false;
        loop {
            let refresh_token = open(&self.inner().keys, company, self.user_id, &used)
                .map_err(|e| TokenError::unavailable_because("opening the stored tokens", e))?
                .refresh_token;
            let requested_at = Utc::now();
            match self.inner().oauth.refresh(&refresh_token).await {
                Ok(set) => {
                    return self
                        .commit(lease, company, set, refresh_token, requested_at)
                        .await
                        .map(Outcome::Refreshed)
                }
                Err(dealbridge_pipedrive::Error::NeedsReauth { reason }) if !rechecked => {
                    rechecked = true;
                    tracing::info!(
                        tenant.id = %self.tenant_id,
                        user.id = %self.user_id,
                        %reason,
                        "refresh token refused; checking once more"
                    );
                    let current = self.read().await?;
                    match self.current_if_changed(&used, &current).await? {
                        Some(token) => return Ok(Outcome::Current(token)),
                        None => used = current,
                    }
                }
                Err(dealbridge_pipedrive::Error::NeedsReauth { reason }) => {
                    return self.give_up(lease, reason).await;
                }
                Err(e) => {
                    let why = ErrorChain(&e).to_string();
                    self.record(RefreshOutcome::Failed, Some(why)).await;
                    return Err(TokenError::unavailable_because(
                        "refreshing the access token",
                        e,
                    ));
                }
            }
        }
    }

    /// Seals and stores the new tokens, releasing the lease in the same statement, before the
    /// access token is handed to anyone. Keeps the refresh token used when the answer has none.
    async fn commit(
        &self,
        lease: &mut RefreshLease,
        company: CompanyId,
        set: TokenSet,
        used_refresh_token: SecretString,
        requested_at: DateTime<Utc>,
    ) -> Result<SecretString, TokenError> {
        let refresh_token = set.refresh_token.unwrap_or(used_refresh_token);
        let lifetime = chrono::Duration::from_std(set.expires_in.unwrap_or(DEFAULT_EXPIRES_IN))
            .unwrap_or(chrono::Duration::MAX);
        // Counted from before the request, so the stored expiry is never later than Pipedrive's.
        let expires_at = requested_at
            .checked_add_signed(lifetime)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let sealed = seal(
            &self.inner().keys,
            company,
            self.user_id,
            &set.access_token,
            &refresh_token,
            expires_at,
        )
        .map_err(|e| TokenError::unavailable_because("sealing the new tokens", e))?;
        match lease.store_tokens(&sealed, Utc::now()).await {
            Ok(()) => {
                tracing::info!(
                    tenant.id = %self.tenant_id,
                    user.id = %self.user_id,
                    "access token refreshed"
                );
                self.record(RefreshOutcome::Refreshed, None).await;
                Ok(set.access_token)
            }
            Err(StoreError::Conflict(_)) => {
                // Reinstalled, uninstalled or the lease ran out meanwhile: the row is someone
                // else's now. The next call reads whatever is stored.
                tracing::warn!(
                    tenant.id = %self.tenant_id,
                    user.id = %self.user_id,
                    "refresh lease lost before the new tokens were stored; discarding them"
                );
                let why = "the refresh lease was lost before the new tokens were stored";
                self.record(RefreshOutcome::Failed, Some(why.into())).await;
                Err(TokenError::unavailable(
                    "the refresh lease was lost before the new tokens were stored",
                ))
            }
            Err(e) => {
                let why = format!("storing the new tokens: {}", ErrorChain(&e));
                self.record(RefreshOutcome::Failed, Some(why)).await;
                Err(TokenError::unavailable_because("storing the new tokens", e))
            }
        }
    }

    /// The refresh token was refused twice: mark the installation so jobs wait for a reinstall.
    async fn give_up(
        &self,
        lease: &mut RefreshLease,
        reason: String,
    ) -> Result<Outcome, TokenError> {
        match lease.mark_needs_reauth().await {
            Ok(()) => {
                tracing::warn!(
                    tenant.id = %self.tenant_id,
                    user.id = %self.user_id,
                    %reason,
                    "refresh token refused twice; installation needs re-authorisation"
                );
                self.record(RefreshOutcome::Refused, Some(reason.clone()))
                    .await;
                Err(TokenError::needs_reauth(reason))
            }
            // A reinstall (or another holder) replaced the row meanwhile: let the next call read it.
            Err(StoreError::Conflict(_)) => Err(TokenError::unavailable(
                "the installation changed while its refresh token was refused",
            )),
            Err(e) => Err(TokenError::unavailable_because(
                "marking the installation for re-authorisation",
                e,
            )),
        }
    }
}

/// How taking the lease ended.
enum Leased {
    /// This vault holds it.
    Held(RefreshLease),
    /// Another process refreshed meanwhile; its access token.
    Landed(SecretString),
}
