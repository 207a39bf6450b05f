//! Session epochs: a counter per sign-in subject (a dashboard user's installation, a staff
//! account). A session cookie carries the epoch it was issued under and is honoured only while the
//! stored epoch is the same, so bumping it ends every copy of every cookie at once, on every
//! instance, although the sessions themselves live in the browsers' encrypted cookies.

use async_trait::async_trait;
use dealbridge_core::{TenantId, UserId};

use crate::StoreResult;

#[async_trait]
pub trait SessionEpochs: Send + Sync + 'static {
    /// The subject's current epoch; 0 for a subject never bumped.
    async fn session_epoch(&self, subject: &str) -> StoreResult<i64>;

    /// Ends the subject's sessions: increments its epoch (one statement, so racing bumps each
    /// count) and returns the new value.
    async fn bump_session_epoch(&self, subject: &str) -> StoreResult<i64>;
}

/// The subject of a dashboard user's sessions: their installation in the tenant.
pub fn installation_subject(tenant: TenantId, user: UserId) -> String {
    format!("installation:{tenant}:{user}")
}

/// The subject of a support engineer's sessions: their account (ids are never reused).
pub fn staff_subject(account_id: i64) -> String {
    format!("staff:{account_id}")
}
