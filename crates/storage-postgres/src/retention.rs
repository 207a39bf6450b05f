//! The purge of uninstalled tenants, and provisioned custom fields.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::fields::{FieldEntity, FieldPurpose, ProvisionedField};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{
    read_provisioned_field, ProvisionedFields, PurgedTenant, Retention, StoreError, StoreResult,
};
use sqlx::Row;

use crate::audit::append_audit_in;
use crate::PgStore;

#[async_trait]
impl Retention for PgStore {
    async fn purge_uninstalled(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<PurgedTenant>> {
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        // `skip locked`: two instances running the purge at once split the tenants between them,
        // and a reinstall holding the row is not waited for (it will be active when we next look).
        let rows = sqlx::query(
            "select id, company_id, uninstalled_at from tenants
             where status = 'uninstalled' and uninstalled_at < $1
             order by uninstalled_at
             limit $2
             for update skip locked",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        let mut purged = Vec::with_capacity(rows.len());
        for row in &rows {
            let tenant = PurgedTenant {
                tenant_id: TenantId::from_uuid(row.try_get("id").map_err(StoreError::backend)?),
                company_id: CompanyId::new(row.try_get("company_id").map_err(StoreError::backend)?),
                uninstalled_at: row.try_get("uninstalled_at").map_err(StoreError::backend)?,
            };
            // Jobs have no foreign key to tenants (system jobs have no parent), so they go first;
            // the tenant's delete cascades to everything else it owns.
            sqlx::query("delete from jobs where tenant_id = $1")
                .bind(tenant.tenant_id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
            sqlx::query("delete from tenants where id = $1")
                .bind(tenant.tenant_id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
            append_audit_in(&mut tx, &tenant.audit_entry()).await?;
            purged.push(tenant);
        }
        tx.commit().await.map_err(StoreError::backend)?;
        Ok(purged)
    }

    async fn uninstalled_at(&self, tenant_id: TenantId) -> StoreResult<Option<DateTime<Utc>>> {
        let at: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("select uninstalled_at from tenants where id = $1")
                .bind(tenant_id.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        Ok(at.flatten())
    }
}

#[async_trait]
impl ProvisionedFields for PgStore {
    async fn record_field(
        &self,
        tenant_id: TenantId,
        purpose: FieldPurpose,
        entity: FieldEntity,
        field_code: &str,
    ) -> StoreResult<ProvisionedField> {
        let row = sqlx::query(
            "insert into provisioned_fields (tenant_id, purpose, entity, field_code, recorded_at)
             values ($1, $2, $3, $4, $5)
             on conflict (tenant_id, purpose) do update set
                 entity = excluded.entity,
                 field_code = excluded.field_code,
                 recorded_at = excluded.recorded_at
             returning purpose, entity, field_code, recorded_at",
        )
        .bind(tenant_id.as_uuid())
        .bind(purpose.as_str())
        .bind(entity.as_str())
        .bind(field_code)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| crate::db_error(e, "tenant"))?;
        read_provisioned_field(&row)
    }

    async fn provisioned_fields(&self, tenant_id: TenantId) -> StoreResult<Vec<ProvisionedField>> {
        let rows = sqlx::query(
            "select purpose, entity, field_code, recorded_at from provisioned_fields
             where tenant_id = $1 order by purpose",
        )
        .bind(tenant_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        rows.iter().map(read_provisioned_field).collect()
    }
}
