//! Installs and uninstalls as single transactions, and one-time nonces.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::{Installation, NewInstallation};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{NewJob, OneTimeNonces, StoreError, StoreResult};

use crate::audit::append_audit_in;
use crate::installations::upsert_installation_in;
use crate::tenants::upsert_tenant_in;
use crate::{db_error, SqliteStore};

impl SqliteStore {
    pub(crate) async fn record_install_tx(
        &self,
        tenant: &NewTenant,
        installation: &NewInstallation,
        audit: &NewAuditEntry,
        follow_up: &[NewJob],
    ) -> StoreResult<(Tenant, Installation)> {
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let tenant = upsert_tenant_in(&mut tx, tenant).await?;
        let installation = upsert_installation_in(&mut tx, tenant.id, installation).await?;
        let audit = NewAuditEntry {
            tenant_id: Some(tenant.id),
            ..audit.clone()
        };
        append_audit_in(&mut tx, &audit).await?;
        for job in follow_up {
            SqliteStore::enqueue_in(&mut tx, &job.clone().tenant(tenant.id)).await?;
        }
        tx.commit().await.map_err(StoreError::backend)?;
        Ok((tenant, installation))
    }

    pub(crate) async fn retire_installation_tx(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
    ) -> StoreResult<u64> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let done = sqlx::query(
            "update installations set status = 'uninstalled', access_token_ciphertext = null,
                 refresh_token_ciphertext = null, token_key_id = null, access_expires_at = null,
                 updated_at = ?
             where tenant_id = ? and user_id = ?",
        )
        .bind(now)
        .bind(tenant_id.to_string())
        .bind(user_id.get())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("installation"));
        }
        let active: i64 = sqlx::query_scalar(
            "select count(*) from installations where tenant_id = ? and status <> 'uninstalled'",
        )
        .bind(tenant_id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        if active == 0 {
            sqlx::query(
                "update tenants set status = 'uninstalled', updated_at = ?1,
                 uninstalled_at = coalesce(uninstalled_at, ?1) where id = ?2",
            )
            .bind(now)
            .bind(tenant_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        }
        tx.commit().await.map_err(StoreError::backend)?;
        Ok(u64::try_from(active).unwrap_or_default())
    }
}

#[async_trait]
impl OneTimeNonces for SqliteStore {
    async fn consume_nonce(
        &self,
        purpose: &str,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // Forget expired entries as we go; the table stays as small as the live nonces.
        sqlx::query("delete from used_nonces where expires_at < ?")
            .bind(Utc::now())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        let inserted = sqlx::query(
            "insert into used_nonces (purpose, nonce, expires_at) values (?, ?, ?)
             on conflict (purpose, nonce) do nothing",
        )
        .bind(purpose)
        .bind(nonce)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "nonce"))?;
        Ok(inserted.rows_affected() == 1)
    }
}
