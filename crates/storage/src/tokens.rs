//! Token upkeep: the refresh lease, writing refreshed tokens, the idle sweep and key rotation.
//!
//! The lease is two columns on the installation row (`refresh_lease_holder`, `refresh_lease_until`)
//! taken by one conditional `update`: it works the same on SQLite and Postgres and holds no
//! connection while the OAuth server is being called.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::installation::SealedTokens;
use dealbridge_core::{CompanyId, TenantId, UserId};

use crate::StoreResult;

/// An installation's position in a listing that spans tenants, for keyset pagination: listings
/// return rows strictly after it, ordered by `(tenant_id, user_id)`.
pub type InstallationKey = (TenantId, UserId);

/// An installation whose tokens have not been written since the cut-off of an idle sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleInstallation {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub tokens_updated_at: DateTime<Utc>,
}

/// An installation whose token ciphertexts are not under the active key, with what is needed to
/// rebuild their associated data (the company id) and to update them conditionally.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleKeyTokens {
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub user_id: UserId,
    pub tokens: SealedTokens,
}

#[async_trait]
pub trait TokenUpkeep: Send + Sync + 'static {
    /// Takes the refresh lease of an active installation that holds tokens, if nobody holds it or
    /// the holder's lease ended before `now`. Returns whether `holder` now holds it (until `until`).
    /// Taking it again while holding it extends it.
    async fn acquire_refresh_lease(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Gives the lease up. Returns false (and changes nothing) when `holder` did not hold it.
    async fn release_refresh_lease(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
    ) -> StoreResult<bool>;

    /// Writes refreshed tokens and releases the lease in one statement, only while `holder` still
    /// holds the lease; otherwise writes nothing and returns `StoreError::Conflict`. Sets the time
    /// the tokens were written to `now`.
    async fn store_refreshed_tokens(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        tokens: &SealedTokens,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Marks the installation `needs_reauth` and releases the lease, only while `holder` holds it
    /// (otherwise `StoreError::Conflict`).
    async fn mark_needs_reauth(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
    ) -> StoreResult<()>;

    /// Active installations holding tokens that were last written at or before `written_before`,
    /// across tenants, ordered by `(tenant_id, user_id)`, strictly after `after`.
    async fn idle_installations(
        &self,
        written_before: DateTime<Utc>,
        after: Option<InstallationKey>,
        limit: u32,
    ) -> StoreResult<Vec<IdleInstallation>>;

    /// Installations (any status) whose tokens are sealed under a key other than `active_key_id`,
    /// across tenants, ordered by `(tenant_id, user_id)`, strictly after `after`.
    async fn tokens_not_under_key(
        &self,
        active_key_id: &str,
        after: Option<InstallationKey>,
        limit: u32,
    ) -> StoreResult<Vec<StaleKeyTokens>>;

    /// How many installations hold tokens sealed under a key other than `active_key_id`.
    async fn count_tokens_not_under_key(&self, active_key_id: &str) -> StoreResult<u64>;

    /// Replaces the ciphertexts (and key id) of one installation with `reencrypted`, only if the
    /// row still holds exactly `previous` (same key id and both ciphertexts): a refresh that wrote
    /// new tokens meanwhile wins. Returns whether the row was updated. Leaves the expiry time and
    /// the time the tokens were written alone: the tokens themselves did not change.
    async fn replace_token_ciphertexts(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        previous: &SealedTokens,
        reencrypted: &SealedTokens,
    ) -> StoreResult<bool>;
}
