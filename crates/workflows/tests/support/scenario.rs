//! The workflows' end-to-end scenario, shared by the SQLite and Postgres test binaries: every
//! event type once, then the checks of what each left in the sandbox, and no duplicate.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use dealbridge_core::outcome::RecordKind;
use dealbridge_core::tenant::Tenant;
use dealbridge_inbox::event_job_kind;
use dealbridge_jobs::Worker;
use dealbridge_pipedrive::models::{ContactEntry, DealPatch, NewDeal, PersonInput};
use dealbridge_sandbox::{CallRecord, EntityKind, FaultSpec};
use dealbridge_storage::{InboxEntry, InboxEvent, InboxState, Lane, MirrorLookup, NewJob};
use serde_json::{json, Value};
use uuid::Uuid;

use super::Env;

/// Records an event the way the receivers do: the inbox row and its `event.<type>` job.
pub async fn record(
    env: &Env,
    tenant: &Tenant,
    source: EventSource,
    kind: EventType,
    entity: Option<&str>,
    payload: Value,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let event = NewEvent {
        source,
        kind,
        dedupe_key: id.to_string(),
        entity_key: entity.map(str::to_owned),
        occurred_at: at(),
        payload,
    };
    let entry = InboxEntry {
        id,
        tenant_id: tenant.id,
        job: NewJob::new(event_job_kind(&event), json!({ "event_id": id })).lane(Lane::Realtime),
        event,
    };
    env.store.record_event(&entry).await?;
    Ok(id)
}

/// When every test's events happened.
fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-28T20:26:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Runs a worker until each of `events` is no longer pending; returns them.
pub async fn drain(env: &Env, tenant: &Tenant, events: &[Uuid]) -> anyhow::Result<Vec<InboxEvent>> {
    let worker = Worker::builder(env.store.clone(), env.registry())
        .poll_interval(Duration::from_millis(10))
        .concurrency(1)
        .build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let finished = loop {
        let mut found = Vec::new();
        for id in events {
            let event = env.store.inbox_event(tenant.id, *id).await?;
            found.push(event.context("event gone")?);
        }
        if found.iter().all(|e| e.state != InboxState::Pending) {
            break found;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = stop.send(());
            for dead in env.store.dead_jobs(Some(tenant.id), 10).await? {
                eprintln!("dead job {}: {:?}", dead.kind, dead.last_error);
            }
            anyhow::bail!("events still pending: {found:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = stop.send(());
    running.await??;
    for event in &finished {
        anyhow::ensure!(
            event.state == InboxState::Processed,
            "{} ended {:?}: {:?}",
            event.kind,
            event.state,
            event.outcome
        );
    }
    Ok(finished)
}

pub fn records(env: &Env, kind: EntityKind) -> anyhow::Result<Vec<Value>> {
    Ok(env.sandbox.control().records(env.company, kind)?)
}

/// The sandbox's duplicates endpoint finds no second record for any key the workflows write.
async fn assert_no_duplicates(env: &Env) -> anyhow::Result<()> {
    let order_field = order_field(env).await?;
    for (kind, field) in [
        (EntityKind::Person, "email".to_owned()),
        (EntityKind::Organization, "name".to_owned()),
        (EntityKind::Deal, "title".to_owned()),
        (EntityKind::Deal, format!("custom_fields.{order_field}")),
        (EntityKind::Note, "content".to_owned()),
        (EntityKind::Activity, "subject".to_owned()),
    ] {
        let report = env
            .sandbox
            .control()
            .duplicates(env.company, kind, &field)?;
        anyhow::ensure!(
            report.extra_records == 0,
            "{kind:?} duplicated by {field}: {report:?}"
        );
    }
    Ok(())
}

async fn order_field(env: &Env) -> anyhow::Result<String> {
    let codes = env.deal_field_codes().await?;
    codes
        .into_iter()
        .find(|(name, _)| name == "Order ID")
        .map(|(_, code)| code)
        .context("no Order ID field")
}

pub async fn installed(env: &Env) -> anyhow::Result<Tenant> {
    let tenant = env.install().await?;
    anyhow::ensure!(env.work_off(&tenant).await? == 0, "provisioning died");
    Ok(tenant)
}

fn find<'a>(records: &'a [Value], field: &str, value: &Value) -> Option<&'a Value> {
    records.iter().find(|r| &r[field] == value)
}

/// Every workflow once, in the order a customer's systems would send them, then the checks of
/// what each one left in Pipedrive. `faults` are on while the workflows run (and, with
/// `faults_for`, only for that long).
/// Returns the Pipedrive calls the workflows made.
pub async fn every_workflow(
    env: &Env,
    faults: FaultSpec,
    faults_for: Option<Duration>,
) -> anyhow::Result<Vec<CallRecord>> {
    let tenant = installed(env).await?;
    let client = env.client(&tenant).await?;
    // A deal of the customer's own, for the stage change.
    let own_deal = client
        .deals()
        .create(&NewDeal {
            title: "Renewal".into(),
            fields: DealPatch::default(),
        })
        .await?;
    env.sandbox.control().clear_calls();
    env.sandbox.control().set_faults(Some(env.company), faults);
    if let Some(period) = faults_for {
        let control = env.sandbox.control().clone();
        tokio::spawn(async move {
            tokio::time::sleep(period).await;
            control.clear_faults();
        });
    }

    let api = EventSource::EventApi;
    let first = vec![
        record(env, &tenant, api, EventType::Signup, Some("user:u_42"), json!({
            "user_id": "u_42", "email": "ada@analytical.test", "name": "Ada Lovelace",
            "company": "Analytical Engines", "plan": "pro"
        })).await?,
        record(env, &tenant, EventSource::Shopify, EventType::OrderCreated, Some("order:A1001"), json!({
            "id": "A1001", "number": "#1001", "store": "norman.myshopify.com", "status": "paid",
            "currency": "EUR", "total": "59.90",
            "customer": {"email": "bob@norman.test", "first_name": "Bob", "last_name": "Norman"},
            "line_items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "29.95"}]
        })).await?,
        record(env, &tenant, api, EventType::DealStageChanged, Some("deal:own"), json!({
            "deal_id": own_deal.id, "stage_id": 3, "note": "Signed the trial agreement"
        })).await?,
    ];
    let done = drain(env, &tenant, &first).await?;
    let second = vec![
        record(env, &tenant, EventSource::Shopify, EventType::OrderUpdated, Some("order:A1001"), json!({
            "id": "A1001", "store": "norman.myshopify.com", "status": "refunded",
            "currency": "EUR", "total": "0"
        })).await?,
        record(env, &tenant, api, EventType::CustomerUpdated, Some("customer:ada"), json!({
            "email": "ada@analytical.test", "first_name": "Augusta Ada", "last_name": "King",
            "phone": "+44 20 7946 0000"
        })).await?,
        record(env, &tenant, api, EventType::TicketCreated, Some("ticket:T-9"), json!({
            "ticket_id": "T-9", "email": "ada@analytical.test", "subject": "Invoice", "priority": "high"
        })).await?,
        record(env, &tenant, api, EventType::UsageReported, None, json!({
            "account_id": "ada@analytical.test", "metric": "api_calls", "quantity": 1200
        })).await?,
    ];
    let done = [done, drain(env, &tenant, &second).await?].concat();
    // A second report the same day updates the day's note.
    let third = vec![
        record(
            env,
            &tenant,
            api,
            EventType::UsageReported,
            None,
            json!({
                "account_id": "ada@analytical.test", "metric": "seats", "quantity": 3
            }),
        )
        .await?,
    ];
    let done = [done, drain(env, &tenant, &third).await?].concat();
    env.sandbox.control().clear_faults();
    let calls = env.sandbox.control().calls(Some(env.company));

    let persons = records(env, EntityKind::Person)?;
    let orgs = records(env, EntityKind::Organization)?;
    let deals = records(env, EntityKind::Deal)?;
    let notes = records(env, EntityKind::Note)?;
    let activities = records(env, EntityKind::Activity)?;

    // signup: organization, person linked to it, deal, follow-up activity.
    let ada = persons
        .iter()
        .find(|p| p["emails"][0]["value"] == "ada@analytical.test")
        .context("Ada's person")?;
    let org = find(&orgs, "name", &json!("Analytical Engines")).context("Ada's organization")?;
    assert_eq!(ada["org_id"], org["id"]);
    let signup_deal =
        find(&deals, "title", &json!("Ada Lovelace signed up")).context("signup deal")?;
    assert_eq!(signup_deal["person_id"], ada["id"]);
    let follow_up = find(&activities, "deal_id", &signup_deal["id"]).context("follow-up")?;
    assert_eq!(follow_up["type"], "call");
    assert_eq!(follow_up["due_date"], "2026-05-29");

    // order.created and order.updated: one deal for the order, refunded and lost, its note.
    let order_field = order_field(env).await?;
    let order_deals: Vec<&Value> = deals
        .iter()
        .filter(|d| d["custom_fields"][&order_field] == "A1001")
        .collect();
    assert_eq!(order_deals.len(), 1, "{deals:#?}");
    let order_deal = order_deals[0];
    assert_eq!(order_deal["value"], json!(59.9));
    assert_eq!(order_deal["currency"], "EUR");
    assert_eq!(order_deal["status"], "lost");
    let order_notes: Vec<&Value> = notes
        .iter()
        .filter(|n| n["deal_id"] == order_deal["id"])
        .collect();
    assert_eq!(order_notes.len(), 1);
    assert!(order_notes[0]["content"]
        .as_str()
        .unwrap_or_default()
        .contains("2 × Mug (MUG)"));
    let bob = persons
        .iter()
        .find(|p| p["emails"][0]["value"] == "bob@norman.test")
        .context("the buyer")?;
    assert_eq!(order_deal["person_id"], bob["id"]);

    // deal.stage_changed: the stage moved and exactly one note explains it.
    let moved = find(&deals, "id", &json!(own_deal.id)).context("own deal")?;
    assert_eq!(moved["stage_id"], 3);
    let explained: Vec<&Value> = notes
        .iter()
        .filter(|n| n["deal_id"] == json!(own_deal.id))
        .collect();
    assert_eq!(explained.len(), 1);
    assert!(explained[0]["content"]
        .as_str()
        .unwrap_or_default()
        .contains("Signed the trial agreement"));

    // customer.updated: the name, and the phone added.
    assert_eq!(ada["name"], "Augusta Ada King");
    assert_eq!(ada["phones"][0]["value"], "+44 20 7946 0000");

    // ticket.created: a task on Ada.
    let ticket =
        find(&activities, "subject", &json!("Ticket T-9: Invoice")).context("ticket activity")?;
    assert_eq!(ticket["person_id"], ada["id"]);

    // usage.reported: one note for the day, with both reports.
    let usage: Vec<&Value> = notes
        .iter()
        .filter(|n| {
            n["person_id"] == ada["id"]
                && n["content"].as_str().unwrap_or_default().contains("Usage")
        })
        .collect();
    assert_eq!(usage.len(), 1, "{notes:#?}");
    let content = usage[0]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("api_calls: 1200") && content.contains("seats: 3"),
        "{content}"
    );

    // Each event says what it became.
    let signup = &done[0];
    let kinds: Vec<RecordKind> = signup
        .outcome
        .as_ref()
        .map(|o| o.records.iter().map(|r| r.kind).collect())
        .unwrap_or_default();
    assert_eq!(
        kinds,
        vec![
            RecordKind::Organization,
            RecordKind::Person,
            RecordKind::Deal,
            RecordKind::Activity
        ]
    );
    assert_no_duplicates(env).await?;
    Ok(calls)
}

/// Calls that look a record up by its key: only made when a step was interrupted after its
/// write may have happened (a first run spends nothing on them; with the mirror known complete
/// after the install, not even on the searches for first-seen persons and organizations).
pub fn lookups(calls: &[CallRecord]) -> usize {
    calls
        .iter()
        .filter(|c| c.method == "GET" && c.status < 300)
        .filter(|c| {
            c.path.ends_with("/notes")
                || c.path.ends_with("/activities")
                || c.path.ends_with("/deals")
                || c.path.ends_with("/search")
        })
        .count()
}

/// A person someone entered in Pipedrive by hand (in `org_id` if given), once its webhook has
/// reached the mirror; returns its id.
pub async fn person_by_hand(
    env: &Env,
    tenant: &Tenant,
    email: &str,
    org_id: Option<u64>,
) -> anyhow::Result<u64> {
    let person = env
        .client(tenant)
        .await?
        .persons()
        .create(&PersonInput {
            name: Some("Made By Hand".into()),
            org_id,
            emails: Some(vec![ContactEntry {
                value: email.into(),
                primary: true,
                label: None,
            }]),
            ..PersonInput::default()
        })
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        env.work_off(tenant).await?;
        let found = env
            .store
            .find_mirror(tenant.id, MirrorLookup::PersonEmail(email))
            .await?;
        if !found.is_empty() {
            return Ok(person.id);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the person's webhook never reached the mirror"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A sign-up of `email` (Grace Hopper at Navy Labs) run to its end; returns the calls it made.
pub async fn signup(env: &Env, tenant: &Tenant, email: &str) -> anyhow::Result<Vec<CallRecord>> {
    env.sandbox.control().clear_calls();
    let payload =
        json!({ "user_id": email, "email": email, "name": "Grace Hopper", "company": "Navy Labs" });
    let id = record(
        env,
        tenant,
        EventSource::EventApi,
        EventType::Signup,
        None,
        payload,
    )
    .await?;
    drain(env, tenant, &[id]).await?;
    Ok(env.sandbox.control().calls(Some(env.company)))
}
