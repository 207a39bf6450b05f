//! A person found (not created) by a signup or an order is linked to the event's organization
//! when Pipedrive has them in none. One they already belong to is kept: the customer's team may
//! have set it on purpose, and the event only says where the person signed up or bought from.

use dealbridge_core::event::PipedriveEntity;
use dealbridge_pipedrive::models::{Person, PersonInput, SearchHit, SearchItem};
use serde_json::Value;

use super::context::{put, Flow, MirrorKeys};
use super::error::FlowResult;

/// What finding a person told of their organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FoundOrg {
    /// In none (`None`) or in this one.
    Known(Option<u64>),
    /// The person was found by the journal alone, so nothing was read.
    Unknown,
}

impl FoundOrg {
    /// From a person's data as the mirror holds it: v2's `org_id` number, or v1's
    /// `{"value": id, ...}`.
    pub(crate) fn of_data(data: &Value) -> Self {
        let org = &data["org_id"];
        Self::Known(org.as_u64().or_else(|| org["value"].as_u64()))
    }

    /// From an exact search's hit: its `organization` (`null` when there is none).
    pub(crate) fn of_hit(hit: &SearchHit<SearchItem>) -> Self {
        let org = hit.item.extra.get("organization").unwrap_or(&Value::Null);
        Self::Known(org["id"].as_u64())
    }
}

/// Links `person_id` to `org_id` when the person belongs to no organization yet. The write is a
/// PATCH of one field, so repeating it after a lost answer changes nothing; the journal step
/// keeps a finished one from being sent again.
pub(crate) async fn link_found_person(
    flow: &mut Flow<'_>,
    person_id: u64,
    found: FoundOrg,
    org_id: Option<u64>,
) -> FlowResult<()> {
    let Some(org_id) = org_id else {
        return Ok(());
    };
    let current = match found {
        FoundOrg::Known(current) => current,
        FoundOrg::Unknown => flow.client.persons().get(person_id).await?.org_id,
    };
    if current.is_some() {
        return Ok(());
    }
    let client = flow.client.clone();
    let patch = PersonInput {
        org_id: Some(org_id),
        ..PersonInput::default()
    };
    let updated = std::sync::Mutex::new(None);
    flow.journal()
        .repeatable("person-org", person_id, || async {
            put(&updated, client.persons().update(person_id, &patch).await?);
            Ok(())
        })
        .await?;
    if let Some(person) = updated.into_inner().ok().flatten() {
        remember_person(flow, &person).await?;
    }
    Ok(())
}

/// Puts a person Pipedrive answered with into the mirror, found by its primary email.
pub(crate) async fn remember_person(flow: &Flow<'_>, person: &Person) -> FlowResult<()> {
    let primary = person.emails.iter().find(|e| e.primary);
    let keys = MirrorKeys {
        name: person.name.clone(),
        email: primary.map(|e| e.value.trim().to_lowercase()),
        ..MirrorKeys::default()
    };
    let time = person.update_time.as_deref();
    flow.remember(PipedriveEntity::Person, person.id, keys, time, person)
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_mirror_data_says_the_organization_in_either_version() {
        assert_eq!(
            FoundOrg::of_data(&json!({ "org_id": 7 })),
            FoundOrg::Known(Some(7))
        );
        assert_eq!(
            FoundOrg::of_data(&json!({ "org_id": { "value": 8, "name": "Acme" } })),
            FoundOrg::Known(Some(8))
        );
        assert_eq!(
            FoundOrg::of_data(&json!({ "org_id": null })),
            FoundOrg::Known(None)
        );
    }
}
