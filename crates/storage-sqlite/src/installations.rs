use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::{
    Installation, InstallationStatus, NewInstallation, SealedTokens,
};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{Installations, StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{db_error, parse_uuid, SqliteStore};

const COLUMNS: &str = "tenant_id, user_id, api_domain, scopes, status, access_token_ciphertext,
    refresh_token_ciphertext, token_key_id, access_expires_at, created_at, updated_at";

fn installation_from_row(row: &SqliteRow) -> StoreResult<Installation> {
    let get_err = StoreError::backend;
    let tenant_id: String = row.try_get("tenant_id").map_err(get_err)?;
    let status: String = row.try_get("status").map_err(get_err)?;
    let scopes: String = row.try_get("scopes").map_err(get_err)?;
    let access: Option<Vec<u8>> = row.try_get("access_token_ciphertext").map_err(get_err)?;
    let refresh: Option<Vec<u8>> = row.try_get("refresh_token_ciphertext").map_err(get_err)?;
    let key_id: Option<String> = row.try_get("token_key_id").map_err(get_err)?;
    let expires: Option<DateTime<Utc>> = row.try_get("access_expires_at").map_err(get_err)?;
    let tokens = SealedTokens::from_columns(access, refresh, key_id, expires)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Installation {
        tenant_id: TenantId::from_uuid(parse_uuid(&tenant_id)?),
        user_id: UserId::new(row.try_get("user_id").map_err(get_err)?),
        api_domain: row.try_get("api_domain").map_err(get_err)?,
        scopes: dealbridge_core::installation::parse_scopes(&scopes),
        status: InstallationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("installation status {status:?}")))?,
        tokens,
        created_at: row.try_get("created_at").map_err(get_err)?,
        updated_at: row.try_get("updated_at").map_err(get_err)?,
    })
}

/// Inside a caller's transaction or on a pooled connection.
pub(crate) async fn upsert_installation_in(
    conn: &mut sqlx::SqliteConnection,
    tenant_id: TenantId,
    new: &NewInstallation,
) -> StoreResult<Installation> {
    let now = Utc::now();
    let sql = format!(
        "insert into installations ({COLUMNS}, tokens_updated_at)
         values (?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?)
         on conflict (tenant_id, user_id) do update set
             api_domain = excluded.api_domain,
             scopes = excluded.scopes,
             status = 'active',
             access_token_ciphertext = excluded.access_token_ciphertext,
             refresh_token_ciphertext = excluded.refresh_token_ciphertext,
             token_key_id = excluded.token_key_id,
             access_expires_at = excluded.access_expires_at,
             updated_at = excluded.updated_at,
             -- New tokens: a refresh still running on the old ones must not overwrite them.
             tokens_updated_at = excluded.tokens_updated_at,
             refresh_lease_holder = null,
             refresh_lease_until = null
         returning {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(tenant_id.to_string())
        .bind(new.user_id.get())
        .bind(&new.api_domain)
        .bind(new.scopes.join(","))
        .bind(&new.tokens.access_token)
        .bind(&new.tokens.refresh_token)
        .bind(&new.tokens.key_id)
        .bind(new.tokens.access_expires_at)
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| db_error(e, "tenant"))?;
    installation_from_row(&row)
}

#[async_trait]
impl Installations for SqliteStore {
    async fn upsert_installation(
        &self,
        tenant_id: TenantId,
        new: &NewInstallation,
    ) -> StoreResult<Installation> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
        upsert_installation_in(&mut conn, tenant_id, new).await
    }

    async fn installation(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
    ) -> StoreResult<Option<Installation>> {
        let sql =
            format!("select {COLUMNS} from installations where tenant_id = ? and user_id = ?");
        let row = sqlx::query(&sql)
            .bind(tenant_id.to_string())
            .bind(user_id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        row.as_ref().map(installation_from_row).transpose()
    }

    async fn installations(&self, tenant_id: TenantId) -> StoreResult<Vec<Installation>> {
        let sql =
            format!("select {COLUMNS} from installations where tenant_id = ? order by user_id");
        let rows = sqlx::query(&sql)
            .bind(tenant_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        rows.iter().map(installation_from_row).collect()
    }

    async fn set_installation_status(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        status: InstallationStatus,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "update installations set status = ?, updated_at = ?
             where tenant_id = ? and user_id = ?",
        )
        .bind(status.as_str())
        .bind(Utc::now())
        .bind(tenant_id.to_string())
        .bind(user_id.get())
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("installation"));
        }
        Ok(())
    }

    async fn destroy_tokens(&self, tenant_id: TenantId) -> StoreResult<u64> {
        let done = sqlx::query(
            "update installations set access_token_ciphertext = null,
                 refresh_token_ciphertext = null, token_key_id = null,
                 access_expires_at = null, updated_at = ?
             where tenant_id = ? and refresh_token_ciphertext is not null",
        )
        .bind(Utc::now())
        .bind(tenant_id.to_string())
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }

    async fn record_install(
        &self,
        tenant: &NewTenant,
        installation: &NewInstallation,
        audit: &NewAuditEntry,
        follow_up: &[dealbridge_storage::NewJob],
    ) -> StoreResult<(Tenant, Installation)> {
        self.record_install_tx(tenant, installation, audit, follow_up)
            .await
    }

    async fn retire_installation(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<u64> {
        self.retire_installation_tx(tenant_id, user_id).await
    }
}
