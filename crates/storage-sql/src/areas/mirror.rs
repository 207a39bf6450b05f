//! The local mirror of Pipedrive records. Every write is guarded by the change time, so events
//! applied out of order leave the newest state; deletions stay as tombstones for the same reason.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::TenantId;
use dealbridge_storage::{MirrorLookup, MirrorRecord, PipedriveMirror, StoreError, StoreResult};

use crate::backend::Backend;
use crate::values::{Id, QueueTime};
use crate::SqlStore;

const COLUMNS: &str = "entity, record_id, name, email, domain, order_id, changed_at, data";

/// A change at the same time as the stored one wins over a live record (Pipedrive's times have
/// whole seconds) but never over a deletion.
const UPSERT: &str = "insert into pipedrive_mirror (tenant_id, entity, record_id, name, email,
        domain, order_id, changed_at, deleted, data)
    values ($1, $2, $3, $4, $5, $6, $7, $8, false, $9)
    on conflict (tenant_id, entity, record_id) do update set
        name = excluded.name, email = excluded.email, domain = excluded.domain,
        order_id = excluded.order_id, changed_at = excluded.changed_at, deleted = false,
        data = excluded.data
    where pipedrive_mirror.changed_at < excluded.changed_at
        or (pipedrive_mirror.changed_at = excluded.changed_at and not pipedrive_mirror.deleted)";

const DELETE: &str = "insert into pipedrive_mirror (tenant_id, entity, record_id, name, email,
        domain, order_id, changed_at, deleted, data)
    values ($1, $2, $3, null, null, null, null, $4, true, $5)
    on conflict (tenant_id, entity, record_id) do update set
        name = null, email = null, domain = null, order_id = null,
        changed_at = excluded.changed_at, deleted = true, data = excluded.data
    where pipedrive_mirror.changed_at <= excluded.changed_at";

fn record_from_row<B: Backend>(row: &B::Row) -> StoreResult<MirrorRecord> {
    let entity: String = B::get(row, "entity")?;
    Ok(MirrorRecord {
        entity: PipedriveEntity::parse(&entity)
            .ok_or_else(|| StoreError::Corrupt(format!("mirror entity {entity:?}")))?,
        record_id: B::get(row, "record_id")?,
        name: B::get(row, "name")?,
        email: B::get(row, "email")?,
        domain: B::get(row, "domain")?,
        order_id: B::get(row, "order_id")?,
        changed_at: B::get(row, "changed_at").map(|t: QueueTime| t.0)?,
        data: B::get(row, "data")?,
    })
}

fn lower(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.trim().to_lowercase())
}

#[async_trait]
impl<B: Backend> PipedriveMirror for SqlStore<B> {
    async fn upsert_mirror(&self, tenant_id: TenantId, record: &MirrorRecord) -> StoreResult<bool> {
        let (email, domain) = (lower(&record.email), lower(&record.domain));
        let values = (
            Id(tenant_id.as_uuid()),
            record.entity.as_str(),
            record.record_id,
            &record.name,
            &email,
            &domain,
            &record.order_id,
            QueueTime(record.changed_at),
            &record.data,
        );
        Ok(self.execute(UPSERT, values).await? > 0)
    }

    async fn delete_mirror(
        &self,
        tenant_id: TenantId,
        entity: PipedriveEntity,
        record_id: i64,
        changed_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let empty = serde_json::json!({});
        let values = (
            Id(tenant_id.as_uuid()),
            entity.as_str(),
            record_id,
            QueueTime(changed_at),
            &empty,
        );
        Ok(self.execute(DELETE, values).await? > 0)
    }

    async fn find_mirror(
        &self,
        tenant_id: TenantId,
        lookup: MirrorLookup<'_>,
    ) -> StoreResult<Vec<MirrorRecord>> {
        let tenant = Id(tenant_id.as_uuid());
        let (condition, entity, key) = match lookup {
            MirrorLookup::Id(entity, id) => ("record_id = $3", entity, id.to_string()),
            MirrorLookup::PersonEmail(email) => (
                "email = $3",
                PipedriveEntity::Person,
                email.trim().to_lowercase(),
            ),
            MirrorLookup::Name(entity, name) => {
                ("lower(name) = $3", entity, name.trim().to_lowercase())
            }
            MirrorLookup::OrganizationDomain(domain) => (
                "domain = $3",
                PipedriveEntity::Organization,
                domain.trim().to_lowercase(),
            ),
            MirrorLookup::DealOrderId(order) => (
                "order_id = $3",
                PipedriveEntity::Deal,
                order.trim().to_owned(),
            ),
        };
        let statement = format!(
            "select {COLUMNS} from pipedrive_mirror
             where tenant_id = $1 and entity = $2 and {condition} and not deleted
             order by changed_at desc limit 50"
        );
        let read = record_from_row::<B>;
        match lookup {
            MirrorLookup::Id(_, id) => {
                self.fetch_all(&statement, (tenant, entity.as_str(), id), read)
                    .await
            }
            _ => {
                self.fetch_all(&statement, (tenant, entity.as_str(), key.as_str()), read)
                    .await
            }
        }
    }
}
