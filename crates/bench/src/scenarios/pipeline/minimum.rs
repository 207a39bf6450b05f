//! The fewest tokens the event list needs, computed from the events alone (not from what the
//! workflows did), so the bench can say how far the workflows are from it.
//!
//! The model: each tenant's Pipedrive holds no person, organization or order deal before the run
//! (the bench installs into empty companies), and the mirror knows every record the app wrote. So a
//! record seen before is found without a call. A first-seen person or organization costs its
//! `POST`, and before it an exact search (`GET .../search`) unless the mirror is known complete
//! ([`Searches`]): only then does a miss prove nothing in Pipedrive matches. (A new order's deal
//! never needs one: only Dealbridge writes order ids, and it journals each.) Writes cost what
//! Pipedrive's `x-token-cost` says for them:
//!
//! | event | necessary calls |
//! |---|---|
//! | `signup` | `POST` organization and person when first seen (a person seen before in no organization: `PATCH` person to link them), `POST` deal, `POST` activity |
//! | `order.created` | organization and person as for a signup, `POST` deal when the order is new, `POST` note |
//! | `order.updated` | as the creation when the order is new, then `PATCH` deal |
//! | `deal.stage_changed` | `PATCH` deal, `POST` note |
//! | `customer.updated` | a first-seen person: its `POST` (with the name and phone); a known one: `GET` person (the mirror keeps keys, not the person's other emails and phones the update must keep) and a `PATCH` when the name or phone changes |
//! | `usage.reported` | `POST` the record's note of the day, or `PUT` it when that day's note exists |
//! | `ticket.created` | the person when first seen, `POST` activity |

use std::collections::{HashMap, HashSet};

use dealbridge_core::event::EventType;
use serde_json::Value;

use super::traffic::Planned;

/// `x-token-cost` of each call (Pipedrive's OpenAPI files, as the sandbox charges them).
const POST_V2: u64 = 5; // POST /api/v2/{persons,organizations,deals,activities}
const PATCH_V2: u64 = 5; // PATCH /api/v2/{deals,persons}/{id}
const GET_PERSON: u64 = 1; // GET /api/v2/persons/{id}
const NOTE_WRITE: u64 = 10; // POST /api/v1/notes, PUT /api/v1/notes/{id}
const SEARCH: u64 = 20; // GET /api/v2/{persons,organizations}/search

/// What a first-seen person or organization needs before its `POST`, given what the mirror knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Searches {
    /// The mirror is known complete: a miss is final.
    None,
    /// It is not: a miss must be searched for in Pipedrive.
    OnFirstSight,
}

/// Mail providers whose domain names no company (the workflows' rule; the bench uses gmail.com).
const FREE_MAIL: &[&str] = &["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"];

/// What Pipedrive holds of a person the app wrote.
struct Held {
    name: Option<String>,
    phone: Option<String>,
    in_org: bool,
}

struct Known {
    searches: Searches,
    /// Tokens of the searches counted so far.
    search_tokens: u64,
    /// Person by lower-cased email.
    persons: HashMap<String, Held>,
    org_domains: HashSet<String>,
    org_names: HashSet<String>,
    orders: HashSet<String>,
}

impl Known {
    fn new(searches: Searches) -> Self {
        Self {
            searches,
            search_tokens: 0,
            persons: HashMap::new(),
            org_domains: HashSet::new(),
            org_names: HashSet::new(),
            orders: HashSet::new(),
        }
    }

    /// A first-seen record's search, when the mirror's miss does not settle it.
    fn first_sight(&mut self) -> u64 {
        match self.searches {
            Searches::None => 0,
            Searches::OnFirstSight => {
                self.search_tokens += SEARCH;
                SEARCH
            }
        }
    }
}

/// The minimum tokens for `events`, taken in the order the bench releases them, and of those the
/// searches.
pub fn minimum_tokens(events: &[Planned], searches: Searches) -> (u64, u64) {
    let mut order: Vec<&Planned> = events.iter().collect();
    // Stable: a wave's events keep their order, and a key's events are in increasing waves.
    order.sort_by_key(|e| e.wave);
    let mut known: HashMap<usize, Known> = HashMap::new();
    let total = order
        .into_iter()
        .map(|e| {
            let k = known
                .entry(e.tenant)
                .or_insert_with(|| Known::new(searches));
            cost(k, e)
        })
        .sum();
    (total, known.values().map(|k| k.search_tokens).sum())
}

fn cost(k: &mut Known, e: &Planned) -> u64 {
    let p = &e.payload;
    match e.kind {
        EventType::Signup => {
            let (email, company) = (text(p, "email"), text(p, "company"));
            let in_org = names_an_org(email, company);
            organization(k, email, company)
                + person(k, email, text(p, "name").map(str::to_owned), None, in_org)
                + POST_V2
                + POST_V2
        }
        EventType::OrderCreated => order(k, p) + NOTE_WRITE,
        EventType::OrderUpdated => order(k, p) + PATCH_V2,
        EventType::DealStageChanged => PATCH_V2 + NOTE_WRITE,
        EventType::CustomerUpdated => customer_updated(k, p),
        EventType::UsageReported => usage(k, p),
        EventType::TicketCreated => person(k, text(p, "email"), None, None, false) + POST_V2,
        _ => 0,
    }
}

fn text<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v[field].as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn full_name(v: &Value) -> Option<String> {
    let parts: Vec<&str> = [text(v, "first_name"), text(v, "last_name")]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn domain_of(email: Option<&str>) -> Option<String> {
    let (_, domain) = email?.rsplit_once('@')?;
    let domain = domain.trim().to_lowercase();
    (!domain.is_empty() && !FREE_MAIL.contains(&domain.as_str())).then_some(domain)
}

/// Whether a contact's company or email domain names an organization (the workflows' rule).
fn names_an_org(email: Option<&str>, company: Option<&str>) -> bool {
    company.is_some() || domain_of(email).is_some()
}

/// An organization's `POST` when first seen; none when the contact names no company.
fn organization(k: &mut Known, email: Option<&str>, company: Option<&str>) -> u64 {
    let domain = domain_of(email);
    let Some(name) = company.map(str::to_owned).or_else(|| domain.clone()) else {
        return 0;
    };
    let seen =
        domain.as_ref().is_some_and(|d| k.org_domains.contains(d)) || k.org_names.contains(&name);
    if seen {
        return 0;
    }
    if let Some(domain) = domain {
        k.org_domains.insert(domain);
    }
    k.org_names.insert(name);
    k.first_sight() + POST_V2
}

/// A first-seen person's `POST` (in the event's organization when `in_org`); a person seen
/// before in no organization costs the `PATCH` that links them when the event names one.
fn person(
    k: &mut Known,
    email: Option<&str>,
    name: Option<String>,
    phone: Option<String>,
    in_org: bool,
) -> u64 {
    let Some(email) = email.map(str::to_lowercase) else {
        return 0;
    };
    if let Some(held) = k.persons.get_mut(&email) {
        if in_org && !held.in_org {
            held.in_org = true;
            return PATCH_V2;
        }
        return 0;
    }
    k.persons.insert(
        email,
        Held {
            name,
            phone,
            in_org,
        },
    );
    k.first_sight() + POST_V2
}

/// The buyer's organization and person, and the order's deal when the order is new.
fn order(k: &mut Known, p: &Value) -> u64 {
    let customer = &p["customer"];
    let (email, company) = (text(customer, "email"), text(customer, "company"));
    let mut tokens = organization(k, email, company);
    tokens += person(
        k,
        email,
        full_name(customer),
        text(customer, "phone").map(str::to_owned),
        names_an_org(email, company),
    );
    if let Some(id) = text(p, "id") {
        if k.orders.insert(id.to_owned()) {
            tokens += POST_V2;
        }
    }
    tokens
}

fn customer_updated(k: &mut Known, p: &Value) -> u64 {
    let Some(email) = text(p, "email").map(str::to_lowercase) else {
        return 0;
    };
    let name = full_name(p);
    let phone = text(p, "phone").map(str::to_owned);
    // Only an update that names a company puts the person in an organization.
    let company = text(p, "company");
    let Some(held) = k.persons.get_mut(&email) else {
        return person(k, Some(&email), name, phone, company.is_some());
    };
    let changed = (name.is_some() && name != held.name)
        || (phone.is_some() && phone != held.phone)
        || (company.is_some() && !held.in_org);
    if name.is_some() {
        held.name = name;
    }
    if phone.is_some() {
        held.phone = phone;
    }
    held.in_org |= company.is_some();
    GET_PERSON + if changed { PATCH_V2 } else { 0 }
}

/// The day's note on the record the account names (an order's deal, a person, an
/// organization): its `POST`, or its `PUT` when the day's note exists; both cost the same.
fn usage(k: &Known, p: &Value) -> u64 {
    let Some(account) = text(p, "account_id") else {
        return 0;
    };
    let matches = k.orders.contains(account)
        || k.persons.contains_key(&account.to_lowercase())
        || k.org_domains.contains(account)
        || k.org_names.contains(account);
    // Nothing matching fails the event at once, without a write; the bench never sends one.
    if matches {
        NOTE_WRITE
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use dealbridge_core::event::EventSource;
    use serde_json::json;

    fn event(wave: usize, kind: EventType, payload: Value) -> Planned {
        Planned {
            tenant: 0,
            wave,
            source: EventSource::EventApi,
            kind,
            entity: None,
            occurred_at: Utc::now(),
            payload,
        }
    }

    #[test]
    fn a_repeat_customer_costs_only_the_new_order() {
        let customer = json!({"email": "a@co.test", "first_name": "A", "company": "Co"});
        let events = [
            event(
                0,
                EventType::OrderCreated,
                json!({"id": "1", "customer": customer}),
            ),
            event(
                1,
                EventType::OrderCreated,
                json!({"id": "2", "customer": customer}),
            ),
            event(
                2,
                EventType::OrderUpdated,
                json!({"id": "2", "customer": customer}),
            ),
        ];
        // org + person + deal + note, then deal + note, then the patch.
        assert_eq!(
            minimum_tokens(&events, Searches::None),
            ((5 + 5 + 5 + 10) + (5 + 10) + 5, 0)
        );
        // Unknown to the mirror, the first organization and person are searched for first.
        assert_eq!(
            minimum_tokens(&events, Searches::OnFirstSight),
            ((20 + 5 + 20 + 5 + 5 + 10) + (5 + 10) + 5, 40)
        );
    }

    #[test]
    fn usage_writes_the_days_note_and_a_known_person_is_read_before_its_update() {
        let events = [
            event(0, EventType::TicketCreated, json!({"email": "b@gmail.com"})),
            event(
                1,
                EventType::UsageReported,
                json!({"account_id": "b@gmail.com"}),
            ),
            event(
                2,
                EventType::UsageReported,
                json!({"account_id": "b@gmail.com"}),
            ),
            event(
                3,
                EventType::CustomerUpdated,
                json!({"email": "b@gmail.com", "phone": "1"}),
            ),
            event(
                4,
                EventType::CustomerUpdated,
                json!({"email": "b@gmail.com", "phone": "1"}),
            ),
        ];
        // A free-mail person (no organization) and its task; two note writes; a read and a
        // patch; a read alone.
        assert_eq!(
            minimum_tokens(&events, Searches::None).0,
            (5 + 5) + 10 + 10 + (1 + 5) + 1
        );
    }

    #[test]
    fn a_known_person_in_no_organization_is_linked_once() {
        let events = [
            event(0, EventType::TicketCreated, json!({"email": "c@co.test"})),
            event(
                1,
                EventType::Signup,
                json!({"email": "c@co.test", "company": "Co"}),
            ),
            event(
                2,
                EventType::Signup,
                json!({"email": "c@co.test", "company": "Co"}),
            ),
        ];
        // The ticket's person and task; the organization, the link, deal and activity; then
        // deal and activity alone.
        assert_eq!(
            minimum_tokens(&events, Searches::None).0,
            (5 + 5) + (5 + 5 + 5 + 5) + (5 + 5)
        );
    }
}
