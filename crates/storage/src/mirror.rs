//! A local mirror of the tenant's Pipedrive records, kept current by the event jobs, so workflows
//! can find a person by email, an organization by name or domain, or a deal by id or order id
//! without spending Pipedrive tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::TenantId;

use crate::StoreResult;

/// One record as last seen. Lookup keys are stored lower-cased where matching ignores case.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorRecord {
    pub entity: PipedriveEntity,
    pub record_id: i64,
    pub name: Option<String>,
    /// Persons: the primary email, lower-cased.
    pub email: Option<String>,
    /// Organizations: the website's host, lower-cased.
    pub domain: Option<String>,
    /// Deals: the value of the app's `Order ID` custom field.
    pub order_id: Option<String>,
    /// When the change this state comes from happened; an older change never overwrites it.
    pub changed_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// How to find a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorLookup<'a> {
    Id(PipedriveEntity, i64),
    PersonEmail(&'a str),
    /// A person's or an organization's name, a deal's title; any case.
    Name(PipedriveEntity, &'a str),
    OrganizationDomain(&'a str),
    DealOrderId(&'a str),
}

#[async_trait]
pub trait PipedriveMirror: Send + Sync + 'static {
    /// Stores the record unless the mirror holds a change at least as new (a deletion included).
    /// True if it was written.
    async fn upsert_mirror(&self, tenant_id: TenantId, record: &MirrorRecord) -> StoreResult<bool>;

    /// Marks the record deleted as of `changed_at` (kept as a tombstone so an older change that
    /// arrives late does not bring it back). True if it was written.
    async fn delete_mirror(
        &self,
        tenant_id: TenantId,
        entity: PipedriveEntity,
        record_id: i64,
        changed_at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Live records matching the lookup, most recently changed first.
    async fn find_mirror(
        &self,
        tenant_id: TenantId,
        lookup: MirrorLookup<'_>,
    ) -> StoreResult<Vec<MirrorRecord>>;
}
