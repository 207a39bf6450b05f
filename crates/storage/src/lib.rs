#![doc = include_str!("../README.md")]

mod audit_search;
mod budgets;
mod error;
mod event_sources;
mod imports;
mod inbox;
mod job_days;
mod jobs;
mod journal;
mod mirror;
mod queue_overview;
mod refusals;
mod retention;
mod session_epochs;
mod sign_in_failures;
mod staff;
mod store;
mod tenant_directory;
mod timeline;
mod tokens;
mod webhooks;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use audit_search::{prefix_pattern, AuditQuery};
pub use budgets::{from_millis, rolled_budget, to_millis, BudgetColumns};
pub use budgets::{
    BudgetDay, BudgetFigures, Budgets, DailyBudget, SlotRelease, SlotTake, SlotsTaken, TokenTake,
    WindowKey, WindowKind, BUDGET_DAYS_KEPT,
};
pub use error::{BoxError, StoreError, StoreResult, SETTINGS_SAVED_MEANWHILE};
pub use event_sources::{
    ConnectionState, EventApiSecret, EventApiSecrets, NewEventApiSecret, NewStoreConnection,
    StoreConnection, StoreConnections, StoreKind,
};
pub use imports::{
    DuplicatePolicy, Import, ImportKind, ImportRow, ImportState, Imports, NewImport, NewImportRow,
    RowOutcome, RowState,
};
pub use inbox::{EventDay, EventFilter, Inbox, InboxEntry, InboxEvent, InboxState, Recorded};
pub use job_days::{JobDay, JobDays};
pub use jobs::{
    tenant_from_key, tenant_key, Claim, Enqueued, Job, JobCounts, JobFailure, JobId, JobLease,
    JobState, JobWakeups, Jobs, Lane, LeaseId, NewJob, QueueTake, ReadyQueue, SYSTEM_TENANT,
};
pub use journal::{JournalStep, StepJournal};
pub use mirror::{MirrorLookup, MirrorRecord, PipedriveMirror};
pub use queue_overview::{fold_overview, LaneOverview, OverviewRow, QueueOverview};
pub use refusals::{
    NewRefusal, PipedriveRefusals, Refusal, REFUSALS_KEPT_DAYS, REFUSALS_KEPT_PER_DAY,
};
pub use retention::{provisioned_field_from_columns, ProvisionedFields, PurgedTenant, Retention};
pub use session_epochs::{installation_subject, staff_subject, SessionEpochs};
pub use sign_in_failures::{failure_window_from_columns, FailureWindow, SignInFailures};
pub use staff::{NewStaffAccount, StaffAccount, StaffAccounts, StaffRole, UnknownStaffRole};
pub use store::{
    AuditLog, Installations, Maintenance, OneTimeNonces, Store, TenantSettings, Tenants,
};
pub use tenant_directory::{
    like_pattern, BudgetUse, TenantDirectory, TenantListQuery, TenantState, TenantSummary,
    COUNT_CAP, LIST_COUNT_CAP,
};
pub use timeline::{
    NewTokenRefresh, RefreshOutcome, TenantTimeline, TimelineCursor, TimelineEvent, TokenRefresh,
    TOKEN_REFRESHES_KEPT_DAYS,
};
pub use tokens::{IdleInstallation, InstallationKey, StaleKeyTokens, TokenUpkeep};
pub use webhooks::{
    MirrorCoverage, NewWebhookRegistration, WebhookRegistration, WebhookRegistrations, WebhookState,
};
