//! Personal API tokens (FACTS §5): one per user and company, never expiring, with every scope the
//! user has. They are sent as the `x-api-token` header or the `api_token` query parameter, have
//! their own burst table (FACTS §5.2), and their answers carry `x-daily-requests-left`: the
//! POST/PUT requests the user has left today (UTC), out of the legacy fair-use limit (FACTS §5.3).

use super::{AccessToken, World};
use crate::error::{ApiError, Result};
use crate::limits::budget_day;

/// The client id an API token's calls are attributed to (it belongs to no Marketplace app).
pub const API_TOKEN_CLIENT: &str = "_api_token";
/// Write requests (POST/PUT, and v2's PATCH updates) per user per UTC day (FACTS §5.3).
pub const DAILY_WRITES: u64 = 10_000;

/// Today's write count of one API token.
#[derive(Debug, Default, Clone, Copy)]
pub struct DailyWrites {
    day: i64,
    count: u64,
}

impl World {
    /// The user's API token in the company, created on first request and stable afterwards.
    pub fn api_token(&mut self, company_id: u64, user_id: u64) -> Result<String> {
        self.check_member(company_id, user_id)?;
        let existing = self
            .api_tokens
            .iter()
            .find(|(_, t)| t.company_id == company_id && t.user_id == user_id)
            .map(|(token, _)| token.clone());
        if let Some(token) = existing {
            return Ok(token);
        }
        let token_id = self.next_token_id;
        self.next_token_id += 1;
        let token = self.hex(40);
        let scopes = crate::control::all_scopes();
        self.api_tokens.insert(
            token.clone(),
            AccessToken {
                token_id,
                client_id: API_TOKEN_CLIENT.into(),
                company_id,
                user_id,
                scopes,
                expires_ms: i64::MAX,
                revoked: false,
            },
        );
        Ok(token)
    }

    /// Resolves an API token to the user it speaks for.
    pub fn authenticate_api_token(
        &self,
        token: &str,
    ) -> std::result::Result<&AccessToken, ApiError> {
        self.api_tokens
            .get(token)
            .filter(|t| !t.revoked)
            .ok_or_else(ApiError::unauthorized)
    }

    /// Counts a write of an API token when `write` and room is left; returns whether it was
    /// allowed and what is left today. Days start at UTC midnight, whatever the budget reset.
    pub fn api_token_write(&mut self, token_id: u64, write: bool, now_ms: i64) -> (bool, u64) {
        let day = budget_day(now_ms, 0);
        let entry = self.api_writes.entry(token_id).or_default();
        if entry.day != day {
            *entry = DailyWrites { day, count: 0 };
        }
        let left = DAILY_WRITES.saturating_sub(entry.count);
        if !write {
            return (true, left);
        }
        if left == 0 {
            return (false, 0);
        }
        entry.count += 1;
        (true, left - 1)
    }
}

/// Whether a token is a personal API token rather than an OAuth access token.
pub fn is_api_token(token: &AccessToken) -> bool {
    token.client_id == API_TOKEN_CLIENT
}
