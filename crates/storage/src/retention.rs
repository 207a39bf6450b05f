//! What happens to a tenant's data after it leaves, and the custom fields kept in its Pipedrive.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::fields::{FieldEntity, FieldPurpose, ProvisionedField};
use dealbridge_core::{CompanyId, TenantId};

use crate::{StoreError, StoreResult};

/// A tenant whose data the purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgedTenant {
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub uninstalled_at: DateTime<Utc>,
}

impl PurgedTenant {
    /// What remains of a purged tenant, written in the purge's transaction: that it was purged,
    /// and when it had left. The company id is Pipedrive's account number, not personal data.
    pub fn audit_entry(&self) -> NewAuditEntry {
        NewAuditEntry {
            tenant_id: None,
            actor: "system:retention".into(),
            action: "tenant.purged".into(),
            detail: serde_json::json!({
                "company_id": self.company_id.get(),
                "uninstalled_at": self.uninstalled_at,
            }),
        }
    }
}

#[async_trait]
pub trait Retention: Send + Sync + 'static {
    /// Deletes everything held for up to `limit` tenants uninstalled before `before`: the tenant
    /// row with its installations, settings, provisioned fields, audit entries, event API secrets
    /// and store connections, and any job left. Each purge leaves one tenant-less audit entry (`tenant.purged`, company id only), in
    /// the same transaction. A tenant that reinstalled in the meantime is active and untouched.
    async fn purge_uninstalled(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<PurgedTenant>>;

    /// When the tenant became uninstalled, if it is.
    async fn uninstalled_at(&self, tenant_id: TenantId) -> StoreResult<Option<DateTime<Utc>>>;

    /// Deletes up to `limit` inbox events received before `before` whose work is over (processed,
    /// or stale and never run), oldest first, with the journal of their own steps (keyed by the
    /// event id), in one transaction; returns how many events went. Failed events stay until a
    /// retry processes them: they are what the dashboard shows as needing attention, and a retry
    /// needs its event. Journals of records several events share (a person by email, an order
    /// by id) are never touched here: they are what keeps a later event from creating a second
    /// record. Several instances pruning at once split the rows between them. The per-day counts
    /// of events and of jobs run (`event_days`, `job_days`) of days before `before`'s go too.
    async fn prune_finished_events(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u32>;

    /// Deletes up to `limit` journal steps, of every tenant, whose job key starts with `prefix`
    /// and which were last written before `before`; returns how many went. For journals keyed
    /// by a day (a usage note per record per day), which are finished once their day is past.
    async fn prune_journal(
        &self,
        prefix: &str,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u32>;
}

/// A provisioned field from its stored columns (both backends store the same text columns).
pub fn provisioned_field_from_columns(
    purpose: &str,
    entity: &str,
    field_code: String,
    recorded_at: DateTime<Utc>,
) -> StoreResult<ProvisionedField> {
    Ok(ProvisionedField {
        purpose: FieldPurpose::parse(purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("field purpose {purpose:?}")))?,
        entity: FieldEntity::parse(entity)
            .ok_or_else(|| StoreError::Corrupt(format!("field entity {entity:?}")))?,
        field_code,
        recorded_at,
    })
}

#[async_trait]
pub trait ProvisionedFields: Send + Sync + 'static {
    /// Remembers the field Pipedrive holds for `purpose` in this tenant, replacing an earlier one.
    async fn record_field(
        &self,
        tenant_id: TenantId,
        purpose: FieldPurpose,
        entity: FieldEntity,
        field_code: &str,
    ) -> StoreResult<ProvisionedField>;

    /// The tenant's provisioned fields, ordered by the purpose's name.
    async fn provisioned_fields(&self, tenant_id: TenantId) -> StoreResult<Vec<ProvisionedField>>;
}
