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
