//! Token upkeep: the refresh lease, idle installations, and re-encryption under a new key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::installation::SealedTokens;
use dealbridge_core::{CompanyId, TenantId, UserId};
use dealbridge_storage::{
    IdleInstallation, InstallationKey, StaleKeyTokens, StoreError, StoreResult, TokenUpkeep,
};

use crate::backend::Backend;
use crate::statement::sql;
use crate::values::Id;
use crate::SqlStore;

/// Binds for "strictly after this key": the nil uuid and the smallest user id when there is no
/// cursor (tenant ids are v7 uuids, never nil; as text the nil uuid sorts first too).
fn cursor(after: Option<InstallationKey>) -> (Id, i64) {
    match after {
        Some((tenant, user)) => (Id(tenant.as_uuid()), user.get()),
        None => (Id(uuid::Uuid::nil()), i64::MIN),
    }
}

fn lease_lost(changed: u64) -> StoreResult<()> {
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
        let taken = sql::<B>(
            "update installations set refresh_lease_holder = $1, refresh_lease_until = $2
             where tenant_id = $3 and user_id = $4 and status = 'active'
               and refresh_token_ciphertext is not null
               and (refresh_lease_holder is null or refresh_lease_holder = $1
                    or refresh_lease_until < $5)",
        )
        .binds((holder, until, Id(tenant_id.as_uuid()), user_id.get(), now))
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(taken == 1)
    }

    async fn release_refresh_lease(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
    ) -> StoreResult<bool> {
        let released = sql::<B>(
            "update installations set refresh_lease_holder = null, refresh_lease_until = null
             where tenant_id = $1 and user_id = $2 and refresh_lease_holder = $3",
        )
        .binds((Id(tenant_id.as_uuid()), user_id.get(), holder))
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(released == 1)
    }

    async fn store_refreshed_tokens(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        tokens: &SealedTokens,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let stored = sql::<B>(
            "update installations set access_token_ciphertext = $1, refresh_token_ciphertext = $2,
                 token_key_id = $3, access_expires_at = $4, tokens_updated_at = $5, updated_at = $5,
                 refresh_lease_holder = null, refresh_lease_until = null
             where tenant_id = $6 and user_id = $7 and refresh_lease_holder = $8
               and status = 'active' and refresh_token_ciphertext is not null",
        )
        .binds((
            &tokens.access_token,
            &tokens.refresh_token,
            &tokens.key_id,
            tokens.access_expires_at,
            now,
            Id(tenant_id.as_uuid()),
            user_id.get(),
            holder,
        ))
        .execute(&mut *self.conn().await?)
        .await?;
        lease_lost(stored)
    }

    async fn mark_needs_reauth(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
    ) -> StoreResult<()> {
        let marked = sql::<B>(
            "update installations set status = 'needs_reauth', updated_at = $1,
                 refresh_lease_holder = null, refresh_lease_until = null
             where tenant_id = $2 and user_id = $3 and refresh_lease_holder = $4
               and status = 'active'",
        )
        .binds((Utc::now(), Id(tenant_id.as_uuid()), user_id.get(), holder))
        .execute(&mut *self.conn().await?)
        .await?;
        lease_lost(marked)
    }

    async fn idle_installations(
        &self,
        written_before: DateTime<Utc>,
        after: Option<InstallationKey>,
        limit: u32,
    ) -> StoreResult<Vec<IdleInstallation>> {
        let (after_tenant, after_user) = cursor(after);
        let rows = sql::<B>(
            "select tenant_id, user_id, tokens_updated_at from installations
             where status = 'active' and refresh_token_ciphertext is not null
               and tokens_updated_at <= $1
               and (tenant_id, user_id) > ($2, $3)
             order by tenant_id, user_id
             limit $4",
        )
        .binds((written_before, after_tenant, after_user, i64::from(limit)))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let tenant: Id = B::get(row, "tenant_id")?;
                Ok(IdleInstallation {
                    tenant_id: TenantId::from_uuid(tenant.0),
                    user_id: UserId::new(B::get(row, "user_id")?),
                    tokens_updated_at: B::get(row, "tokens_updated_at")?,
                })
            })
            .collect()
    }

    async fn tokens_not_under_key(
        &self,
        active_key_id: &str,
        after: Option<InstallationKey>,
        limit: u32,
    ) -> StoreResult<Vec<StaleKeyTokens>> {
        let (after_tenant, after_user) = cursor(after);
        let rows = sql::<B>(
            "select i.tenant_id, t.company_id, i.user_id, i.access_token_ciphertext,
                 i.refresh_token_ciphertext, i.token_key_id, i.access_expires_at
             from installations i join tenants t on t.id = i.tenant_id
             where i.token_key_id <> $1 and i.refresh_token_ciphertext is not null
               and (i.tenant_id, i.user_id) > ($2, $3)
             order by i.tenant_id, i.user_id
             limit $4",
        )
        .binds((active_key_id, after_tenant, after_user, i64::from(limit)))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let tenant: Id = B::get(row, "tenant_id")?;
                Ok(StaleKeyTokens {
                    tenant_id: TenantId::from_uuid(tenant.0),
                    company_id: CompanyId::new(B::get(row, "company_id")?),
                    user_id: UserId::new(B::get(row, "user_id")?),
                    tokens: SealedTokens {
                        access_token: B::get(row, "access_token_ciphertext")?,
                        refresh_token: B::get(row, "refresh_token_ciphertext")?,
                        key_id: B::get(row, "token_key_id")?,
                        access_expires_at: B::get(row, "access_expires_at")?,
                    },
                })
            })
            .collect()
    }

    async fn count_tokens_not_under_key(&self, active_key_id: &str) -> StoreResult<u64> {
        let row = sql::<B>(
            "select count(*) as n from installations
             where token_key_id <> $1 and refresh_token_ciphertext is not null",
        )
        .bind(active_key_id)
        .fetch_one(&mut *self.conn().await?)
        .await?;
        let n: i64 = B::get(&row, "n")?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt("negative count".into()))
    }

    async fn replace_token_ciphertexts(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        previous: &SealedTokens,
        reencrypted: &SealedTokens,
    ) -> StoreResult<bool> {
        let replaced = sql::<B>(
            "update installations set access_token_ciphertext = $1, refresh_token_ciphertext = $2,
                 token_key_id = $3
             where tenant_id = $4 and user_id = $5 and token_key_id = $6
               and access_token_ciphertext = $7 and refresh_token_ciphertext = $8",
        )
        .binds((
            &reencrypted.access_token,
            &reencrypted.refresh_token,
            &reencrypted.key_id,
            Id(tenant_id.as_uuid()),
            user_id.get(),
            &previous.key_id,
            &previous.access_token,
            &previous.refresh_token,
        ))
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(replaced == 1)
    }
}
