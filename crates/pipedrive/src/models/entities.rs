//! v2 entities: deals, persons, organizations, activities. Custom fields are grouped in
//! `custom_fields` (field code → value) in both directions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Custom field values keyed by field code (a 40-char hash per company, or a readable key).
pub type CustomFields = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    pub id: u64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub owner_id: Option<u64>,
    #[serde(default)]
    pub person_id: Option<u64>,
    #[serde(default)]
    pub org_id: Option<u64>,
    #[serde(default)]
    pub pipeline_id: Option<u64>,
    #[serde(default)]
    pub stage_id: Option<u64>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub custom_fields: CustomFields,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /api/v2/deals` (only `title` is required) and, through [`DealPatch`], of
/// `PATCH`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewDeal {
    pub title: String,
    #[serde(flatten)]
    pub fields: DealPatch,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DealPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `open`, `won`, `lost`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_close_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_to: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: CustomFields,
}

/// An email address or phone number of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactEntry {
    pub value: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub owner_id: Option<u64>,
    #[serde(default)]
    pub org_id: Option<u64>,
    #[serde(default)]
    pub emails: Vec<ContactEntry>,
    #[serde(default)]
    pub phones: Vec<ContactEntry>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub custom_fields: CustomFields,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST`/`PATCH /api/v2/persons`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PersonInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<ContactEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<ContactEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_to: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: CustomFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub owner_id: Option<u64>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub custom_fields: CustomFields,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST`/`PATCH /api/v2/organizations` (`name` is required on create).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrganizationInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<u64>,
    /// `{"value": "…"}` plus optional components, as the spec's address object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Value>,
    /// The organization's website; Dealbridge records the company's email domain here, which is
    /// how the mirror finds the organization by domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_to: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: CustomFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: u64,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default, rename = "type")]
    pub activity_type: Option<String>,
    #[serde(default)]
    pub owner_id: Option<u64>,
    #[serde(default)]
    pub deal_id: Option<u64>,
    #[serde(default)]
    pub person_id: Option<u64>,
    #[serde(default)]
    pub org_id: Option<u64>,
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub done: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST`/`PATCH /api/v2/activities`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActivityInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<u64>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// `HH:MM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A search hit's item (a summary, not the full entity).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SearchItem {
    pub id: u64,
    #[serde(default, rename = "type")]
    pub item_type: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// Persons: email addresses as plain strings.
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
