//! The store contract, split by area so each backend can keep one small file per area.

use async_trait::async_trait;
use dealbridge_core::audit::{AuditEntry, NewAuditEntry};
use dealbridge_core::installation::{Installation, InstallationStatus, NewInstallation};
use dealbridge_core::settings::VersionedSettings;
use dealbridge_core::tenant::{NewTenant, Tenant, TenantStatus};
use dealbridge_core::{CompanyId, TenantId, UserId};

use crate::{Budgets, Jobs, ProvisionedFields, Retention, StoreResult};

/// Everything Dealbridge keeps, behind one object-safe trait so the backend is chosen at run time.
pub trait Store:
    Tenants
    + Installations
    + TenantSettings
    + AuditLog
    + OneTimeNonces
    + Maintenance
    + Jobs
    + crate::TokenUpkeep
    + Budgets
    + Retention
    + ProvisionedFields
    + crate::QueueOverview
    + crate::SignInFailures
    + crate::SessionEpochs
    + crate::StaffAccounts
    + crate::TenantDirectory
    + crate::Inbox
    + crate::WebhookRegistrations
    + crate::PipedriveMirror
    + crate::EventApiSecrets
    + crate::StoreConnections
    + crate::StepJournal
    + crate::Imports
    + crate::TenantTimeline
    + crate::JobDays
    + crate::PipedriveRefusals
{
}

impl<T> Store for T where
    T: Tenants
        + Installations
        + TenantSettings
        + AuditLog
        + OneTimeNonces
        + Maintenance
        + Jobs
        + crate::TokenUpkeep
        + Budgets
        + Retention
        + ProvisionedFields
        + crate::QueueOverview
        + crate::SignInFailures
        + crate::SessionEpochs
        + crate::StaffAccounts
        + crate::TenantDirectory
        + crate::Inbox
        + crate::WebhookRegistrations
        + crate::PipedriveMirror
        + crate::EventApiSecrets
        + crate::StoreConnections
        + crate::StepJournal
        + crate::Imports
        + crate::TenantTimeline
        + crate::JobDays
        + crate::PipedriveRefusals
{
}

#[async_trait]
pub trait Maintenance: Send + Sync + 'static {
    /// `"postgres"` or `"sqlite"`, for logs and the readiness report.
    fn backend_name(&self) -> &'static str;

    /// Applies every pending migration; running it again is a no-op.
    async fn migrate(&self) -> StoreResult<()>;

    /// A round trip to the database.
    async fn ping(&self) -> StoreResult<()>;

    /// Versions of migrations this binary knows but the database has not applied.
    async fn pending_migrations(&self) -> StoreResult<Vec<i64>>;
}

#[async_trait]
pub trait Tenants: Send + Sync + 'static {
    /// Creates the tenant for a company, or refreshes its name and domain if it exists. A tenant that
    /// had uninstalled becomes active again (a reinstall keeps its id and settings); a paused one
    /// stays paused (support paused it, and only support resumes it).
    async fn upsert_tenant(&self, new: &NewTenant) -> StoreResult<Tenant>;

    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;

    async fn tenant_by_company(&self, company_id: CompanyId) -> StoreResult<Option<Tenant>>;

    async fn set_tenant_status(&self, id: TenantId, status: TenantStatus) -> StoreResult<()>;

    /// Moves the tenant from `from` to `to` and appends `audit` (as an entry of this tenant) in one
    /// transaction. `false`, with nothing written, when the tenant does not exist or is not in
    /// `from`. A paused tenant's jobs are not claimed (see `JobQueue::claim_jobs`).
    async fn change_tenant_status(
        &self,
        id: TenantId,
        from: TenantStatus,
        to: TenantStatus,
        audit: &NewAuditEntry,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait Installations: Send + Sync + 'static {
    /// Creates or replaces the installation of `new.user_id` in the tenant, tokens included, and marks
    /// it active.
    async fn upsert_installation(
        &self,
        tenant_id: TenantId,
        new: &NewInstallation,
    ) -> StoreResult<Installation>;

    async fn installation(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
    ) -> StoreResult<Option<Installation>>;

    async fn installations(&self, tenant_id: TenantId) -> StoreResult<Vec<Installation>>;

    async fn set_installation_status(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        status: InstallationStatus,
    ) -> StoreResult<()>;

    /// Deletes the token ciphertexts of every installation of the tenant (uninstall). Returns how many
    /// installations held tokens.
    async fn destroy_tokens(&self, tenant_id: TenantId) -> StoreResult<u64>;

    /// An install, all or nothing: upserts the company's tenant and the user's installation (tokens
    /// included), appends `audit` and enqueues the `follow_up` jobs (the tenant id of both is set
    /// to the tenant's) in one transaction, so post-install work exists if and only if the
    /// install does.
    async fn record_install(
        &self,
        tenant: &NewTenant,
        installation: &NewInstallation,
        audit: &NewAuditEntry,
        follow_up: &[crate::NewJob],
    ) -> StoreResult<(Tenant, Installation)>;

    /// Private mode: the company's one installation acts with a personal API token, which is
    /// configuration and never stored. Upserts the tenant (active again if it had uninstalled)
    /// and `user_id`'s installation with no tokens (any OAuth tokens it held are dropped), active,
    /// with `api_domain` and `scopes`; appends `audit` and enqueues the `follow_up` jobs (an open
    /// job holding the same unique key is kept), in one transaction. Idempotent: running it
    /// again, from any instance, leaves one tenant and one installation.
    async fn record_token_install(
        &self,
        tenant: &NewTenant,
        user_id: UserId,
        api_domain: &str,
        scopes: &[String],
        audit: &NewAuditEntry,
        follow_up: &[crate::NewJob],
    ) -> StoreResult<(Tenant, Installation)>;

    /// A user removed the app: the installation becomes `uninstalled` and its tokens are deleted;
    /// when no active installation is left, the tenant becomes `uninstalled` too. One transaction.
    /// Returns how many active installations the tenant still has.
    async fn retire_installation(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<u64>;
}

/// Values that may be used once (OAuth `state` nonces): shared by all instances through the store.
#[async_trait]
pub trait OneTimeNonces: Send + Sync + 'static {
    /// Records `nonce` for `purpose`; `true` the first time, `false` on every replay. Entries past
    /// `expires_at` may be forgotten (the signed value they belong to has expired by then).
    async fn consume_nonce(
        &self,
        purpose: &str,
        nonce: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait TenantSettings: Send + Sync + 'static {
    /// The newest version, if the tenant ever saved settings.
    async fn settings(&self, tenant_id: TenantId) -> StoreResult<Option<VersionedSettings>>;

    /// Saves a new version. `based_on` is the version the editor started from (`None` for the first
    /// save); if another save happened since, this returns `StoreError::Conflict` and writes nothing.
    async fn save_settings(
        &self,
        tenant_id: TenantId,
        based_on: Option<i64>,
        body: &serde_json::Value,
        saved_by: Option<&str>,
    ) -> StoreResult<VersionedSettings>;

    /// Past versions, newest first.
    async fn settings_history(
        &self,
        tenant_id: TenantId,
        limit: u32,
    ) -> StoreResult<Vec<VersionedSettings>>;
}

#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry>;

    /// Entries of one tenant (or, with `None`, those that belong to no tenant), newest first.
    async fn audit_log(
        &self,
        tenant_id: Option<TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;

    /// The support console's search: entries of every tenant (and none) matching each filter
    /// given, newest first, a page of `limit` before the `before` cursor. An operators' read.
    async fn search_audit(&self, query: &crate::AuditQuery) -> StoreResult<Vec<AuditEntry>>;
}
