//! Accounts of Dealbridge's own support staff, who sign in to the support console. They belong
//! to no tenant. The store keeps only the password's PHC hash; hashing and verifying happen in the
//! web crate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreResult;

/// What a support engineer may do in the console. Viewers read; operators also act (every console
/// POST but signing in and out needs an operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StaffRole {
    Viewer,
    Operator,
}

impl StaffRole {
    pub const ALL: [StaffRole; 2] = [StaffRole::Viewer, StaffRole::Operator];

    /// As stored and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Viewer => "viewer",
            StaffRole::Operator => "operator",
        }
    }

    pub fn can_act(self) -> bool {
        self == StaffRole::Operator
    }
}

impl std::fmt::Display for StaffRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a console role (viewer or operator)")]
pub struct UnknownStaffRole(pub String);

impl std::str::FromStr for StaffRole {
    type Err = UnknownStaffRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StaffRole::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownStaffRole(s.to_string()))
    }
}

/// A stored staff account. `Debug` leaves the hash out: it is still worth guessing against.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffAccount {
    pub id: i64,
    /// Lower case; callers normalise before storing and looking up.
    pub email: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    pub role: StaffRole,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// The authenticator secret, sealed (base64), when two-step sign-in is on.
    pub totp_secret: Option<String>,
}

impl std::fmt::Debug for StaffAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffAccount")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"[REDACTED]")
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .field("last_login_at", &self.last_login_at)
            .field("two_step", &self.totp_secret.is_some())
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct NewStaffAccount {
    pub email: String,
    pub password_hash: String,
    pub role: StaffRole,
}

impl std::fmt::Debug for NewStaffAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewStaffAccount")
            .field("email", &self.email)
            .field("password_hash", &"[REDACTED]")
            .field("role", &self.role)
            .finish()
    }
}

#[async_trait]
pub trait StaffAccounts: Send + Sync + 'static {
    /// Creates the account; `StoreError::StaffEmailTaken` when the email is taken.
    async fn create_staff_account(&self, new: &NewStaffAccount) -> StoreResult<StaffAccount>;

    /// Exact match on the (normalised) email.
    async fn staff_account_by_email(&self, email: &str) -> StoreResult<Option<StaffAccount>>;

    /// How many accounts exist (the first run creates one when there are none).
    async fn staff_account_count(&self) -> StoreResult<u64>;

    /// Removes the account; `false` when there was none. Its sessions end with it: the console
    /// checks on every request that the signed-in account still exists.
    async fn delete_staff_account(&self, email: &str) -> StoreResult<bool>;

    /// Gives the account `role`; `false` when there is no such account. The console reads the
    /// role on every request, so the change holds from the account's next request on.
    async fn set_staff_role(&self, email: &str, role: StaffRole) -> StoreResult<bool>;

    /// Notes a successful sign-in. `NotFound` for an unknown id.
    async fn record_staff_login(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;

    /// Turns two-step sign-in on with this sealed secret, or off with `None`; either way no code
    /// has been accepted yet. False when no account has the email.
    async fn set_staff_totp(&self, email: &str, sealed_secret: Option<&str>) -> StoreResult<bool>;

    /// Accepts a code of time step `step` for the account unless a code of that step or a later
    /// one was accepted already: true exactly once per step, across instances.
    async fn accept_totp_step(&self, id: i64, step: i64) -> StoreResult<bool>;
}
