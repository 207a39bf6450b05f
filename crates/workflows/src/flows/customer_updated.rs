//! `customer.updated`: the Person with the customer's email gets their name, and the email and
//! phone are added to the person's emails and phones (as primary) without dropping the others.
//! A customer Pipedrive has no person for becomes one.

use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::outcome::RecordKind;
use dealbridge_events::records::Customer;
use dealbridge_pipedrive::models::{ContactEntry, PersonInput};

use super::context::{put, Flow, MirrorKeys};
use super::error::{FlowError, FlowResult};
use super::find::{org_key, organization, person, PersonDetails};
use super::orders::full_name;

pub(crate) async fn run(flow: &mut Flow<'_>) -> FlowResult<()> {
    let customer: Customer = flow.payload()?;
    let email = customer
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or(FlowError::Refused(
            "the customer has no email to find their person by",
        ))?;
    let name = full_name(
        customer.first_name.as_deref(),
        customer.last_name.as_deref(),
    );
    let org_id = match org_key(Some(email), customer.company.as_deref()) {
        Some(key) if customer.company.is_some() => Some(organization(flow, &key).await?),
        _ => None,
    };
    let details = PersonDetails {
        name: name.clone(),
        phone: customer.phone.clone(),
        org_id,
        link_found: false,
    };
    let person_id = person(flow, email, details).await?;

    // Read the person as it is now (1 token), so the PATCH keeps what the customer's admin
    // entered and is skipped when nothing changes.
    let current = flow.client.persons().get(person_id).await?;
    let mut patch = PersonInput::default();
    if name.is_some() && name != current.name {
        patch.name = name;
    }
    if org_id.is_some() && current.org_id != org_id {
        patch.org_id = org_id;
    }
    if let Some(emails) = with_primary(&current.emails, email) {
        patch.emails = Some(emails);
    }
    if let Some(phone) = customer.phone.as_deref() {
        if let Some(phones) = with_primary(&current.phones, phone) {
            patch.phones = Some(phones);
        }
    }
    if patch == PersonInput::default() {
        return Ok(());
    }
    let client = flow.client.clone();
    let updated = std::sync::Mutex::new(None);
    flow.journal()
        .repeatable("person", person_id, || async {
            put(&updated, client.persons().update(person_id, &patch).await?);
            Ok(())
        })
        .await?;
    if let Some(person) = updated.into_inner().ok().flatten() {
        let keys = MirrorKeys {
            name: person.name.clone(),
            email: person
                .emails
                .iter()
                .find(|e| e.primary)
                .map(|e| e.value.to_lowercase()),
            ..MirrorKeys::default()
        };
        let time = person.update_time.clone();
        flow.remember(
            PipedriveEntity::Person,
            person_id,
            keys,
            time.as_deref(),
            &person,
        )
        .await?;
    }
    flow.became(RecordKind::Person, person_id);
    Ok(())
}

/// `entries` with `value` as the primary one (added if missing); `None` when it already is.
fn with_primary(entries: &[ContactEntry], value: &str) -> Option<Vec<ContactEntry>> {
    let same = |e: &ContactEntry| e.value.trim().eq_ignore_ascii_case(value.trim());
    if entries.iter().any(|e| same(e) && e.primary) {
        return None;
    }
    let mut out: Vec<ContactEntry> = entries
        .iter()
        .filter(|e| !same(e))
        .map(|e| ContactEntry {
            primary: false,
            ..e.clone()
        })
        .collect();
    out.insert(
        0,
        ContactEntry {
            value: value.trim().to_owned(),
            primary: true,
            label: Some("work".into()),
        },
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &str, primary: bool) -> ContactEntry {
        ContactEntry {
            value: value.into(),
            primary,
            label: None,
        }
    }

    #[test]
    fn a_new_value_becomes_primary_and_the_others_stay() {
        let entries = [entry("old@x.test", true), entry("b@x.test", false)];
        let out = with_primary(&entries, "new@x.test").unwrap();
        let values: Vec<(&str, bool)> = out.iter().map(|e| (e.value.as_str(), e.primary)).collect();
        assert_eq!(
            values,
            vec![
                ("new@x.test", true),
                ("old@x.test", false),
                ("b@x.test", false)
            ]
        );
        assert_eq!(
            with_primary(&[entry("New@x.test", true)], "new@x.test"),
            None
        );
    }
}
