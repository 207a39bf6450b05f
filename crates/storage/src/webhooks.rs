//! Pipedrive webhook registrations: per tenant, the unguessable path our receiver listens on, the
//! sealed Basic credentials Pipedrive sends, the ids of the webhooks registered in the tenant's
//! Pipedrive and whether they were last seen healthy.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::{CompanyId, TenantId};

use crate::StoreResult;

/// How the tenant's webhooks looked when last checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookState {
    /// Every webhook exists and is not banned (or none was checked yet).
    Active,
    /// At least one webhook is gone from Pipedrive.
    Missing,
    /// Pipedrive banned at least one webhook after failed deliveries.
    Banned,
}

impl WebhookState {
    pub const ALL: [Self; 3] = [Self::Active, Self::Missing, Self::Banned];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Missing => "missing",
            Self::Banned => "banned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// A registration to create. `credentials` is ciphertext (see the crypto crate), bound to the
/// tenant; the store never sees the password.
#[derive(Clone)]
pub struct NewWebhookRegistration {
    pub tenant_id: TenantId,
    pub path_token: String,
    pub username: String,
    pub credentials: Vec<u8>,
}

/// Keeps the sealed credentials out of logs.
impl std::fmt::Debug for NewWebhookRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhookRegistration")
            .field("tenant_id", &self.tenant_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq)]
pub struct WebhookRegistration {
    pub tenant_id: TenantId,
    /// The tenant's Pipedrive company, to check `meta.company_id` against.
    pub company_id: CompanyId,
    pub path_token: String,
    pub username: String,
    pub credentials: Vec<u8>,
    /// Pipedrive's webhook id per `{object}.{action}` (`deal.*`, `person.*`, ...).
    pub webhook_ids: BTreeMap<String, i64>,
    pub state: WebhookState,
    pub checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for WebhookRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRegistration")
            .field("tenant_id", &self.tenant_id)
            .field("company_id", &self.company_id)
            .field("username", &self.username)
            .field("webhook_ids", &self.webhook_ids)
            .field("state", &self.state)
            .field("checked_at", &self.checked_at)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait WebhookRegistrations: Send + Sync + 'static {
    /// Creates the tenant's registration unless it has one; either way returns the one stored, so
    /// a retried provision job keeps the path and credentials it registered with first.
    async fn ensure_webhook_registration(
        &self,
        new: &NewWebhookRegistration,
    ) -> StoreResult<WebhookRegistration>;

    async fn webhook_registration(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<Option<WebhookRegistration>>;

    /// The registration whose path token this is (the receiver's lookup).
    async fn webhook_registration_by_path(
        &self,
        path_token: &str,
    ) -> StoreResult<Option<WebhookRegistration>>;

    /// Replaces the ids of the tenant's webhooks (`{object}.{action}` to Pipedrive's id). The
    /// provision and check jobs, which write this, run one at a time per tenant (unique job keys).
    /// `NotFound` if the tenant has no registration.
    async fn set_webhook_ids(
        &self,
        tenant_id: TenantId,
        ids: &BTreeMap<String, i64>,
    ) -> StoreResult<()>;

    /// Records the outcome of a check. A check that finds the webhooks active starts their
    /// unbroken active run (`active_since`) unless one is running; any other state ends it.
    /// `NotFound` if the tenant has no registration.
    async fn set_webhook_state(
        &self,
        tenant_id: TenantId,
        state: WebhookState,
        checked_at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Drops the registration and its credentials (uninstall). True if there was one.
    async fn delete_webhook_registration(&self, tenant_id: TenantId) -> StoreResult<bool>;

    /// Tenants with a registration, for the periodic check.
    async fn webhook_tenants(&self) -> StoreResult<Vec<TenantId>>;

    /// Where the tenant's reconcile sweep got to: per entity (`deal`, `person`, `organization`),
    /// the newest `update_time` already recorded in the inbox. Empty before the first sweep.
    /// `NotFound` if the tenant has no registration.
    async fn reconcile_watermarks(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<BTreeMap<String, DateTime<Utc>>>;

    /// Replaces the tenant's reconcile watermarks (the reconcile job, unique per tenant, is the
    /// only writer). `NotFound` if the tenant has no registration.
    async fn set_reconcile_watermarks(
        &self,
        tenant_id: TenantId,
        watermarks: &BTreeMap<String, DateTime<Utc>>,
    ) -> StoreResult<()>;

    /// What the workflows need to tell whether the mirror is complete for the tenant (see
    /// [`MirrorCoverage`]). `None` if the tenant has no registration.
    async fn mirror_coverage(&self, tenant_id: TenantId) -> StoreResult<Option<MirrorCoverage>>;

    /// Records that a reconcile sweep which started at `sweep_started` reached the end of the
    /// list of `entity` (`deal`, `person`, `organization`); a later sweep's time replaces an
    /// earlier one's, an earlier never replaces a later. `NotFound` if the tenant has no
    /// registration.
    async fn mark_mirror_listed(
        &self,
        tenant_id: TenantId,
        entity: &str,
        sweep_started: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// How much of the tenant's Pipedrive the mirror is known to hold: the webhooks' last check, since
/// when the checks have found them active without a break, and per entity when the last sweep
/// that listed it to the end started. The workflows' rule reads it; the store only keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorCoverage {
    pub state: WebhookState,
    pub checked_at: Option<DateTime<Utc>>,
    pub active_since: Option<DateTime<Utc>>,
    pub listed: BTreeMap<String, DateTime<Utc>>,
}
