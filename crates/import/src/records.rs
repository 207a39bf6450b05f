//! The Pipedrive side of one row: finding records by a row's key, resolving linked records (an
//! organization by name, a person by email), and the bodies of the create and update calls.

use std::collections::BTreeMap;

use dealbridge_pipedrive::models::{
    ContactEntry, CustomFields, DealPatch, NewDeal, OrganizationInput, PersonInput, SearchItem,
    SearchQuery,
};
use dealbridge_pipedrive::{CompanyClient, Error};
use dealbridge_storage::ImportKind;

use crate::fields::{TargetField, ValueType, CUSTOM_PREFIX};
use crate::mapping::parse_number;

/// Counts what a row's calls cost, from the client's cost table.
#[derive(Debug, Default)]
pub struct Spent(pub u64);

impl Spent {
    fn add(&mut self, method: &str, path: &str) {
        self.0 += u64::from(dealbridge_pipedrive::costs::cost_of(method, path).unwrap_or(0));
    }
}

fn collection(kind: ImportKind) -> &'static str {
    match kind {
        ImportKind::Persons => "persons",
        ImportKind::Organizations => "organizations",
        ImportKind::Deals => "deals",
    }
}

/// Whether a search hit is exactly `key` (Pipedrive's exact search ignores case; so do keys).
fn hit_matches(kind: ImportKind, key: &str, item: &SearchItem) -> bool {
    let same = |v: &Option<String>| v.as_deref().is_some_and(|v| v.trim().to_lowercase() == key);
    match kind {
        ImportKind::Persons if key.contains('@') => {
            item.emails.iter().any(|e| e.trim().to_lowercase() == key)
        }
        ImportKind::Persons | ImportKind::Organizations => same(&item.name),
        ImportKind::Deals => same(&item.title) || same(&item.name),
    }
}

/// The ids of `kind` records whose key is exactly `key` (an exact-match search), ascending.
/// Keys shorter than two characters are not searchable and find nothing.
pub async fn find_by_key(
    client: &CompanyClient,
    kind: ImportKind,
    key: &str,
    spent: &mut Spent,
) -> Result<Vec<u64>, Error> {
    if key.chars().count() < 2 {
        return Ok(Vec::new());
    }
    spent.add("GET", &format!("/api/v2/{}/search", collection(kind)));
    let hits = match kind {
        ImportKind::Persons if key.contains('@') => client.persons().find_by_email(key).await?,
        ImportKind::Persons => {
            let query = SearchQuery::new(key).fields(["name"]).exact(true);
            client.persons().search(query).await?.items
        }
        ImportKind::Organizations => {
            let query = SearchQuery::new(key).fields(["name"]).exact(true);
            client.organizations().search(query).await?.items
        }
        ImportKind::Deals => {
            let query = SearchQuery::new(key).fields(["title"]).exact(true);
            client.deals().search(query).await?.items
        }
    };
    let mut ids: Vec<u64> = hits
        .into_iter()
        .filter(|hit| hit_matches(kind, key, &hit.item))
        .map(|hit| hit.item.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Pipedrive ids of the records a row links to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Links {
    pub org_id: Option<u64>,
    pub person_id: Option<u64>,
}

/// Finds the row's organization by exact name (creating it when there is none: a re-run finds
/// the one created) and a deal's person by email (never created: an email alone is no person).
pub async fn resolve_links(
    client: &CompanyClient,
    kind: ImportKind,
    values: &BTreeMap<String, String>,
    spent: &mut Spent,
) -> Result<Links, Error> {
    let mut links = Links::default();
    if kind != ImportKind::Organizations {
        if let Some(name) = values.get("org_name") {
            let key = name.trim().to_lowercase();
            let found = find_by_key(client, ImportKind::Organizations, &key, spent).await?;
            links.org_id = match found.first() {
                Some(id) => Some(*id),
                None => {
                    spent.add("POST", "/api/v2/organizations");
                    let new = OrganizationInput {
                        name: Some(name.clone()),
                        ..OrganizationInput::default()
                    };
                    Some(client.organizations().create(&new).await?.id)
                }
            };
        }
    }
    if kind == ImportKind::Deals {
        if let Some(email) = values.get("person_email") {
            let key = email.trim().to_lowercase();
            let found = find_by_key(client, ImportKind::Persons, &key, spent).await?;
            links.person_id = found.first().copied();
        }
    }
    Ok(links)
}

/// The custom field values of a row, numbers as JSON numbers.
fn custom_fields(values: &BTreeMap<String, String>, fields: &[TargetField]) -> CustomFields {
    fields
        .iter()
        .filter_map(|field| {
            let code = field.id.strip_prefix(CUSTOM_PREFIX)?;
            let value = values.get(&field.id)?;
            let json = match field.value_type {
                ValueType::Number => parse_number(value).map(serde_json::Value::from)?,
                _ => serde_json::Value::from(value.as_str()),
            };
            Some((code.to_owned(), json))
        })
        .collect()
}

fn contact(value: Option<&String>) -> Option<Vec<ContactEntry>> {
    value.map(|v| {
        vec![ContactEntry {
            value: v.clone(),
            primary: true,
            label: Some("work".into()),
        }]
    })
}

/// Creates the row's record; its id.
pub async fn create(
    client: &CompanyClient,
    kind: ImportKind,
    values: &BTreeMap<String, String>,
    fields: &[TargetField],
    links: Links,
    spent: &mut Spent,
) -> Result<u64, Error> {
    spent.add("POST", &format!("/api/v2/{}", collection(kind)));
    match kind {
        ImportKind::Persons => Ok(client
            .persons()
            .create(&person(values, fields, links))
            .await?
            .id),
        ImportKind::Organizations => Ok(client
            .organizations()
            .create(&organization(values, fields))
            .await?
            .id),
        ImportKind::Deals => {
            let patch = deal(values, fields, links);
            let new = NewDeal {
                title: patch.title.clone().unwrap_or_default(),
                fields: DealPatch {
                    title: None,
                    ..patch
                },
            };
            Ok(client.deals().create(&new).await?.id)
        }
    }
}

/// Writes the row's values over record `id` (a PATCH of the values, so repeating it is harmless).
pub async fn update(
    client: &CompanyClient,
    kind: ImportKind,
    id: u64,
    values: &BTreeMap<String, String>,
    fields: &[TargetField],
    links: Links,
    spent: &mut Spent,
) -> Result<(), Error> {
    spent.add("PATCH", &format!("/api/v2/{}/{{id}}", collection(kind)));
    match kind {
        ImportKind::Persons => client
            .persons()
            .update(id, &person(values, fields, links))
            .await
            .map(drop),
        ImportKind::Organizations => client
            .organizations()
            .update(id, &organization(values, fields))
            .await
            .map(drop),
        ImportKind::Deals => client
            .deals()
            .update(id, &deal(values, fields, links))
            .await
            .map(drop),
    }
}

fn person(values: &BTreeMap<String, String>, fields: &[TargetField], links: Links) -> PersonInput {
    PersonInput {
        name: values.get("name").cloned(),
        org_id: links.org_id,
        emails: contact(values.get("email")),
        phones: contact(values.get("phone")),
        custom_fields: custom_fields(values, fields),
        ..PersonInput::default()
    }
}

fn organization(values: &BTreeMap<String, String>, fields: &[TargetField]) -> OrganizationInput {
    OrganizationInput {
        name: values.get("name").cloned(),
        address: values
            .get("address")
            .map(|a| serde_json::json!({ "value": a })),
        custom_fields: custom_fields(values, fields),
        ..OrganizationInput::default()
    }
}

fn deal(values: &BTreeMap<String, String>, fields: &[TargetField], links: Links) -> DealPatch {
    DealPatch {
        title: values.get("title").cloned(),
        value: values.get("value").and_then(|v| parse_number(v)),
        currency: values.get("currency").map(|c| c.to_uppercase()),
        person_id: links.person_id,
        org_id: links.org_id,
        custom_fields: custom_fields(values, fields),
        ..DealPatch::default()
    }
}
