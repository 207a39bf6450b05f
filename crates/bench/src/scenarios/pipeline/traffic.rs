//! The event stream of the `pipeline` scenario: a shop's and a product's everyday events for each
//! tenant, with the repeats real traffic has (customers order again, orders are updated, the same
//! accounts report usage every day), released in waves.
//!
//! In real traffic the repeats of one customer or order are spread over minutes or days, not sent
//! in the same instant; two events about the same record processed at the same moment make the
//! second wait for the first (the workflows' journal), which is not what the bench measures. So each
//! event goes in the wave after the last one that touched any of its keys (customer, organization,
//! order, deal): a wave holds at most one event per key, and a key's events keep their order.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::event::{EventSource, EventType};
use serde_json::{json, Value};

/// One event as the bench records it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub tenant: usize,
    pub wave: usize,
    pub source: EventSource,
    pub kind: EventType,
    pub entity: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub payload: Value,
}

/// How much of the stream each event type is, in percent (the rest are order creations).
const SIGNUP: u64 = 12;
const ORDER_UPDATED: u64 = 20;
const CUSTOMER_UPDATED: u64 = 10;
const USAGE: u64 = 13;
const TICKET: u64 = 6;
const STAGE: u64 = 4;
/// Of orders, the share placed by a customer seen before (percent).
const REPEAT_ORDER: u64 = 60;
/// Of customers, the share with a free mail address (no organization from the domain).
const FREE_MAIL: u64 = 30;
/// Waves of one day: a usage note is per record per day, so reports repeat within a day.
const WAVES_PER_DAY: i64 = 12;

/// A small deterministic generator (splitmix64), so two runs record the same stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
}

struct Customer {
    email: String,
    first: String,
    last: String,
    company: Option<String>,
    phone: String,
}

/// One tenant's state while its events are made: who and what exists so far.
struct Tenant {
    index: usize,
    customers: Vec<Customer>,
    orders: Vec<(String, usize)>,
    own_deals: Vec<u64>,
    tickets: usize,
    /// The wave of the last event that touched each key.
    last_wave: HashMap<String, usize>,
}

impl Tenant {
    fn new_customer(&mut self, rng: &mut Rng) -> usize {
        let n = self.customers.len();
        // Companies are shared: about three customers per company domain.
        let company = rng.below(n / 3 + 2);
        let free = rng.percent(FREE_MAIL);
        let (email, company) = if free {
            (format!("c{n}.t{}@gmail.com", self.index), None)
        } else {
            (
                format!("c{n}@co{company}-t{}.test", self.index),
                Some(format!("Company {company} of tenant {}", self.index)),
            )
        };
        self.customers.push(Customer {
            email,
            first: format!("First{n}"),
            last: format!("Last{n}"),
            company,
            phone: format!("+1 555 {:04}", n % 10_000),
        });
        n
    }

    fn customer_keys(&self, c: usize) -> Vec<String> {
        let customer = &self.customers[c];
        let mut keys = vec![format!("person:{}", customer.email)];
        if customer.company.is_some() {
            if let Some((_, domain)) = customer.email.rsplit_once('@') {
                keys.push(format!("org:{domain}"));
            }
        }
        keys
    }

    /// The wave after the last one of any of `keys`; marks them.
    fn place(&mut self, keys: &[String]) -> usize {
        let wave = keys
            .iter()
            .filter_map(|k| self.last_wave.get(k).map(|w| w + 1))
            .max()
            .unwrap_or(0);
        for key in keys {
            self.last_wave.insert(key.clone(), wave);
        }
        wave
    }

    fn order_customer(&self, c: usize) -> Value {
        let customer = &self.customers[c];
        json!({
            "email": customer.email, "first_name": customer.first, "last_name": customer.last,
            "phone": customer.phone, "company": customer.company,
        })
    }
}

/// `events` events over `tenants` tenants (round-robin), deterministic. `own_deals[t]` are deals
/// the tenant's Pipedrive held before (for stage changes), `stages` the stages to move them to.
pub fn plan(events: usize, own_deals: &[Vec<u64>], stages: &[u64]) -> Vec<Planned> {
    let mut rng = Rng(0x5EED);
    let mut tenants: Vec<Tenant> = own_deals
        .iter()
        .enumerate()
        .map(|(index, deals)| Tenant {
            index,
            customers: Vec::new(),
            orders: Vec::new(),
            own_deals: deals.clone(),
            tickets: 0,
            last_wave: HashMap::new(),
        })
        .collect();
    let count = tenants.len().max(1);
    let base = DateTime::parse_from_rfc3339("2026-11-02T08:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(events);
    for n in 0..events {
        let tenant = &mut tenants[n % count];
        let (source, kind, entity, keys, payload) = next_event(tenant, &mut rng, stages);
        let wave = tenant.place(&keys);
        // Spread the waves over days, so each day has its own usage notes.
        let occurred_at = base
            + Duration::hours(24 / WAVES_PER_DAY) * i32::try_from(wave).unwrap_or(i32::MAX)
            + Duration::seconds(i64::try_from(n).unwrap_or(0) % 3600);
        out.push(Planned {
            tenant: tenant.index,
            wave,
            source,
            kind,
            entity,
            occurred_at,
            payload,
        });
    }
    out
}

type Next = (EventSource, EventType, Option<String>, Vec<String>, Value);

fn next_event(t: &mut Tenant, rng: &mut Rng, stages: &[u64]) -> Next {
    let roll = rng.next() % 100;
    let has_customers = !t.customers.is_empty();
    let mut cut = SIGNUP;
    if roll < cut || !has_customers {
        return signup(t, rng);
    }
    cut += ORDER_UPDATED;
    if roll < cut && !t.orders.is_empty() {
        return order_updated(t, rng);
    }
    cut += CUSTOMER_UPDATED;
    if roll < cut {
        return customer_updated(t, rng);
    }
    cut += USAGE;
    if roll < cut {
        return usage(t, rng);
    }
    cut += TICKET;
    if roll < cut {
        return ticket(t, rng);
    }
    cut += STAGE;
    if roll < cut && !t.own_deals.is_empty() && !stages.is_empty() {
        let deal = t.own_deals[rng.below(t.own_deals.len())];
        let stage = stages[rng.below(stages.len())];
        return (
            EventSource::EventApi,
            EventType::DealStageChanged,
            Some(format!("deal:{deal}")),
            vec![format!("deal:{deal}")],
            json!({ "deal_id": deal, "stage_id": stage, "note": format!("Moved to stage {stage}") }),
        );
    }
    order_created(t, rng)
}

fn signup(t: &mut Tenant, rng: &mut Rng) -> Next {
    let c = t.new_customer(rng);
    let customer = &t.customers[c];
    let payload = json!({
        "user_id": format!("u{c}"), "email": customer.email,
        "name": format!("{} {}", customer.first, customer.last),
        "company": customer.company, "plan": "pro",
    });
    (
        EventSource::EventApi,
        EventType::Signup,
        Some(format!("user:u{c}")),
        t.customer_keys(c),
        payload,
    )
}

fn order_created(t: &mut Tenant, rng: &mut Rng) -> Next {
    let c = if rng.percent(REPEAT_ORDER) {
        rng.below(t.customers.len())
    } else {
        t.new_customer(rng)
    };
    let id = format!("O{}-{}", t.index, t.orders.len());
    t.orders.push((id.clone(), c));
    let quantity = 1 + rng.below(3);
    let payload = json!({
        "id": id, "number": format!("#{}", t.orders.len()), "store": "bench.myshopify.com",
        "status": "pending", "currency": "EUR", "total": format!("{}.90", 19 * quantity),
        "customer": t.order_customer(c),
        "line_items": [{"sku": "MUG", "name": "Mug", "quantity": quantity, "unit_price": "19.00"}],
    });
    let mut keys = t.customer_keys(c);
    keys.push(format!("order:{id}"));
    (
        EventSource::Shopify,
        EventType::OrderCreated,
        Some(format!("order:{id}")),
        keys,
        payload,
    )
}

fn order_updated(t: &mut Tenant, rng: &mut Rng) -> Next {
    let (id, c) = t.orders[rng.below(t.orders.len())].clone();
    let status = ["paid", "fulfilled", "refunded"][rng.below(3)];
    let payload = json!({
        "id": id, "store": "bench.myshopify.com", "status": status, "currency": "EUR",
        "total": "19.90", "customer": t.order_customer(c),
    });
    let mut keys = t.customer_keys(c);
    keys.push(format!("order:{id}"));
    (
        EventSource::Shopify,
        EventType::OrderUpdated,
        Some(format!("order:{id}")),
        keys,
        payload,
    )
}

fn customer_updated(t: &mut Tenant, rng: &mut Rng) -> Next {
    let c = rng.below(t.customers.len());
    let customer = &mut t.customers[c];
    customer.phone = format!("+1 555 {:04}", rng.below(10_000));
    // No company: the update is about the person (only `customer.updated` with a company links one).
    let payload = json!({
        "email": customer.email, "first_name": customer.first, "last_name": customer.last,
        "phone": customer.phone,
    });
    (
        EventSource::EventApi,
        EventType::CustomerUpdated,
        Some(format!("customer:{c}")),
        t.customer_keys(c),
        payload,
    )
}

/// Usage of an account: a customer's email, or an order's id (its deal).
fn usage(t: &mut Tenant, rng: &mut Rng) -> Next {
    let (account, keys) = if !t.orders.is_empty() && rng.percent(50) {
        let (id, c) = t.orders[rng.below(t.orders.len())].clone();
        let mut keys = t.customer_keys(c);
        keys.push(format!("order:{id}"));
        (id, keys)
    } else {
        let c = rng.below(t.customers.len());
        (t.customers[c].email.clone(), t.customer_keys(c))
    };
    let metric = ["api_calls", "seats", "storage_gb"][rng.below(3)];
    let payload = json!({
        "account_id": account, "metric": metric,
        "quantity": u32::try_from(rng.below(5000)).unwrap_or(0),
    });
    (
        EventSource::EventApi,
        EventType::UsageReported,
        None,
        keys,
        payload,
    )
}

fn ticket(t: &mut Tenant, rng: &mut Rng) -> Next {
    // Mostly customers; sometimes someone Pipedrive does not know yet.
    let c = if rng.percent(80) {
        rng.below(t.customers.len())
    } else {
        t.new_customer(rng)
    };
    t.tickets += 1;
    let id = format!("T{}-{}", t.index, t.tickets);
    let payload = json!({
        "ticket_id": id, "email": t.customers[c].email, "subject": "Question", "priority": "normal",
    });
    (
        EventSource::EventApi,
        EventType::TicketCreated,
        Some(format!("ticket:{id}")),
        t.customer_keys(c),
        payload,
    )
}
