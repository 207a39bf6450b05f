//! An installation is one Pipedrive user of a company who authorised Dealbridge. Its tokens are kept
//! only as ciphertext; this crate never sees them in clear.

use crate::{TenantId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationStatus {
    Active,
    /// The refresh token was refused: the user must install again. Jobs wait instead of failing.
    NeedsReauth,
    Uninstalled,
}

impl InstallationStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::Uninstalled => "uninstalled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "needs_reauth" => Some(Self::NeedsReauth),
            "uninstalled" => Some(Self::Uninstalled),
            _ => None,
        }
    }
}

/// Encrypted token material as stored: ciphertexts plus the id of the key that sealed them, so a
/// key rotation can find every row still under an old key without decrypting anything.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTokens {
    pub access_token: Vec<u8>,
    pub refresh_token: Vec<u8>,
    pub key_id: String,
    pub access_expires_at: DateTime<Utc>,
}

impl SealedTokens {
    /// Rebuilds the tokens from their four nullable columns: all set, or all empty (no tokens, e.g.
    /// after an uninstall). Anything in between is a corrupt row, reported as `Err`.
    pub fn from_columns(
        access_token: Option<Vec<u8>>,
        refresh_token: Option<Vec<u8>>,
        key_id: Option<String>,
        access_expires_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Self>, PartlyEmptyTokens> {
        match (access_token, refresh_token, key_id, access_expires_at) {
            (Some(access_token), Some(refresh_token), Some(key_id), Some(access_expires_at)) => {
                Ok(Some(Self {
                    access_token,
                    refresh_token,
                    key_id,
                    access_expires_at,
                }))
            }
            (None, None, None, None) => Ok(None),
            _ => Err(PartlyEmptyTokens),
        }
    }
}

/// Some but not all token columns hold a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("token columns partly empty")]
pub struct PartlyEmptyTokens;

impl std::fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ciphertext is not secret, but it is noise in logs; lengths are enough to debug with.
        f.debug_struct("SealedTokens")
            .field("access_token_len", &self.access_token.len())
            .field("refresh_token_len", &self.refresh_token.len())
            .field("key_id", &self.key_id)
            .field("access_expires_at", &self.access_expires_at)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Installation {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub api_domain: String,
    pub scopes: Vec<String>,
    pub status: InstallationStatus,
    pub tokens: Option<SealedTokens>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewInstallation {
    pub user_id: UserId,
    pub api_domain: String,
    pub scopes: Vec<String>,
    pub tokens: SealedTokens,
}

/// Scopes travel as Pipedrive sends them: one comma-separated string.
/// The OAuth scopes Dealbridge's Marketplace app asks for (set them in Pipedrive's Developer Hub;
/// the README lists why each is needed). The embedded sandbox registers the app with the same, so
/// a missing scope shows up offline first. Not `admin`: nothing we do needs it.
pub const APP_SCOPES: &[&str] = &[
    "base",
    "deals:full",
    "contacts:full",
    "activities:full",
    "search:read",
    "deal-fields:full",
    "webhooks:full",
    "users:read",
];

pub fn parse_scopes(scope: &str) -> Vec<String> {
    scope
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_on_commas_and_spaces() {
        assert_eq!(
            parse_scopes("deals:full, contacts:read,base"),
            vec!["deals:full", "contacts:read", "base"]
        );
        assert!(parse_scopes(" , ").is_empty());
    }

    #[test]
    fn token_columns_are_all_or_nothing() {
        let at = Utc::now();
        let full =
            SealedTokens::from_columns(Some(vec![1]), Some(vec![2]), Some("k".into()), Some(at));
        assert_eq!(full.unwrap().map(|t| t.key_id), Some("k".to_string()));
        assert_eq!(SealedTokens::from_columns(None, None, None, None), Ok(None));
        let partial = SealedTokens::from_columns(Some(vec![1]), None, Some("k".into()), Some(at));
        assert_eq!(partial, Err(PartlyEmptyTokens));
    }

    #[test]
    fn status_round_trips() {
        for s in [
            InstallationStatus::Active,
            InstallationStatus::NeedsReauth,
            InstallationStatus::Uninstalled,
        ] {
            assert_eq!(InstallationStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(InstallationStatus::parse("bogus"), None);
    }
}
