//! Users, activity types, notes and webhooks (still v1 only) and fields, pipelines and stages (v2).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// `GET /v1/users/me`: who installed, and which company. Identify a tenant by
/// (`company_id`, `id`), not by email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub company_id: u64,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub company_domain: Option<String>,
    #[serde(default)]
    pub is_admin: Option<bool>,
    #[serde(default)]
    pub timezone_name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One user of `GET /v1/users`: the company's users, for choosing an owner and counting seats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyUser {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// `false` for a deactivated user (who holds no seat and cannot own records).
    #[serde(default = "yes")]
    pub active_flag: bool,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `GET /v1/activityTypes`. Activities name their type by `key_string`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityType {
    pub id: u64,
    pub name: String,
    pub key_string: String,
    #[serde(default = "yes")]
    pub active_flag: bool,
    #[serde(default)]
    pub order_nr: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub deal_id: Option<u64>,
    #[serde(default)]
    pub person_id: Option<u64>,
    #[serde(default)]
    pub org_id: Option<u64>,
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /v1/notes` (content plus at least one of deal, person, org, lead) and of
/// `PUT /v1/notes/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NoteInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
}

/// Filters and paging for `GET /v1/notes` (offset pagination).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoteQuery {
    pub deal_id: Option<u64>,
    pub person_id: Option<u64>,
    pub org_id: Option<u64>,
    pub start: Option<u64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: u64,
    #[serde(default)]
    pub event_action: Option<String>,
    #[serde(default)]
    pub event_object: Option<String>,
    #[serde(default)]
    pub subscription_url: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub is_active: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /v1/webhooks`. The Basic credentials Pipedrive will send with each delivery
/// are kept out of `Debug`.
#[derive(Debug, Clone, Serialize)]
pub struct NewWebhook {
    pub subscription_url: String,
    /// `create`, `change`, `delete` or `*`.
    pub event_action: String,
    /// `deal`, `person`, `organization`, `activity`, `note`, ... or `*`.
    pub event_object: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_auth_user: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_optional"
    )]
    pub http_auth_password: Option<SecretString>,
    /// `"2.0"` unless there is a reason for v1 payloads.
    pub version: String,
}

/// The password has to reach Pipedrive in the request body; this is the one place it is exposed.
fn expose_optional<S: Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

/// Which entity's fields (`/api/v2/{entity}Fields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldEntity {
    Deal,
    Person,
    Organization,
    Product,
    /// Read only in the API.
    Activity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOption {
    pub id: Value,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The key used in `custom_fields`.
    pub field_code: String,
    pub field_name: String,
    pub field_type: String,
    #[serde(default)]
    pub is_custom_field: bool,
    #[serde(default)]
    pub options: Option<Vec<FieldOption>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An option of a new `enum` or `set` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFieldOption {
    pub label: String,
}

/// Body of `POST /api/v2/{entity}Fields`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewField {
    pub field_name: String,
    pub field_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<NewFieldOption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: u64,
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub pipeline_id: Option<u64>,
    #[serde(default)]
    pub order_nr: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
