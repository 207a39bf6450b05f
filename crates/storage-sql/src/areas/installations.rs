use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::{
    Installation, InstallationStatus, NewInstallation, SealedTokens,
};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{Installations, NewJob, StoreError, StoreResult};

use super::audit::append_audit_in;
use super::tenants::upsert_tenant_in;
use crate::backend::Backend;
use crate::statement::{count, sql};
use crate::values::{Id, Scopes};
use crate::{commit, SqlStore};

const COLUMNS: &str = "tenant_id, user_id, api_domain, scopes, status, access_token_ciphertext,
    refresh_token_ciphertext, token_key_id, access_expires_at, created_at, updated_at";

const SET_STATUS: &str = "update installations set status = $1, updated_at = $2
    where tenant_id = $3 and user_id = $4";

const RETIRE: &str = "update installations set status = 'uninstalled',
        access_token_ciphertext = null, refresh_token_ciphertext = null, token_key_id = null,
        access_expires_at = null, updated_at = $1
    where tenant_id = $2 and user_id = $3";

const ACTIVE: &str = "select count(*) as n from installations
    where tenant_id = $1 and status <> 'uninstalled'";

const TENANT_LEFT: &str = "update tenants set status = 'uninstalled', updated_at = $1,
    uninstalled_at = coalesce(uninstalled_at, $1) where id = $2";

const DESTROY_TOKENS: &str = "update installations set access_token_ciphertext = null,
        refresh_token_ciphertext = null, token_key_id = null, access_expires_at = null,
        updated_at = $1
    where tenant_id = $2 and refresh_token_ciphertext is not null";

fn installation_from_row<B: Backend>(row: &B::Row) -> StoreResult<Installation> {
    let status: String = B::get(row, "status")?;
    let tenant: Id = B::get(row, "tenant_id")?;
    let scopes: Scopes = B::get(row, "scopes")?;
    let access: Option<Vec<u8>> = B::get(row, "access_token_ciphertext")?;
    let refresh: Option<Vec<u8>> = B::get(row, "refresh_token_ciphertext")?;
    let key_id: Option<String> = B::get(row, "token_key_id")?;
    let expires: Option<DateTime<Utc>> = B::get(row, "access_expires_at")?;
    let tokens = SealedTokens::from_columns(access, refresh, key_id, expires)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Installation {
        tenant_id: TenantId::from_uuid(tenant.0),
        user_id: UserId::new(B::get(row, "user_id")?),
        api_domain: B::get(row, "api_domain")?,
        scopes: scopes.0,
        status: InstallationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("installation status {status:?}")))?,
        tokens,
        created_at: B::get(row, "created_at")?,
        updated_at: B::get(row, "updated_at")?,
    })
}

/// Inside a caller's transaction or on a pooled connection.
async fn upsert_installation_in<B: Backend>(
    conn: &mut B::Connection,
    tenant_id: TenantId,
    new: &NewInstallation,
) -> StoreResult<Installation> {
    let statement = format!(
        "insert into installations ({COLUMNS}, tokens_updated_at)
         values ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $9, $9)
         on conflict (tenant_id, user_id) do update set
             api_domain = excluded.api_domain, scopes = excluded.scopes, status = 'active',
             access_token_ciphertext = excluded.access_token_ciphertext,
             refresh_token_ciphertext = excluded.refresh_token_ciphertext,
             token_key_id = excluded.token_key_id,
             access_expires_at = excluded.access_expires_at,
             updated_at = excluded.updated_at,
             -- New tokens: a refresh still running on the old ones must not overwrite them.
             tokens_updated_at = excluded.tokens_updated_at,
             refresh_lease_holder = null, refresh_lease_until = null
         returning {COLUMNS}"
    );
    let (tokens, scopes) = (&new.tokens, Scopes(new.scopes.clone()));
    let (tenant, user) = (Id(tenant_id.as_uuid()), new.user_id.get());
    let upsert = sql::<B>(&statement).binds((tenant, user, &new.api_domain, scopes));
    let upsert = upsert.binds((&tokens.access_token, &tokens.refresh_token, &tokens.key_id));
    let upsert = upsert.binds((tokens.access_expires_at, Utc::now()));
    installation_from_row::<B>(&upsert.fetch_one(conn).await?)
}

/// An installation without tokens (private mode's API token is configuration).
async fn upsert_token_installation_in<B: Backend>(
    conn: &mut B::Connection,
    tenant_id: TenantId,
    (user_id, api_domain, scopes): (UserId, &str, &[String]),
) -> StoreResult<Installation> {
    let statement = format!(
        "insert into installations ({COLUMNS}, tokens_updated_at)
         values ($1, $2, $3, $4, 'active', null, null, null, null, $5, $5, $5)
         on conflict (tenant_id, user_id) do update set
             api_domain = excluded.api_domain, scopes = excluded.scopes, status = 'active',
             access_token_ciphertext = null, refresh_token_ciphertext = null,
             token_key_id = null, access_expires_at = null,
             updated_at = excluded.updated_at,
             tokens_updated_at = excluded.tokens_updated_at,
             refresh_lease_holder = null, refresh_lease_until = null
         returning {COLUMNS}"
    );
    let (tenant, user) = (Id(tenant_id.as_uuid()), user_id.get());
    let upsert = sql::<B>(&statement).binds((tenant, user, api_domain, Scopes(scopes.to_vec())));
    let upsert = upsert.binds((Utc::now(),));
    installation_from_row::<B>(&upsert.fetch_one(conn).await?)
}

#[async_trait]
impl<B: Backend> Installations for SqlStore<B> {
    async fn upsert_installation(
        &self,
        tenant_id: TenantId,
        new: &NewInstallation,
    ) -> StoreResult<Installation> {
        upsert_installation_in::<B>(&mut *self.conn().await?, tenant_id, new).await
    }

    async fn installation(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
    ) -> StoreResult<Option<Installation>> {
        let statement =
            format!("select {COLUMNS} from installations where tenant_id = $1 and user_id = $2");
        let values = (Id(tenant_id.as_uuid()), user_id.get());
        self.fetch_optional(&statement, values, installation_from_row::<B>)
            .await
    }

    async fn installations(&self, tenant_id: TenantId) -> StoreResult<Vec<Installation>> {
        let statement =
            format!("select {COLUMNS} from installations where tenant_id = $1 order by user_id");
        let values = (Id(tenant_id.as_uuid()),);
        self.fetch_all(&statement, values, installation_from_row::<B>)
            .await
    }

    async fn set_installation_status(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        status: InstallationStatus,
    ) -> StoreResult<()> {
        let installation = (Id(tenant_id.as_uuid()), user_id.get());
        let values = (status.as_str(), Utc::now(), installation.0, installation.1);
        match self.execute(SET_STATUS, values).await? {
            0 => Err(StoreError::NotFound("installation")),
            _ => Ok(()),
        }
    }

    async fn destroy_tokens(&self, tenant_id: TenantId) -> StoreResult<u64> {
        let values = (Utc::now(), Id(tenant_id.as_uuid()));
        self.execute(DESTROY_TOKENS, values).await
    }

    /// One transaction: the tenant, the installation, its audit entry and follow-up jobs.
    async fn record_install(
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

    async fn record_token_install(
        &self,
        tenant: &NewTenant,
        user_id: UserId,
        api_domain: &str,
        scopes: &[String],
        audit: &NewAuditEntry,
        follow_up: &[NewJob],
    ) -> StoreResult<(Tenant, Installation)> {
        let mut tx = self.begin().await?;
        let tenant = upsert_tenant_in::<B>(&mut tx, tenant).await?;
        let installation =
            upsert_token_installation_in::<B>(&mut tx, tenant.id, (user_id, api_domain, scopes))
                .await?;
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

    /// One transaction: the installation forgets its tokens, and the tenant is marked uninstalled
    /// when it was the last active one.
    async fn retire_installation(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<u64> {
        let (now, tenant) = (Utc::now(), Id(tenant_id.as_uuid()));
        let mut tx = self.begin().await?;
        let retire = sql::<B>(RETIRE).binds((now, tenant, user_id.get()));
        if retire.execute(&mut tx).await? == 0 {
            return Err(StoreError::NotFound("installation"));
        }
        let active = count::<B>(&sql::<B>(ACTIVE).bind(tenant).fetch_one(&mut tx).await?)?;
        if active == 0 {
            let left = sql::<B>(TENANT_LEFT).binds((now, tenant));
            left.execute(&mut tx).await?;
        }
        commit(tx).await?;
        Ok(active)
    }
}
