//! Tenant settings are a JSON document with a version. Every save writes a new version, and a save
//! names the version it was based on, so two admins editing at once cannot silently overwrite each
//! other (the second gets a conflict and reloads).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionedSettings {
    pub version: i64,
    pub body: serde_json::Value,
    pub saved_by: Option<String>,
    pub saved_at: DateTime<Utc>,
}
