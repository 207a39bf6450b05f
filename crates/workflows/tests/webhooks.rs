//! Pipedrive's webhooks end to end against the sandbox: registration by the post-install job,
//! deliveries through the receiver into the inbox and on into the mirror, the periodic health
//! check, and the reconcile sweep that fills the gaps (and waits when the budget says so).

mod support;

use std::time::Duration;

use anyhow::Context;
use dealbridge_core::event::{ChangeAction, EventSource, EventType, NewEvent, PipedriveEntity};
use dealbridge_core::tenant::Tenant;
use dealbridge_inbox::EVENT_JOB_KIND;
use dealbridge_jobs::Worker;
use dealbridge_pipedrive::costs::Operation;
use dealbridge_pipedrive::ledger::BudgetLedger;
use dealbridge_pipedrive::models::{ContactEntry, DealPatch, NewDeal, PersonInput};
use dealbridge_storage::{
    InboxEntry, InboxEvent, InboxState, JobState, Lane, MirrorLookup, NewJob, WebhookState,
};
use dealbridge_workflows::{
    tenant_job, RECONCILE_KIND, WEBHOOK_CHECK_ALL_KIND, WEBHOOK_CHECK_KIND,
};
use support::Env;

/// Nothing listens on the discard port: every delivery there fails at once.
const UNREACHABLE: &str = "http://127.0.0.1:9/";

async fn events(env: &Env, tenant: &Tenant) -> anyhow::Result<Vec<InboxEvent>> {
    Ok(env
        .store
        .recent_events(tenant.id, EventSource::Pipedrive, 500)
        .await?)
}

/// Waits until the inbox holds at least `n` of the tenant's Pipedrive events.
async fn wait_for_events(env: &Env, tenant: &Tenant, n: usize) -> anyhow::Result<Vec<InboxEvent>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = events(env, tenant).await?;
        if found.len() >= n {
            return Ok(found);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} events arrived",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs one job of `kind` for the tenant (and the jobs it queues); returns the dead count. The
/// job must have completed: one still waiting fails the test with its error.
async fn run_job(env: &Env, tenant: &Tenant, kind: &str, lane: Lane) -> anyhow::Result<u64> {
    let id = env
        .store
        .enqueue(&tenant_job(kind, lane, 5, tenant.id))
        .await?
        .id();
    let dead = env.work_off(tenant).await?;
    if let Some(left) = env.store.job(Some(tenant.id), id).await? {
        anyhow::ensure!(
            left.state == JobState::Dead,
            "{kind} did not complete: {:?} {:?}",
            left.state,
            left.last_error
        );
    }
    Ok(dead)
}

async fn installed(env: &Env) -> anyhow::Result<Tenant> {
    let tenant = env.install().await?;
    assert_eq!(env.work_off(&tenant).await?, 0, "provisioning died");
    Ok(tenant)
}

async fn create_person(env: &Env, tenant: &Tenant, name: &str, email: &str) -> anyhow::Result<u64> {
    let person = env
        .client(tenant)
        .await?
        .persons()
        .create(&PersonInput {
            name: Some(name.into()),
            emails: Some(vec![ContactEntry {
                value: email.into(),
                primary: true,
                label: None,
            }]),
            ..PersonInput::default()
        })
        .await?;
    Ok(person.id)
}

async fn create_deal(env: &Env, tenant: &Tenant, title: &str) -> anyhow::Result<u64> {
    let deal = env
        .client(tenant)
        .await?
        .deals()
        .create(&NewDeal {
            title: title.into(),
            ..NewDeal::default()
        })
        .await?;
    Ok(deal.id)
}

#[tokio::test]
async fn an_install_registers_its_webhooks_once_and_changes_reach_the_mirror() -> anyhow::Result<()>
{
    let env = Env::start().await?;
    let tenant = installed(&env).await?;

    let registration = env
        .store
        .webhook_registration(tenant.id)
        .await?
        .context("no registration")?;
    let url = format!(
        "{}hooks/pipedrive/{}",
        env.public_url, registration.path_token
    );
    let listed = env.client(&tenant).await?.webhooks().list().await?;
    assert_eq!(
        listed.len(),
        9,
        "deal, person, organization × create, change, delete"
    );
    for webhook in &listed {
        assert_eq!(webhook.subscription_url.as_deref(), Some(url.as_str()));
        assert_eq!(webhook.version.as_deref(), Some("2.0"));
        assert_eq!(
            webhook.extra.get("http_auth_user"),
            Some(&serde_json::json!(registration.username))
        );
        let key = format!(
            "{}.{}",
            webhook.event_object.as_deref().unwrap_or_default(),
            webhook.event_action.as_deref().unwrap_or_default()
        );
        assert_eq!(
            registration.webhook_ids.get(&key),
            Some(&i64::try_from(webhook.id)?),
            "{key}"
        );
    }
    assert_eq!(registration.webhook_ids.len(), 9);

    // A reinstall runs the provision job again: nothing is registered twice.
    env.install().await?;
    assert_eq!(env.work_off(&tenant).await?, 0);
    assert_eq!(env.posts_to("/webhooks"), 9, "webhooks registered twice");

    // Changes in Pipedrive are delivered, recorded, and applied to the mirror.
    let person = create_person(&env, &tenant, "Ada Lovelace", "Ada@Example.test").await?;
    let client = env.client(&tenant).await?;
    let org = client
        .raw(
            Operation::new("POST", "/api/v2/organizations"),
            None,
            Vec::new(),
            Some(serde_json::json!({ "name": "Acme GmbH", "website": "https://www.acme.test" })),
        )
        .await?;
    let org = org["id"].as_i64().context("organization id")?;
    let deal = create_deal(&env, &tenant, "Order 1001").await?;
    // A second later, so the change is ordered after the create in the mirror.
    env.sandbox.control().advance(Duration::from_secs(1));
    client
        .deals()
        .update(
            deal,
            &DealPatch {
                title: Some("Order 1001 (paid)".into()),
                ..DealPatch::default()
            },
        )
        .await?;
    wait_for_events(&env, &tenant, 4).await?;
    assert_eq!(env.work_off(&tenant).await?, 0, "an event job died");

    let found = |lookup| env.store.find_mirror(tenant.id, lookup);
    let by_email = found(MirrorLookup::PersonEmail("ada@example.test")).await?;
    assert_eq!(
        by_email.iter().map(|r| r.record_id).collect::<Vec<_>>(),
        vec![i64::try_from(person)?]
    );
    let by_domain = found(MirrorLookup::OrganizationDomain("acme.test")).await?;
    assert_eq!(
        by_domain.iter().map(|r| r.record_id).collect::<Vec<_>>(),
        vec![org]
    );
    let by_name = found(MirrorLookup::Name(
        PipedriveEntity::Organization,
        "acme gmbh",
    ))
    .await?;
    assert_eq!(by_name.len(), 1, "organization by name");
    let deal_id = i64::try_from(deal)?;
    let held = found(MirrorLookup::Id(PipedriveEntity::Deal, deal_id)).await?;
    assert_eq!(
        held.first().and_then(|r| r.name.as_deref()),
        Some("Order 1001 (paid)")
    );
    // Event jobs may run in any order: a create applied after its change is stale, not newer.
    let recorded = events(&env, &tenant).await?;
    let state_of = |kind: &str| recorded.iter().find(|e| e.kind == kind).map(|e| e.state);
    assert_eq!(
        state_of("pipedrive.deal.change"),
        Some(InboxState::Processed)
    );
    assert_eq!(
        state_of("pipedrive.person.create"),
        Some(InboxState::Processed)
    );
    assert!(
        recorded
            .iter()
            .all(|e| matches!(e.state, InboxState::Processed | InboxState::Stale)),
        "{:?}",
        recorded
            .iter()
            .map(|e| (&e.kind, e.state))
            .collect::<Vec<_>>()
    );

    // A reconcile right after sees the same versions: recorded, but stale, changing nothing.
    assert_eq!(run_job(&env, &tenant, RECONCILE_KIND, Lane::Bulk).await?, 0);
    let after = events(&env, &tenant).await?;
    let copies: Vec<_> = after
        .iter()
        .filter(|e| e.dedupe_key.starts_with("reconcile:"))
        .collect();
    assert_eq!(copies.len(), 3, "one copy per record version: {after:?}");
    assert!(
        copies.iter().all(|e| e.state == InboxState::Stale),
        "{copies:?}"
    );

    // A delete removes the record from the mirror.
    client.deals().delete(deal).await?;
    wait_for_events(&env, &tenant, after.len() + 1).await?;
    assert_eq!(env.work_off(&tenant).await?, 0);
    assert!(found(MirrorLookup::Id(PipedriveEntity::Deal, deal_id))
        .await?
        .is_empty());
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn reconcile_feeds_what_the_webhooks_missed_once() -> anyhow::Result<()> {
    let env = Env::start_with(Some(UNREACHABLE.parse()?)).await?;
    let tenant = installed(&env).await?;
    let deal = create_deal(&env, &tenant, "Order 2001").await?;
    let person = create_person(&env, &tenant, "Grace Hopper", "grace@example.test").await?;
    assert!(
        events(&env, &tenant).await?.is_empty(),
        "a delivery got through"
    );

    assert_eq!(run_job(&env, &tenant, RECONCILE_KIND, Lane::Bulk).await?, 0);
    let first = events(&env, &tenant).await?;
    assert_eq!(first.len(), 2, "{first:?}");
    // The sweep writes what it lists into the mirror itself, so each event it feeds finds its
    // version either not yet held (processed) or already held by the sweep (stale): both final,
    // and the mirror holds the record either way (checked next).
    let done = |e: &InboxEvent| matches!(e.state, InboxState::Processed | InboxState::Stale);
    assert!(first.iter().all(done), "{first:#?}");
    let by_email = env
        .store
        .find_mirror(tenant.id, MirrorLookup::PersonEmail("grace@example.test"))
        .await?;
    assert_eq!(
        by_email.first().map(|r| r.record_id),
        Some(i64::try_from(person)?)
    );
    let marks = env.store.reconcile_watermarks(tenant.id).await?;
    assert!(
        marks.contains_key("deal") && marks.contains_key("person"),
        "{marks:?}"
    );

    // Nothing changed: a second sweep records nothing new.
    assert_eq!(run_job(&env, &tenant, RECONCILE_KIND, Lane::Bulk).await?, 0);
    assert_eq!(
        events(&env, &tenant).await?.len(),
        2,
        "a version was fed twice"
    );

    // A change made a second later is fed, and the mirror follows it.
    env.sandbox.control().advance(Duration::from_secs(1));
    env.client(&tenant)
        .await?
        .deals()
        .update(
            deal,
            &DealPatch {
                title: Some("Order 2001 (shipped)".into()),
                ..DealPatch::default()
            },
        )
        .await?;
    assert_eq!(run_job(&env, &tenant, RECONCILE_KIND, Lane::Bulk).await?, 0);
    assert_eq!(events(&env, &tenant).await?.len(), 3);
    let held = env
        .store
        .find_mirror(
            tenant.id,
            MirrorLookup::Id(PipedriveEntity::Deal, i64::try_from(deal)?),
        )
        .await?;
    assert_eq!(
        held.first().and_then(|r| r.name.as_deref()),
        Some("Order 2001 (shipped)")
    );
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn reconcile_stops_and_waits_when_the_budget_says_wait() -> anyhow::Result<()> {
    let env = Env::start_with(Some(UNREACHABLE.parse()?)).await?;
    let tenant = installed(&env).await?;
    create_deal(&env, &tenant, "Order 3001").await?;
    create_person(&env, &tenant, "Alan Turing", "alan@example.test").await?;

    // Leave the bulk lane room for one list call (10 tokens) above what is spent already.
    let company = dealbridge_pipedrive::CompanyId(env.company);
    let spent = env.ledger.status(company).await?.spent;
    let mut limit = spent;
    loop {
        env.ledger.set_daily_limit(company, Some(limit)).await?;
        let status = env.ledger.status(company).await?;
        if limit - status.priority_reserve >= spent + 15 {
            break;
        }
        limit += 1;
    }
    env.store
        .enqueue(&tenant_job(RECONCILE_KIND, Lane::Bulk, 5, tenant.id))
        .await?;
    assert_eq!(env.work_off(&tenant).await?, 0, "died");

    let counts = env.store.job_counts(Some(tenant.id)).await?;
    assert_eq!(
        (counts.queued, counts.dead),
        (1, 0),
        "the sweep waits: {counts:?}"
    );
    let marks = env.store.reconcile_watermarks(tenant.id).await?;
    assert!(
        marks.contains_key("deal"),
        "the first page counted: {marks:?}"
    );
    assert!(
        !marks.contains_key("person"),
        "went past the budget: {marks:?}"
    );
    let fed = events(&env, &tenant).await?;
    assert_eq!(fed.len(), 1, "{fed:?}");
    assert_eq!(
        fed[0].entity_key.as_deref().map(|k| k.starts_with("deal:")),
        Some(true)
    );
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_missing_webhook_is_registered_again_and_the_tenant_told() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let registration = env
        .store
        .webhook_registration(tenant.id)
        .await?
        .context("registration")?;
    let gone = registration.webhook_ids["person.change"];
    env.client(&tenant)
        .await?
        .webhooks()
        .delete(u64::try_from(gone)?)
        .await?;

    // The periodic sweep fans out one check per tenant.
    env.store
        .enqueue(&NewJob::new(WEBHOOK_CHECK_ALL_KIND, serde_json::json!({})))
        .await?;
    let report = Worker::builder(env.store.clone(), env.registry())
        .build()
        .run_until_idle()
        .await?;
    assert_eq!((report.completed, report.dead), (2, 0), "{report:?}");

    let after = env
        .store
        .webhook_registration(tenant.id)
        .await?
        .context("registration")?;
    assert_eq!(after.state, WebhookState::Missing);
    assert!(after.checked_at.is_some());
    assert_ne!(after.webhook_ids["person.change"], gone, "registered again");
    assert_eq!(env.client(&tenant).await?.webhooks().list().await?.len(), 9);
    let alerts = |log: Vec<dealbridge_core::audit::AuditEntry>| {
        log.iter()
            .filter(|e| e.action.starts_with("webhooks."))
            .count()
    };
    assert_eq!(alerts(env.store.audit_log(Some(tenant.id), 50).await?), 1);

    // The next check finds everything in place: healthy again, and no second alert.
    assert_eq!(
        run_job(&env, &tenant, WEBHOOK_CHECK_KIND, Lane::Default).await?,
        0
    );
    let healthy = env.store.webhook_registration(tenant.id).await?;
    assert_eq!(healthy.map(|r| r.state), Some(WebhookState::Active));
    assert_eq!(alerts(env.store.audit_log(Some(tenant.id), 50).await?), 1);
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_banned_webhook_is_noticed_and_the_tenant_told() -> anyhow::Result<()> {
    let env = Env::start_with(Some(UNREACHABLE.parse()?)).await?;
    let tenant = installed(&env).await?;
    // Ten failed first attempts ban a webhook.
    for n in 0..10 {
        create_deal(&env, &tenant, &format!("Order {n}")).await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, stats) = env.sandbox.control().webhooks(env.company)?;
        if stats.iter().any(|w| w.banned_until_ms.is_some()) {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no ban: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(
        run_job(&env, &tenant, WEBHOOK_CHECK_KIND, Lane::Default).await?,
        0
    );
    let registration = env.store.webhook_registration(tenant.id).await?;
    assert_eq!(registration.map(|r| r.state), Some(WebhookState::Banned));
    let log = env.store.audit_log(Some(tenant.id), 50).await?;
    let alert = log
        .iter()
        .find(|e| e.action == "webhooks.banned")
        .context("no alert")?;
    assert_eq!(alert.detail["failing"], serde_json::json!(["deal.create"]));
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_unreadable_event_is_marked_failed_with_a_safe_reason() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let id = uuid::Uuid::now_v7();
    env.store
        .record_event(&InboxEntry {
            id,
            tenant_id: tenant.id,
            event: NewEvent {
                source: EventSource::Pipedrive,
                kind: EventType::pipedrive(PipedriveEntity::Person, ChangeAction::Change),
                dedupe_key: "no-data".into(),
                entity_key: Some("person:77".into()),
                occurred_at: chrono::Utc::now(),
                // A change without the record: nothing to apply. The secret must not leak.
                payload: serde_json::json!({
                    "meta": { "entity_id": "77", "secret": "s3cr3t-value" },
                    "data": null,
                }),
            },
            job: NewJob::new(EVENT_JOB_KIND, serde_json::json!({ "event_id": id })),
        })
        .await?;
    assert_eq!(
        env.work_off(&tenant).await?,
        1,
        "the job dies: retrying cannot help"
    );
    let event = env
        .store
        .inbox_event(tenant.id, id)
        .await?
        .context("event")?;
    assert_eq!(event.state, InboxState::Failed);
    let dead = env.store.dead_jobs(Some(tenant.id), 10).await?;
    let reason = dead
        .first()
        .and_then(|j| j.last_error.clone())
        .context("no reason")?;
    assert_eq!(reason, "the event carries no record data");
    let person = MirrorLookup::Id(PipedriveEntity::Person, 77);
    assert!(env.store.find_mirror(tenant.id, person).await?.is_empty());
    env.stop().await;
    Ok(())
}
