use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::{
    Installation, InstallationStatus, NewInstallation, SealedTokens,
};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{Installations, NewJob, StoreError, StoreResult};

use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{Id, Scopes};
use crate::SqlStore;

const COLUMNS: &str = "tenant_id, user_id, api_domain, scopes, status, access_token_ciphertext,
    refresh_token_ciphertext, token_key_id, access_expires_at, created_at, updated_at";

const SET_STATUS: &str = "update installations set status = $1, updated_at = $2
    where tenant_id = $3 and user_id = $4";

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
pub(super) async fn upsert_installation_in<B: Backend>(
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
    let row = sql::<B>(&statement)
        .binds((
            Id(tenant_id.as_uuid()),
            new.user_id.get(),
            &new.api_domain,
            scopes,
        ))
        .binds((&tokens.access_token, &tokens.refresh_token, &tokens.key_id))
        .binds((tokens.access_expires_at, Utc::now()))
        .fetch_one(conn)
        .await?;
    installation_from_row::<B>(&row)
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
        let row = self.fetch_optional(&statement, values).await?;
        row.as_ref().map(installation_from_row::<B>).transpose()
    }

    async fn installations(&self, tenant_id: TenantId) -> StoreResult<Vec<Installation>> {
        let statement =
            format!("select {COLUMNS} from installations where tenant_id = $1 order by user_id");
        let rows = self
            .fetch_all(&statement, (Id(tenant_id.as_uuid()),))
            .await?;
        rows.iter().map(installation_from_row::<B>).collect()
    }

    async fn set_installation_status(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        status: InstallationStatus,
    ) -> StoreResult<()> {
        let values = (
            status.as_str(),
            Utc::now(),
            Id(tenant_id.as_uuid()),
            user_id.get(),
        );
        match self.execute(SET_STATUS, values).await? {
            0 => Err(StoreError::NotFound("installation")),
            _ => Ok(()),
        }
    }

    async fn destroy_tokens(&self, tenant_id: TenantId) -> StoreResult<u64> {
        let values = (Utc::now(), Id(tenant_id.as_uuid()));
        self.execute(DESTROY_TOKENS, values).await
    }

    async fn record_install(
        &self,
        tenant: &NewTenant,
        installation: &NewInstallation,
        audit: &NewAuditEntry,
        follow_up: &[NewJob],
    ) -> StoreResult<(Tenant, Installation)> {
        self.record_install_tx(tenant, installation, audit, follow_up)
            .await
    }

    async fn retire_installation(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<u64> {
        self.retire_installation_tx(tenant_id, user_id).await
    }
}
