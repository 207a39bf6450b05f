//! A tenant is one Pipedrive company that installed Dealbridge.

use crate::{CompanyId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Lifecycle of a tenant. `Uninstalled` tenants keep their row (so a reinstall finds its settings)
/// until the retention purge removes their personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Paused,
    Uninstalled,
}

impl TenantStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Uninstalled => "uninstalled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            "uninstalled" => Some(Self::Uninstalled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub company_id: CompanyId,
    pub company_name: String,
    pub company_domain: String,
    pub status: TenantStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What we learn about a company at install time (from `/v1/users/me`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTenant {
    pub company_id: CompanyId,
    pub company_name: String,
    pub company_domain: String,
}
