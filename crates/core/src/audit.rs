//! The audit log records who did what to a tenant's configuration and credentials. Entries never
//! hold secrets or personal data beyond the actor's identifier.

use crate::TenantId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    /// `None` for events that belong to no known tenant (e.g. an uninstall call with bad credentials).
    pub tenant_id: Option<TenantId>,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub tenant_id: Option<TenantId>,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}
