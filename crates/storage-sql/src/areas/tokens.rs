//! Token upkeep: the refresh lease, idle installations, and re-encryption under a new key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::installation::SealedTokens;
use dealbridge_core::{CompanyId, TenantId, UserId};
use dealbridge_storage::{
    IdleInstallation, InstallationKey, StaleKeyTokens, StoreError, StoreResult, TokenUpkeep,
};

use crate::backend::Backend;
use crate::statement::{count, sql};
use crate::values::Id;
use crate::SqlStore;

const ACQUIRE_LEASE: &str = "update installations
    set refresh_lease_holder = $1, refresh_lease_until = $2
    where tenant_id = $3 and user_id = $4 and status = 'active'
      and refresh_token_ciphertext is not null
      and (refresh_lease_holder is null or refresh_lease_holder = $1 or refresh_lease_until < $5)";

const RELEASE_LEASE: &str = "update installations
    set refresh_lease_holder = null, refresh_lease_until = null
    where tenant_id = $1 and user_id = $2 and refresh_lease_holder = $3";

const STORE_REFRESHED: &str = "update installations
    set access_token_ciphertext = $1, refresh_token_ciphertext = $2, token_key_id = $3,
        access_expires_at = $4, tokens_updated_at = $5, updated_at = $5,
        refresh_lease_holder = null, refresh_lease_until = null
    where tenant_id = $6 and user_id = $7 and refresh_lease_holder = $8
      and status = 'active' and refresh_token_ciphertext is not null";

const NEEDS_REAUTH: &str = "update installations
    set status = 'needs_reauth', updated_at = $1,
        refresh_lease_holder = null, refresh_lease_until = null
    where tenant_id = $2 and user_id = $3 and refresh_lease_holder = $4 and status = 'active'";

const IDLE: &str = "select tenant_id, user_id, tokens_updated_at from installations
    where status = 'active' and refresh_token_ciphertext is not null
      and tokens_updated_at <= $1 and (tenant_id, user_id) > ($2, $3)
    order by tenant_id, user_id limit $4";

const NOT_UNDER_KEY: &str = "select i.tenant_id, t.company_id, i.user_id,
        i.access_token_ciphertext, i.refresh_token_ciphertext, i.token_key_id, i.access_expires_at
    from installations i join tenants t on t.id = i.tenant_id
    where i.token_key_id <> $1 and i.refresh_token_ciphertext is not null
      and (i.tenant_id, i.user_id) > ($2, $3)
    order by i.tenant_id, i.user_id limit $4";

const COUNT_NOT_UNDER_KEY: &str = "select count(*) as n from installations
    where token_key_id <> $1 and refresh_token_ciphertext is not null";

const REPLACE_CIPHERTEXTS: &str = "update installations
    set access_token_ciphertext = $1, refresh_token_ciphertext = $2, token_key_id = $3
    where tenant_id = $4 and user_id = $5 and token_key_id = $6
      and access_token_ciphertext = $7 and refresh_token_ciphertext = $8";

/// Binds for "strictly after this key": the nil uuid and the smallest user id when there is no
/// cursor (tenant ids are v7 uuids, never nil; as text the nil uuid sorts first too).
fn cursor(after: Option<InstallationKey>) -> (Id, i64) {
    match after {
        Some((tenant, user)) => (Id(tenant.as_uuid()), user.get()),
        None => (Id(uuid::Uuid::nil()), i64::MIN),
    }
}

fn tenant_of<B: Backend>(row: &B::Row) -> StoreResult<TenantId> {
    B::get(row, "tenant_id").map(|id: Id| TenantId::from_uuid(id.0))
}

fn lease_held(changed: u64) -> StoreResult<()> {
    match changed {
        0 => Err(StoreError::Conflict("refresh lease not held")),
        _ => Ok(()),
    }
}

#[async_trait]
impl<B: Backend> TokenUpkeep for SqlStore<B> {
    async fn acquire_refresh_lease(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let values = (holder, until, Id(tenant_id.as_uuid()), user_id.get(), now);
        Ok(self.execute(ACQUIRE_LEASE, values).await? == 1)
    }

    async fn release_refresh_lease(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
    ) -> StoreResult<bool> {
        let values = (Id(tenant_id.as_uuid()), user_id.get(), holder);
        Ok(self.execute(RELEASE_LEASE, values).await? == 1)
    }

    async fn store_refreshed_tokens(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        tokens: &SealedTokens,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (access, refresh) = (&tokens.access_token, &tokens.refresh_token);
        let (key, expires) = (&tokens.key_id, tokens.access_expires_at);
        let tokens = (access, refresh, key, expires, now);
        let held = (Id(tenant_id.as_uuid()), user_id.get(), holder);
        let store = sql::<B>(STORE_REFRESHED).binds(tokens).binds(held);
        lease_held(store.execute(&mut *self.conn().await?).await?)
    }

    async fn mark_needs_reauth(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
    ) -> StoreResult<()> {
        let values = (Utc::now(), Id(tenant_id.as_uuid()), user_id.get(), holder);
        lease_held(self.execute(NEEDS_REAUTH, values).await?)
    }

    async fn idle_installations(
        &self,
        written_before: DateTime<Utc>,
        after: Option<InstallationKey>,
        limit: u32,
    ) -> StoreResult<Vec<IdleInstallation>> {
        let (tenant, user) = cursor(after);
        let values = (written_before, tenant, user, i64::from(limit));
        let read = |row: &B::Row| {
            Ok(IdleInstallation {
                tenant_id: tenant_of::<B>(row)?,
                user_id: UserId::new(B::get(row, "user_id")?),
                tokens_updated_at: B::get(row, "tokens_updated_at")?,
            })
        };
        self.fetch_all(IDLE, values, read).await
    }

    async fn tokens_not_under_key(
        &self,
        active_key_id: &str,
        after: Option<InstallationKey>,
        limit: u32,
    ) -> StoreResult<Vec<StaleKeyTokens>> {
        let (tenant, user) = cursor(after);
        let values = (active_key_id, tenant, user, i64::from(limit));
        let read = |row: &B::Row| {
            Ok(StaleKeyTokens {
                tenant_id: tenant_of::<B>(row)?,
                company_id: CompanyId::new(B::get(row, "company_id")?),
                user_id: UserId::new(B::get(row, "user_id")?),
                tokens: SealedTokens {
                    access_token: B::get(row, "access_token_ciphertext")?,
                    refresh_token: B::get(row, "refresh_token_ciphertext")?,
                    key_id: B::get(row, "token_key_id")?,
                    access_expires_at: B::get(row, "access_expires_at")?,
                },
            })
        };
        self.fetch_all(NOT_UNDER_KEY, values, read).await
    }

    async fn count_tokens_not_under_key(&self, active_key_id: &str) -> StoreResult<u64> {
        let values = (active_key_id,);
        self.fetch_one(COUNT_NOT_UNDER_KEY, values, count::<B>)
            .await
    }

    async fn replace_token_ciphertexts(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        previous: &SealedTokens,
        reencrypted: &SealedTokens,
    ) -> StoreResult<bool> {
        let (new, old) = (reencrypted, previous);
        let new = (&new.access_token, &new.refresh_token, &new.key_id);
        let old = (&old.key_id, &old.access_token, &old.refresh_token);
        let installation = (Id(tenant_id.as_uuid()), user_id.get());
        let replace = sql::<B>(REPLACE_CIPHERTEXTS).binds(new);
        let replace = replace.binds(installation).binds(old);
        Ok(replace.execute(&mut *self.conn().await?).await? == 1)
    }
}
