//! Installs and uninstalls as single transactions, and one-time nonces.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::{Installation, NewInstallation};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{NewJob, OneTimeNonces, StoreError, StoreResult};

use super::audit::append_audit_in;
use super::installations::upsert_installation_in;
use super::tenants::upsert_tenant_in;
use crate::backend::Backend;
use crate::statement::sql;
use crate::values::Id;
use crate::{commit, SqlStore};

const RETIRE: &str = "update installations set status = 'uninstalled',
        access_token_ciphertext = null, refresh_token_ciphertext = null, token_key_id = null,
        access_expires_at = null, updated_at = $1
    where tenant_id = $2 and user_id = $3";

const ACTIVE: &str = "select count(*) as n from installations
    where tenant_id = $1 and status <> 'uninstalled'";

const TENANT_LEFT: &str = "update tenants set status = 'uninstalled', updated_at = $1,
    uninstalled_at = coalesce(uninstalled_at, $1) where id = $2";

impl<B: Backend> SqlStore<B> {
    pub(super) async fn record_install_tx(
        &self,
        tenant: &NewTenant,
        installation: &NewInstallation,
        audit: &NewAuditEntry,
        follow_up: &[NewJob],
    ) -> StoreResult<(Tenant, Installation)> {
        let mut tx = self.begin().await?;
        let tenant = upsert_tenant_in::<B>(&mut tx, tenant).await?;
        let installation = upsert_installation_in::<B>(&mut tx, tenant.id, installation).await?;
        let audit = NewAuditEntry {
            tenant_id: Some(tenant.id),
            ..audit.clone()
        };
        append_audit_in::<B>(&mut tx, &audit).await?;
        for job in follow_up {
            Self::enqueue_in(&mut tx, &job.clone().tenant(tenant.id)).await?;
        }
        commit(tx).await?;
        Ok((tenant, installation))
    }

    pub(super) async fn retire_installation_tx(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
    ) -> StoreResult<u64> {
        let (now, tenant) = (Utc::now(), Id(tenant_id.as_uuid()));
        let mut tx = self.begin().await?;
        let retire = sql::<B>(RETIRE).binds((now, tenant, user_id.get()));
        if retire.execute(&mut tx).await? == 0 {
            return Err(StoreError::NotFound("installation"));
        }
        let active: i64 = B::get(
            &sql::<B>(ACTIVE).bind(tenant).fetch_one(&mut tx).await?,
            "n",
        )?;
        if active == 0 {
            sql::<B>(TENANT_LEFT)
                .binds((now, tenant))
                .execute(&mut tx)
                .await?;
        }
        commit(tx).await?;
        Ok(u64::try_from(active).unwrap_or_default())
    }
}

#[async_trait]
impl<B: Backend> OneTimeNonces for SqlStore<B> {
    async fn consume_nonce(
        &self,
        purpose: &str,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // Forget expired entries as we go; the table stays as small as the live nonces.
        let forget = "delete from used_nonces where expires_at < $1";
        self.execute(forget, (Utc::now(),)).await?;
        let record = "insert into used_nonces (purpose, nonce, expires_at) values ($1, $2, $3)
            on conflict (purpose, nonce) do nothing";
        Ok(self.execute(record, (purpose, nonce, expires_at)).await? == 1)
    }
}
