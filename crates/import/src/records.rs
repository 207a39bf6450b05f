//! The Pipedrive side of one row: finding records by a row's key, resolving linked records (an
//! organization by name, a person by email), and the bodies of the create and update calls.
//!
//! Every key is asked of the tenant's local mirror first (no tokens): a person's email (else her
//! name), an organization's name, a deal's title. A hit gives the ids; a miss is final (no search)
//! only when the mirror is known to hold every record of the kind (the workflows' rule,
//! `dealbridge_workflows::mirror_complete`) and the row is on its first attempt; otherwise
//! Pipedrive's exact search is made as before. Records the import creates or updates go to the
//! mirror at once, so a later row finds them before their webhook arrives.

use std::collections::BTreeMap;

use chrono::Utc;
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::TenantId;
use dealbridge_pipedrive::models::{
    ContactEntry, CustomFields, DealPatch, NewDeal, OrganizationInput, PersonInput, SearchItem,
    SearchQuery,
};
use dealbridge_pipedrive::{CompanyClient, Error};
use dealbridge_storage::{
    ImportKind, MirrorCoverage, MirrorLookup, MirrorRecord, Store, StoreError,
};
use serde::Serialize;

use crate::fields::{TargetField, ValueType, CUSTOM_PREFIX};
use crate::journal::RowError;
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

/// The tenant's mirror as one chunk sees it: its coverage is read once per chunk, and whether it
/// is complete for a kind is decided at each lookup (the check's age counts from then).
#[derive(Clone, Copy)]
pub struct Mirror<'a> {
    pub store: &'a dyn Store,
    pub tenant: TenantId,
    pub coverage: Option<&'a MirrorCoverage>,
}

/// How a lookup may use the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A row's first attempt: a miss in a complete mirror means there is no such record.
    First,
    /// A row run again after its intent was recorded (cut off, retried): whatever it wrote may not
    /// have reached the mirror yet, so a miss is searched.
    Resumed,
}

impl Mirror<'_> {
    fn complete(&self, entity: PipedriveEntity) -> bool {
        dealbridge_workflows::mirror_complete(self.coverage, entity, Utc::now())
    }

    /// What the mirror says of `key`: `Some(ids)` when it answers (the ids whose key is exactly
    /// `key`, ascending; none only when that miss is final), `None` when Pipedrive must be asked.
    async fn find(
        &self,
        kind: ImportKind,
        key: &str,
        lookup: Lookup,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        let entity = entity_of(kind);
        let by_email = kind == ImportKind::Persons && key.contains('@');
        let query = match by_email {
            true => MirrorLookup::PersonEmail(key),
            false => MirrorLookup::Name(entity, key),
        };
        let found = self.store.find_mirror(self.tenant, query).await?;
        let mut ids: Vec<u64> = found
            .iter()
            .filter(|record| record_matches(kind, key, record))
            .filter_map(|record| u64::try_from(record.record_id).ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if !ids.is_empty() {
            return Ok(Some(ids));
        }
        // The store compares names with SQL `lower()`, which folds only ASCII letters on some
        // backends: a name with other letters may be held under another case, so it is searched.
        let comparable = by_email || key.is_ascii();
        let last_word = lookup == Lookup::First && comparable && self.complete(entity);
        Ok(last_word.then(Vec::new))
    }

    /// Keeps a record Pipedrive answered with, so the next row finds it before its webhook
    /// arrives (under the keys a webhook of it would give; see
    /// `dealbridge_workflows::remember_answer`).
    pub async fn remember(
        &self,
        entity: PipedriveEntity,
        record: &serde_json::Value,
    ) -> Result<(), StoreError> {
        dealbridge_workflows::remember_answer(self.store, self.tenant, entity, record).await?;
        Ok(())
    }

    /// Makes sure the mirror holds record `id` of `kind`, found by a row run again: it may be the
    /// one this row created before it was cut off (the answer lost, so never written to the
    /// mirror), and a later lookup that trusts a complete mirror's miss must find it there rather
    /// than create another. One GET by id, only when the mirror lacks it.
    pub async fn hold(
        &self,
        client: &CompanyClient,
        kind: ImportKind,
        id: u64,
        spent: &mut Spent,
    ) -> Result<(), RowError> {
        let entity = entity_of(kind);
        let record_id = i64::try_from(id).unwrap_or(i64::MAX);
        let held = MirrorLookup::Id(entity, record_id);
        if !self.store.find_mirror(self.tenant, held).await?.is_empty() {
            return Ok(());
        }
        spent.add("GET", &format!("/api/v2/{}/{{id}}", collection(kind)));
        let pipedrive = RowError::Pipedrive;
        match kind {
            ImportKind::Persons => {
                let person = client.persons().get(id).await.map_err(pipedrive)?;
                self.remember(entity, &as_json(&person)).await?;
            }
            ImportKind::Organizations => {
                let org = client.organizations().get(id).await.map_err(pipedrive)?;
                self.remember(entity, &as_json(&org)).await?;
            }
            ImportKind::Deals => {
                let deal = client.deals().get(id).await.map_err(pipedrive)?;
                self.remember(entity, &as_json(&deal)).await?;
            }
        }
        Ok(())
    }
}

/// Whether a mirror record is exactly `key`, as [`hit_matches`] judges a search hit (the mirror
/// holds a person's primary email only; its `name` is a deal's title).
fn record_matches(kind: ImportKind, key: &str, record: &MirrorRecord) -> bool {
    let same = |v: &Option<String>| v.as_deref().is_some_and(|v| v.trim().to_lowercase() == key);
    match kind {
        ImportKind::Persons if key.contains('@') => same(&record.email),
        ImportKind::Persons | ImportKind::Organizations | ImportKind::Deals => same(&record.name),
    }
}

/// The mirror's kind of an import's records.
pub(crate) fn entity_of(kind: ImportKind) -> PipedriveEntity {
    match kind {
        ImportKind::Persons => PipedriveEntity::Person,
        ImportKind::Organizations => PipedriveEntity::Organization,
        ImportKind::Deals => PipedriveEntity::Deal,
    }
}

/// The ids of `kind` records whose key is exactly `key`, ascending: from the mirror when it
/// answers (see [`Mirror`]), else by [`find_by_key`]. Keys shorter than two characters find
/// nothing, as the search's.
pub async fn find_existing(
    mirror: &Mirror<'_>,
    client: &CompanyClient,
    kind: ImportKind,
    key: &str,
    lookup: Lookup,
    spent: &mut Spent,
) -> Result<Vec<u64>, RowError> {
    if key.chars().count() < 2 {
        return Ok(Vec::new());
    }
    if let Some(ids) = mirror.find(kind, key, lookup).await? {
        return Ok(ids);
    }
    find_by_key(client, kind, key, spent)
        .await
        .map_err(RowError::Pipedrive)
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

/// Finds the row's organization by exact name (creating it when there is none: it is written to
/// the mirror, and a re-run, `Lookup::Resumed`, searches) and a deal's person by email (never
/// created: an email alone is no person). Both through [`find_existing`].
pub async fn resolve_links(
    mirror: &Mirror<'_>,
    client: &CompanyClient,
    kind: ImportKind,
    values: &BTreeMap<String, String>,
    lookup: Lookup,
    spent: &mut Spent,
) -> Result<Links, RowError> {
    let mut links = Links::default();
    if kind != ImportKind::Organizations {
        if let Some(name) = values.get("org_name") {
            let key = name.trim().to_lowercase();
            let orgs = ImportKind::Organizations;
            let found = find_existing(mirror, client, orgs, &key, lookup, spent).await?;
            links.org_id = match found.first() {
                Some(id) if lookup == Lookup::Resumed => {
                    mirror.hold(client, orgs, *id, spent).await?;
                    Some(*id)
                }
                Some(id) => Some(*id),
                None => {
                    spent.add("POST", "/api/v2/organizations");
                    let new = OrganizationInput {
                        name: Some(name.clone()),
                        ..OrganizationInput::default()
                    };
                    let org = client
                        .organizations()
                        .create(&new)
                        .await
                        .map_err(RowError::Pipedrive)?;
                    let entity = PipedriveEntity::Organization;
                    mirror.remember(entity, &as_json(&org)).await?;
                    Some(org.id)
                }
            };
        }
    }
    if kind == ImportKind::Deals {
        if let Some(email) = values.get("person_email") {
            let key = email.trim().to_lowercase();
            let persons = ImportKind::Persons;
            let found = find_existing(mirror, client, persons, &key, lookup, spent).await?;
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

/// What Pipedrive answered a write with: the record's id, and the record itself for the mirror.
pub struct Answer {
    pub id: u64,
    pub record: serde_json::Value,
}

impl Answer {
    fn of<T: Serialize>(id: u64, record: &T) -> Self {
        let record = as_json(record);
        Self { id, record }
    }
}

/// A record Pipedrive answered with, as the mirror keeps it (its fields as the API names them).
fn as_json<T: Serialize>(record: &T) -> serde_json::Value {
    serde_json::to_value(record).unwrap_or_default()
}

/// Creates the row's record.
pub async fn create(
    client: &CompanyClient,
    kind: ImportKind,
    values: &BTreeMap<String, String>,
    fields: &[TargetField],
    links: Links,
    spent: &mut Spent,
) -> Result<Answer, Error> {
    spent.add("POST", &format!("/api/v2/{}", collection(kind)));
    Ok(match kind {
        ImportKind::Persons => {
            let made = client
                .persons()
                .create(&person(values, fields, links))
                .await?;
            Answer::of(made.id, &made)
        }
        ImportKind::Organizations => {
            let new = organization(values, fields);
            let made = client.organizations().create(&new).await?;
            Answer::of(made.id, &made)
        }
        ImportKind::Deals => {
            let patch = deal(values, fields, links);
            let new = NewDeal {
                title: patch.title.clone().unwrap_or_default(),
                fields: DealPatch {
                    title: None,
                    ..patch
                },
            };
            let made = client.deals().create(&new).await?;
            Answer::of(made.id, &made)
        }
    })
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
) -> Result<Answer, Error> {
    spent.add("PATCH", &format!("/api/v2/{}/{{id}}", collection(kind)));
    Ok(match kind {
        ImportKind::Persons => {
            let patch = person(values, fields, links);
            Answer::of(id, &client.persons().update(id, &patch).await?)
        }
        ImportKind::Organizations => {
            let patch = organization(values, fields);
            Answer::of(id, &client.organizations().update(id, &patch).await?)
        }
        ImportKind::Deals => {
            let patch = deal(values, fields, links);
            Answer::of(id, &client.deals().update(id, &patch).await?)
        }
    })
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
