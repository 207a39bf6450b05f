//! The support console's per-tenant timeline: pages of what other areas already record (the
//! tenant's audit entries, inbox events, failing and dead jobs), newest first with a keyset cursor
//! so an old page costs what the first does, and the one fact kept only for it: each token
//! refresh and how it ended.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::audit::AuditEntry;
use dealbridge_core::event::EventSource;
use dealbridge_core::outcome::EventOutcome;
use dealbridge_core::{TenantId, UserId};
use uuid::Uuid;

use crate::{InboxState, Job, StoreResult};

/// Days of token refreshes kept: as long as the per-day budget records the timeline shows beside
/// them. Older ones are dropped as newer ones are written.
pub const TOKEN_REFRESHES_KEPT_DAYS: i64 = crate::BUDGET_DAYS_KEPT;

/// How a refresh that was sent to the OAuth server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshOutcome {
    /// New tokens were stored.
    Refreshed,
    /// The refresh token was refused: the installation now needs reauthorisation.
    Refused,
    /// The OAuth server or the store could not answer, or the answer could not be kept; a later
    /// call tries again.
    Failed,
}

impl RefreshOutcome {
    pub const ALL: [Self; 3] = [Self::Refreshed, Self::Refused, Self::Failed];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// A refresh to record. `reason` says why it did not succeed; it never holds a token.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTokenRefresh {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub outcome: RefreshOutcome,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRefresh {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub outcome: RefreshOutcome,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Where one source's page ended: the next page holds its entries strictly older, by time and
/// then by id (so entries written in the same instant are neither repeated nor skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// An inbox event as the timeline shows it: what arrived and what became of it, without its
/// payload (which may carry the customer's personal data and is not needed to tell the story).
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEvent {
    pub id: Uuid,
    pub source: EventSource,
    pub kind: String,
    pub entity_key: Option<String>,
    pub state: InboxState,
    pub received_at: DateTime<Utc>,
    pub outcome: Option<EventOutcome>,
}

#[async_trait]
pub trait TenantTimeline: Send + Sync + 'static {
    /// Appends one refresh of the tenant's and drops the tenant's refreshes older than
    /// [`TOKEN_REFRESHES_KEPT_DAYS`] before `refresh.at`, in one transaction. `NotFound` when the
    /// tenant does not exist.
    async fn record_token_refresh(&self, refresh: &NewTokenRefresh) -> StoreResult<()>;

    /// The tenant's refreshes, newest first, strictly before `before` when given.
    async fn token_refreshes(
        &self,
        tenant_id: TenantId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<Vec<TokenRefresh>>;

    /// The tenant's inbox events of every source, newest received first, strictly before `before`.
    async fn timeline_events(
        &self,
        tenant_id: TenantId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEvent>>;

    /// The tenant's dead jobs and its queued jobs whose last attempt failed, by their last change
    /// (`updated_at`, the failure), newest first, strictly before `before`. Finished jobs are
    /// deleted, so jobs that ran well are not here.
    async fn timeline_jobs(
        &self,
        tenant_id: TenantId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Job>>;

    /// The tenant's audit entries, newest first, with an id below `before` when given.
    async fn timeline_audit(
        &self,
        tenant_id: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
}
