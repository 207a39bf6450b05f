//! Find-or-create for the records events hang on: an Organization (by domain, then name), a
//! Person (by email, linked to the organization), a Deal (by the order id in the app's `Order ID`
//! field). The mirror is asked first (no tokens), then Pipedrive's exact search (skipped when the
//! mirror is known complete for the kind, see [`crate::coverage`]), and only then is the record
//! created; the id used is journalled under the record's key, so a retried or a
//! concurrent job for the same key never creates a second one.

use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::outcome::RecordKind;
use dealbridge_pipedrive::models::{
    ContactEntry, NewDeal, OrganizationInput, PersonInput, SearchQuery,
};
use dealbridge_storage::MirrorLookup;

use super::context::{put, Flow, MirrorKeys};
use super::error::FlowResult;
use super::journal::Lookup;
use super::person_org::{link_found_person, remember_person, FoundOrg};

/// Mail providers whose domain says nothing about a company.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "web.de",
    "mail.com",
    "yandex.com",
];

/// How an organization is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrgKey {
    pub domain: Option<String>,
    pub name: String,
}

/// The organization of a contact: its company name, and its email's domain unless that is a
/// free mail provider's. `None` when there is neither.
pub(crate) fn org_key(email: Option<&str>, company: Option<&str>) -> Option<OrgKey> {
    let domain = email
        .and_then(|e| e.rsplit_once('@'))
        .map(|(_, d)| d.trim().to_lowercase())
        .filter(|d| !d.is_empty() && !FREE_MAIL.contains(&d.as_str()));
    let company = company.map(str::trim).filter(|c| !c.is_empty());
    let name = company.map(str::to_owned).or_else(|| domain.clone())?;
    Some(OrgKey { domain, name })
}

pub(crate) async fn organization(flow: &mut Flow<'_>, key: &OrgKey) -> FlowResult<u64> {
    let mut found = None;
    if let Some(domain) = &key.domain {
        found = flow
            .mirrored(MirrorLookup::OrganizationDomain(domain))
            .await?;
    }
    if found.is_none() {
        found = flow
            .mirrored(MirrorLookup::Name(PipedriveEntity::Organization, &key.name))
            .await?;
    }
    if let Some(id) = found {
        flow.became(RecordKind::Organization, id);
        return Ok(id);
    }
    let shared = key
        .domain
        .clone()
        .unwrap_or_else(|| key.name.to_lowercase());
    let journal = flow.shared_journal(format!("organization:{shared}"));
    let client = flow.client.clone();
    let input = OrganizationInput {
        name: Some(key.name.clone()),
        owner_id: Some(flow.owner_id),
        website: key.domain.clone(),
        ..OrganizationInput::default()
    };
    let lookup = flow.lookup_for(PipedriveEntity::Organization).await?;
    let created = std::sync::Mutex::new(None);
    let id = journal
        .once(
            "record",
            lookup,
            || async {
                let query = SearchQuery::new(key.name.clone())
                    .fields(["name"])
                    .exact(true);
                let hits = client.organizations().search(query).await?;
                Ok(hits.items.first().map(|hit| hit.item.id))
            },
            || async {
                let org = client.organizations().create(&input).await?;
                let id = org.id;
                put(&created, org);
                Ok(id)
            },
        )
        .await?;
    if let Some(org) = created.into_inner().ok().flatten() {
        let keys = MirrorKeys {
            name: org.name.clone(),
            domain: key.domain.clone(),
            ..MirrorKeys::default()
        };
        let time = org.update_time.clone();
        flow.remember(
            PipedriveEntity::Organization,
            id,
            keys,
            time.as_deref(),
            &org,
        )
        .await?;
    }
    flow.became(RecordKind::Organization, id);
    Ok(id)
}

/// What a new person gets besides the email.
#[derive(Debug, Default)]
pub(crate) struct PersonDetails {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub org_id: Option<u64>,
    /// A person found in no organization is linked to `org_id` (signups and orders);
    /// `customer.updated` sets the organization in its own single update instead.
    pub link_found: bool,
}

pub(crate) async fn person(
    flow: &mut Flow<'_>,
    email: &str,
    details: PersonDetails,
) -> FlowResult<u64> {
    let email = email.trim().to_lowercase();
    let link_to = details.org_id.filter(|_| details.link_found);
    let mirrored = flow.mirrored_record(MirrorLookup::PersonEmail(&email));
    let mirrored = mirrored.await?.and_then(|record| {
        let id = u64::try_from(record.record_id).ok()?;
        Some((id, FoundOrg::of_data(&record.data)))
    });
    if let Some((id, found)) = mirrored {
        link_found_person(flow, id, found, link_to).await?;
        flow.became(RecordKind::Person, id);
        return Ok(id);
    }
    let journal = flow.shared_journal(format!("person:{email}"));
    let client = flow.client.clone();
    let input = PersonInput {
        name: Some(details.name.clone().unwrap_or_else(|| email.clone())),
        owner_id: Some(flow.owner_id),
        org_id: details.org_id,
        emails: Some(vec![ContactEntry {
            value: email.clone(),
            primary: true,
            label: Some("work".into()),
        }]),
        phones: details.phone.map(|phone| {
            vec![ContactEntry {
                value: phone,
                primary: true,
                label: Some("work".into()),
            }]
        }),
        ..PersonInput::default()
    };
    let lookup = flow.lookup_for(PipedriveEntity::Person).await?;
    let (created, found) = (std::sync::Mutex::new(None), std::sync::Mutex::new(None));
    let id = journal
        .once(
            "record",
            lookup,
            || async {
                let hits = client.persons().find_by_email(&email).await?;
                let hit = hits.first();
                if let Some(hit) = hit {
                    put(&found, FoundOrg::of_hit(hit));
                }
                Ok(hit.map(|hit| hit.item.id))
            },
            || async {
                let person = client.persons().create(&input).await?;
                let id = person.id;
                put(&created, person);
                Ok(id)
            },
        )
        .await?;
    match created.into_inner().ok().flatten() {
        Some(person) => remember_person(flow, &person).await?,
        None => {
            let found = found.into_inner().ok().flatten();
            let found = found.unwrap_or(FoundOrg::Unknown);
            link_found_person(flow, id, found, link_to).await?;
        }
    }
    flow.became(RecordKind::Person, id);
    Ok(id)
}

/// The deal of an order, found by the order id its `Order ID` field carries, or created as
/// `new` (which must carry it in that field). True in the second place when this call created it.
pub(crate) async fn order_deal(
    flow: &mut Flow<'_>,
    order_id: &str,
    new: NewDeal,
) -> FlowResult<(u64, bool)> {
    if let Some(id) = flow.mirrored(MirrorLookup::DealOrderId(order_id)).await? {
        flow.became(RecordKind::Deal, id);
        return Ok((id, false));
    }
    let journal = flow.shared_journal(format!("order:{order_id}"));
    let client = flow.client.clone();
    let created = std::sync::Mutex::new(None);
    let id = journal
        .once(
            "deal",
            // Only Dealbridge writes an order id into a deal, and it journals each one it writes:
            // with no journal entry for this order there is nothing to find.
            Lookup::OnResume,
            || async {
                let query = SearchQuery::new(order_id)
                    .fields(["custom_fields"])
                    .exact(true);
                let hits = client.deals().search(query).await?;
                Ok(hits.items.first().map(|hit| hit.item.id))
            },
            || async {
                let deal = client.deals().create(&new).await?;
                let id = deal.id;
                put(&created, deal);
                Ok(id)
            },
        )
        .await?;
    let fresh = match created.into_inner().ok().flatten() {
        Some(deal) => {
            let keys = MirrorKeys {
                name: deal.title.clone(),
                order_id: Some(order_id.to_owned()),
                ..MirrorKeys::default()
            };
            let time = deal.update_time.clone();
            flow.remember(PipedriveEntity::Deal, id, keys, time.as_deref(), &deal)
                .await?;
            true
        }
        None => false,
    };
    flow.became(RecordKind::Deal, id);
    Ok((id, fresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_domain_names_an_organization_and_free_mail_does_not() {
        let key = org_key(Some("ada@Acme.test"), None).unwrap();
        assert_eq!(key.domain.as_deref(), Some("acme.test"));
        assert_eq!(key.name, "acme.test");
        let key = org_key(Some("ada@gmail.com"), Some("Analytical Engines")).unwrap();
        assert_eq!(key.domain, None);
        assert_eq!(key.name, "Analytical Engines");
        assert_eq!(org_key(Some("ada@gmail.com"), Some("  ")), None);
        assert_eq!(org_key(None, None), None);
    }
}
