//! Token upkeep on Postgres.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::installation::SealedTokens;
use dealbridge_core::{CompanyId, TenantId, UserId};
use dealbridge_storage::{
    IdleInstallation, InstallationKey, StaleKeyTokens, StoreError, StoreResult, TokenUpkeep,
};
use sqlx::Row;

use crate::PgStore;

/// Binds for "strictly after this key": the nil uuid and the smallest user id when there is no
/// cursor (tenant ids are v7 uuids, never nil).
fn cursor(after: Option<InstallationKey>) -> (uuid::Uuid, i64) {
    match after {
        Some((tenant, user)) => (tenant.as_uuid(), user.get()),
        None => (uuid::Uuid::nil(), i64::MIN),
    }
}

#[async_trait]
impl TokenUpkeep for PgStore {
    async fn acquire_refresh_lease(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update installations set refresh_lease_holder = $1, refresh_lease_until = $2
             where tenant_id = $3 and user_id = $4 and status = 'active'
               and refresh_token_ciphertext is not null
               and (refresh_lease_holder is null or refresh_lease_holder = $5
                    or refresh_lease_until < $6)",
        )
        .bind(holder)
        .bind(until)
        .bind(tenant_id.as_uuid())
        .bind(user_id.get())
        .bind(holder)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_refresh_lease(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update installations set refresh_lease_holder = null, refresh_lease_until = null
             where tenant_id = $1 and user_id = $2 and refresh_lease_holder = $3",
        )
        .bind(tenant_id.as_uuid())
        .bind(user_id.get())
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn store_refreshed_tokens(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        tokens: &SealedTokens,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "update installations set access_token_ciphertext = $1, refresh_token_ciphertext = $2,
                 token_key_id = $3, access_expires_at = $4, tokens_updated_at = $5, updated_at = $6,
                 refresh_lease_holder = null, refresh_lease_until = null
             where tenant_id = $7 and user_id = $8 and refresh_lease_holder = $9
               and status = 'active' and refresh_token_ciphertext is not null",
        )
        .bind(&tokens.access_token)
        .bind(&tokens.refresh_token)
        .bind(&tokens.key_id)
        .bind(tokens.access_expires_at)
        .bind(now)
        .bind(now)
        .bind(tenant_id.as_uuid())
        .bind(user_id.get())
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("refresh lease not held"));
        }
        Ok(())
    }

    async fn mark_needs_reauth(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "update installations set status = 'needs_reauth', updated_at = $1,
                 refresh_lease_holder = null, refresh_lease_until = null
             where tenant_id = $2 and user_id = $3 and refresh_lease_holder = $4
               and status = 'active'",
        )
        .bind(Utc::now())
        .bind(tenant_id.as_uuid())
        .bind(user_id.get())
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("refresh lease not held"));
        }
        Ok(())
    }

    async fn idle_installations(
        &self,
        written_before: DateTime<Utc>,
        after: Option<InstallationKey>,
        limit: u32,
    ) -> StoreResult<Vec<IdleInstallation>> {
        let (after_tenant, after_user) = cursor(after);
        let rows = sqlx::query(
            "select tenant_id, user_id, tokens_updated_at from installations
             where status = 'active' and refresh_token_ciphertext is not null
               and tokens_updated_at <= $1
               and (tenant_id, user_id) > ($2, $3)
             order by tenant_id, user_id
             limit $4",
        )
        .bind(written_before)
        .bind(after_tenant)
        .bind(after_user)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        rows.iter()
            .map(|row| {
                let get_err = StoreError::backend;
                Ok(IdleInstallation {
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(get_err)?),
                    user_id: UserId::new(row.try_get("user_id").map_err(get_err)?),
                    tokens_updated_at: row.try_get("tokens_updated_at").map_err(get_err)?,
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
        let rows = sqlx::query(
            "select i.tenant_id, t.company_id, i.user_id, i.access_token_ciphertext,
                 i.refresh_token_ciphertext, i.token_key_id, i.access_expires_at
             from installations i join tenants t on t.id = i.tenant_id
             where i.token_key_id <> $1 and i.refresh_token_ciphertext is not null
               and (i.tenant_id, i.user_id) > ($2, $3)
             order by i.tenant_id, i.user_id
             limit $4",
        )
        .bind(active_key_id)
        .bind(after_tenant)
        .bind(after_user)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        rows.iter()
            .map(|row| {
                let get_err = StoreError::backend;
                Ok(StaleKeyTokens {
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(get_err)?),
                    company_id: CompanyId::new(row.try_get("company_id").map_err(get_err)?),
                    user_id: UserId::new(row.try_get("user_id").map_err(get_err)?),
                    tokens: SealedTokens {
                        access_token: row.try_get("access_token_ciphertext").map_err(get_err)?,
                        refresh_token: row.try_get("refresh_token_ciphertext").map_err(get_err)?,
                        key_id: row.try_get("token_key_id").map_err(get_err)?,
                        access_expires_at: row.try_get("access_expires_at").map_err(get_err)?,
                    },
                })
            })
            .collect()
    }

    async fn count_tokens_not_under_key(&self, active_key_id: &str) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "select count(*) from installations
             where token_key_id <> $1 and refresh_token_ciphertext is not null",
        )
        .bind(active_key_id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt("negative count".into()))
    }

    async fn replace_token_ciphertexts(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        previous: &SealedTokens,
        reencrypted: &SealedTokens,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update installations set access_token_ciphertext = $1, refresh_token_ciphertext = $2,
                 token_key_id = $3
             where tenant_id = $4 and user_id = $5 and token_key_id = $6
               and access_token_ciphertext = $7 and refresh_token_ciphertext = $8",
        )
        .bind(&reencrypted.access_token)
        .bind(&reencrypted.refresh_token)
        .bind(&reencrypted.key_id)
        .bind(tenant_id.as_uuid())
        .bind(user_id.get())
        .bind(&previous.key_id)
        .bind(&previous.access_token)
        .bind(&previous.refresh_token)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(done.rows_affected() == 1)
    }
}
