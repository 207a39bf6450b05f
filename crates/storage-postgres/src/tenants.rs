use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::tenant::{NewTenant, Tenant, TenantStatus};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{StoreError, StoreResult, Tenants};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::{db_error, PgStore};

const COLUMNS: &str =
    "id, company_id, company_name, company_domain, status, created_at, updated_at";

pub(crate) fn tenant_from_row(row: &PgRow) -> StoreResult<Tenant> {
    let status: String = row.try_get("status").map_err(StoreError::backend)?;
    Ok(Tenant {
        id: TenantId::from_uuid(row.try_get("id").map_err(StoreError::backend)?),
        company_id: CompanyId::new(row.try_get("company_id").map_err(StoreError::backend)?),
        company_name: row.try_get("company_name").map_err(StoreError::backend)?,
        company_domain: row.try_get("company_domain").map_err(StoreError::backend)?,
        status: TenantStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("tenant status {status:?}")))?,
        created_at: row.try_get("created_at").map_err(StoreError::backend)?,
        updated_at: row.try_get("updated_at").map_err(StoreError::backend)?,
    })
}

/// Inside a caller's transaction or on a pooled connection.
pub(crate) async fn upsert_tenant_in(
    conn: &mut sqlx::PgConnection,
    new: &NewTenant,
) -> StoreResult<Tenant> {
    let sql = format!(
        "insert into tenants ({COLUMNS}) values ($1, $2, $3, $4, 'active', $5, $5)
         on conflict (company_id) do update set
             company_name = excluded.company_name,
             company_domain = excluded.company_domain,
             status = 'active',
             uninstalled_at = null,
             updated_at = excluded.updated_at
         returning {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(TenantId::new().as_uuid())
        .bind(new.company_id.get())
        .bind(&new.company_name)
        .bind(&new.company_domain)
        .bind(Utc::now())
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| db_error(e, "tenant"))?;
    tenant_from_row(&row)
}

#[async_trait]
impl Tenants for PgStore {
    async fn upsert_tenant(&self, new: &NewTenant) -> StoreResult<Tenant> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
        upsert_tenant_in(&mut conn, new).await
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        let sql = format!("select {COLUMNS} from tenants where id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn tenant_by_company(&self, company_id: CompanyId) -> StoreResult<Option<Tenant>> {
        let sql = format!("select {COLUMNS} from tenants where company_id = $1");
        let row = sqlx::query(&sql)
            .bind(company_id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn set_tenant_status(&self, id: TenantId, status: TenantStatus) -> StoreResult<()> {
        let done = sqlx::query(
            "update tenants set status = $1, updated_at = $2,
                 uninstalled_at = case when $1 = 'uninstalled'
                     then coalesce(uninstalled_at, $2) else null end
             where id = $3",
        )
        .bind(status.as_str())
        .bind(Utc::now())
        .bind(id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }
}
