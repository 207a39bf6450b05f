use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::tenant::{NewTenant, Tenant, TenantStatus};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{StoreError, StoreResult, Tenants};

use super::audit::append_audit_in;
use crate::backend::Backend;
use crate::statement::sql;
use crate::values::Id;
use crate::{commit, SqlStore};

pub(super) const COLUMNS: &str =
    "id, company_id, company_name, company_domain, status, created_at, updated_at";

const SET_STATUS: &str = "update tenants set status = $1, updated_at = $2,
        uninstalled_at = case when $1 = 'uninstalled' then coalesce(uninstalled_at, $2) end
    where id = $3";

/// `SET_STATUS` only from the status `$4`.
const CHANGE_STATUS: &str = "update tenants set status = $1, updated_at = $2,
        uninstalled_at = case when $1 = 'uninstalled' then coalesce(uninstalled_at, $2) end
    where id = $3 and status = $4";

pub(super) fn tenant_from_row<B: Backend>(row: &B::Row) -> StoreResult<Tenant> {
    let status: String = B::get(row, "status")?;
    let id: Id = B::get(row, "id")?;
    Ok(Tenant {
        id: TenantId::from_uuid(id.0),
        company_id: CompanyId::new(B::get(row, "company_id")?),
        company_name: B::get(row, "company_name")?,
        company_domain: B::get(row, "company_domain")?,
        status: TenantStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("tenant status {status:?}")))?,
        created_at: B::get(row, "created_at")?,
        updated_at: B::get(row, "updated_at")?,
    })
}

/// Inside a caller's transaction or on a pooled connection.
pub(super) async fn upsert_tenant_in<B: Backend>(
    conn: &mut B::Connection,
    new: &NewTenant,
) -> StoreResult<Tenant> {
    let statement = format!(
        "insert into tenants ({COLUMNS}) values ($1, $2, $3, $4, 'active', $5, $5)
         on conflict (company_id) do update set
             company_name = excluded.company_name, company_domain = excluded.company_domain,
             status = case when tenants.status = 'paused' then 'paused' else 'active' end,
             uninstalled_at = null, updated_at = excluded.updated_at
         returning {COLUMNS}"
    );
    let (id, now) = (Id(TenantId::new().as_uuid()), Utc::now());
    let (name, domain) = (&new.company_name, &new.company_domain);
    let values = (id, new.company_id.get(), name, domain, now);
    let row = sql::<B>(&statement).binds(values).fetch_one(conn).await?;
    tenant_from_row::<B>(&row)
}

#[async_trait]
impl<B: Backend> Tenants for SqlStore<B> {
    async fn upsert_tenant(&self, new: &NewTenant) -> StoreResult<Tenant> {
        upsert_tenant_in::<B>(&mut *self.conn().await?, new).await
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        let statement = format!("select {COLUMNS} from tenants where id = $1");
        let values = (Id(id.as_uuid()),);
        self.fetch_optional(&statement, values, tenant_from_row::<B>)
            .await
    }

    async fn tenant_by_company(&self, company_id: CompanyId) -> StoreResult<Option<Tenant>> {
        let statement = format!("select {COLUMNS} from tenants where company_id = $1");
        let values = (company_id.get(),);
        self.fetch_optional(&statement, values, tenant_from_row::<B>)
            .await
    }

    async fn set_tenant_status(&self, id: TenantId, status: TenantStatus) -> StoreResult<()> {
        let values = (status.as_str(), Utc::now(), Id(id.as_uuid()));
        match self.execute(SET_STATUS, values).await? {
            0 => Err(StoreError::NotFound("tenant")),
            _ => Ok(()),
        }
    }

    async fn change_tenant_status(
        &self,
        id: TenantId,
        from: TenantStatus,
        to: TenantStatus,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let values = (to.as_str(), Utc::now(), Id(id.as_uuid()), from.as_str());
        if sql::<B>(CHANGE_STATUS)
            .binds(values)
            .execute(&mut tx)
            .await?
            == 0
        {
            return Ok(false); // dropping the transaction rolls it back; nothing was written
        }
        let audit = NewAuditEntry {
            tenant_id: Some(id),
            ..audit.clone()
        };
        append_audit_in::<B>(&mut tx, &audit).await?;
        commit(tx).await?;
        Ok(true)
    }
}
