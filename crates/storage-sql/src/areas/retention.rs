//! The purge of uninstalled tenants, and provisioned custom fields.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::fields::{FieldEntity, FieldPurpose, ProvisionedField};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{
    provisioned_field_from_columns, ProvisionedFields, PurgedTenant, Retention, StoreResult,
};
use uuid::Uuid;

use super::audit::append_audit_in;
use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{iso_day, Id, QueueTime};
use crate::{commit, SqlStore};

const RECORD_FIELD: &str = "insert into provisioned_fields
        (tenant_id, purpose, entity, field_code, recorded_at)
    values ($1, $2, $3, $4, $5)
    on conflict (tenant_id, purpose) do update set
        entity = excluded.entity, field_code = excluded.field_code,
        recorded_at = excluded.recorded_at
    returning purpose, entity, field_code, recorded_at";

const FIELDS: &str = "select purpose, entity, field_code, recorded_at from provisioned_fields
    where tenant_id = $1 order by purpose";

fn field_from_row<B: Backend>(row: &B::Row) -> StoreResult<ProvisionedField> {
    let (purpose, entity): (String, String) = (B::get(row, "purpose")?, B::get(row, "entity")?);
    let (code, recorded_at) = (B::get(row, "field_code")?, B::get(row, "recorded_at")?);
    provisioned_field_from_columns(&purpose, &entity, code, recorded_at)
}

#[async_trait]
impl<B: Backend> Retention for SqlStore<B> {
    async fn purge_uninstalled(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<PurgedTenant>> {
        let mut tx = self.begin().await?;
        // Skipping locked rows, two instances running the purge at once split the tenants between
        // them, and a reinstall holding the row is not waited for (it is active when we next
        // look). SQLite has one writer, so a tenant that came back is active and not selected.
        let statement = format!(
            "select id, company_id, uninstalled_at from tenants
             where status = 'uninstalled' and uninstalled_at < $1
             order by uninstalled_at limit $2 {}",
            B::SKIP_LOCKED
        );
        let select = sql::<B>(&statement).binds((before, i64::from(limit)));
        let rows = select.fetch_all(&mut tx).await?;
        let mut purged = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Id = B::get(row, "id")?;
            let tenant = PurgedTenant {
                tenant_id: TenantId::from_uuid(id.0),
                company_id: CompanyId::new(B::get(row, "company_id")?),
                uninstalled_at: B::get(row, "uninstalled_at")?,
            };
            // Jobs and their per-day counts have no foreign key to tenants (system jobs have no
            // parent), so they go first; the tenant's delete cascades to everything else it owns.
            for statement in [
                "delete from jobs where tenant_id = $1",
                "delete from job_days where tenant_id = $1",
                "delete from tenants where id = $1",
            ] {
                sql::<B>(statement).bind(id).execute(&mut tx).await?;
            }
            append_audit_in::<B>(&mut tx, &tenant.audit_entry()).await?;
            purged.push(tenant);
        }
        commit(tx).await?;
        Ok(purged)
    }

    async fn prune_finished_events(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u32> {
        let mut tx = self.begin_write().await?;
        let statement = format!(
            "delete from inbox_events where (tenant_id, id) in (
                 select tenant_id, id from inbox_events
                 where state in ('processed', 'stale') and received_at < $1
                 order by received_at, id limit $2 {})
             returning tenant_id, id",
            B::SKIP_LOCKED
        );
        let pruned = sql::<B>(&statement)
            .binds((QueueTime(before), i64::from(limit)))
            .fetch_all(&mut tx)
            .await?;
        // Each event's own steps are journalled under its id; one statement per tenant keeps
        // every delete scoped by tenant (a batch usually spans a handful of tenants).
        let mut keys: BTreeMap<Uuid, Vec<serde_json::Value>> = BTreeMap::new();
        for row in &pruned {
            let (tenant, id): (Id, Id) = (B::get(row, "tenant_id")?, B::get(row, "id")?);
            keys.entry(tenant.0)
                .or_default()
                .push(serde_json::json!([id.0.to_string()]));
        }
        let journal = format!(
            "delete from step_journal where tenant_id = $1
             and job_key in (select v.value ->> 0 from {}($2) v)",
            B::JSON_ELEMENTS
        );
        for (tenant, keys) in keys {
            let keys = serde_json::Value::Array(keys);
            sql::<B>(&journal)
                .binds((Id(tenant), &keys))
                .execute(&mut tx)
                .await?;
        }
        // The per-day counts of events and of jobs go with the days whose events go.
        let day = iso_day(before.date_naive());
        for days in [
            "delete from event_days where day < $1",
            "delete from job_days where day < $1",
        ] {
            sql::<B>(days).bind(day.as_str()).execute(&mut tx).await?;
        }
        commit(tx).await?;
        Ok(u32::try_from(pruned.len()).unwrap_or(u32::MAX))
    }

    async fn prune_journal(
        &self,
        prefix: &str,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u32> {
        // `substr` rather than `like`: a prefix is matched as written, with no wildcards.
        let statement = format!(
            "delete from step_journal where (tenant_id, job_key, step) in (
                 select tenant_id, job_key, step from step_journal
                 where updated_at < $2 and substr(job_key, 1, length($1)) = $1
                 limit $3 {})",
            B::SKIP_LOCKED
        );
        let values = (prefix, QueueTime(before), i64::from(limit));
        let pruned = self.execute(&statement, values).await?;
        Ok(u32::try_from(pruned).unwrap_or(u32::MAX))
    }

    async fn uninstalled_at(&self, tenant_id: TenantId) -> StoreResult<Option<DateTime<Utc>>> {
        let statement = "select uninstalled_at from tenants where id = $1";
        let read = |row: &B::Row| B::get(row, "uninstalled_at");
        let values = (Id(tenant_id.as_uuid()),);
        Ok(self
            .fetch_optional(statement, values, read)
            .await?
            .flatten())
    }
}

#[async_trait]
impl<B: Backend> ProvisionedFields for SqlStore<B> {
    async fn record_field(
        &self,
        tenant_id: TenantId,
        purpose: FieldPurpose,
        entity: FieldEntity,
        field_code: &str,
    ) -> StoreResult<ProvisionedField> {
        let (tenant, now) = (Id(tenant_id.as_uuid()), Utc::now());
        let values = (tenant, purpose.as_str(), entity.as_str(), field_code, now);
        self.fetch_one(RECORD_FIELD, values, field_from_row::<B>)
            .await
    }

    async fn provisioned_fields(&self, tenant_id: TenantId) -> StoreResult<Vec<ProvisionedField>> {
        let values = (Id(tenant_id.as_uuid()),);
        self.fetch_all(FIELDS, values, field_from_row::<B>).await
    }
}
