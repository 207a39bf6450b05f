//! Token upkeep on SQLite. Timestamps are compared as text: every one is written by sqlx as
//! RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits, which sorts in time order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::installation::SealedTokens;
use dealbridge_core::{CompanyId, TenantId, UserId};
use dealbridge_storage::{
    IdleInstallation, InstallationKey, StaleKeyTokens, StoreError, StoreResult, TokenUpkeep,
};
use sqlx::Row;

use crate::{parse_uuid, SqliteStore};

/// Binds for "strictly after this key": a tenant id that sorts before every uuid when there is
/// no cursor.
fn cursor(after: Option<InstallationKey>) -> (String, i64) {
    match after {
        Some((tenant, user)) => (tenant.to_string(), user.get()),
        None => (String::new(), i64::MIN),
    }
}

#[async_trait]
impl TokenUpkeep for SqliteStore {
    async fn acquire_refresh_lease(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update installations set refresh_lease_holder = ?, refresh_lease_until = ?
             where tenant_id = ? and user_id = ? and status = 'active'
               and refresh_token_ciphertext is not null
               and (refresh_lease_holder is null or refresh_lease_holder = ?
                    or refresh_lease_until < ?)",
        )
        .bind(holder)
        .bind(until)
        .bind(tenant_id.to_string())
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
             where tenant_id = ? and user_id = ? and refresh_lease_holder = ?",
        )
        .bind(tenant_id.to_string())
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
            "update installations set access_token_ciphertext = ?, refresh_token_ciphertext = ?,
                 token_key_id = ?, access_expires_at = ?, tokens_updated_at = ?, updated_at = ?,
                 refresh_lease_holder = null, refresh_lease_until = null
             where tenant_id = ? and user_id = ? and refresh_lease_holder = ?
               and status = 'active' and refresh_token_ciphertext is not null",
        )
        .bind(&tokens.access_token)
        .bind(&tokens.refresh_token)
        .bind(&tokens.key_id)
        .bind(tokens.access_expires_at)
        .bind(now)
        .bind(now)
        .bind(tenant_id.to_string())
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
            "update installations set status = 'needs_reauth', updated_at = ?,
                 refresh_lease_holder = null, refresh_lease_until = null
             where tenant_id = ? and user_id = ? and refresh_lease_holder = ?
               and status = 'active'",
        )
        .bind(Utc::now())
        .bind(tenant_id.to_string())
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
               and tokens_updated_at <= ?
               and (tenant_id, user_id) > (?, ?)
             order by tenant_id, user_id
             limit ?",
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
                let tenant: String = row.try_get("tenant_id").map_err(get_err)?;
                Ok(IdleInstallation {
                    tenant_id: TenantId::from_uuid(parse_uuid(&tenant)?),
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
             where i.token_key_id <> ? and i.refresh_token_ciphertext is not null
               and (i.tenant_id, i.user_id) > (?, ?)
             order by i.tenant_id, i.user_id
             limit ?",
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
                let tenant: String = row.try_get("tenant_id").map_err(get_err)?;
                Ok(StaleKeyTokens {
                    tenant_id: TenantId::from_uuid(parse_uuid(&tenant)?),
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
             where token_key_id <> ? and refresh_token_ciphertext is not null",
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
            "update installations set access_token_ciphertext = ?, refresh_token_ciphertext = ?,
                 token_key_id = ?
             where tenant_id = ? and user_id = ? and token_key_id = ?
               and access_token_ciphertext = ? and refresh_token_ciphertext = ?",
        )
        .bind(&reencrypted.access_token)
        .bind(&reencrypted.refresh_token)
        .bind(&reencrypted.key_id)
        .bind(tenant_id.to_string())
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
