//! The workflows end to end against the sandbox: every event type becomes its Pipedrive records,
//! also while Pipedrive fails (5xx), times out, answers 429 for a while, or applies a write and
//! drops the connection. Afterwards the sandbox holds no duplicate and no half-done change.

mod support;

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use dealbridge_core::event::{EventSource, EventType};
use dealbridge_core::workflow_settings::{SourceSwitches, WorkflowSettings};
use dealbridge_pipedrive::ledger::LedgerConfig;
use dealbridge_pipedrive::models::{DealPatch, NewDeal};
use dealbridge_sandbox::{EntityKind, FaultSpec, Latency};
use dealbridge_workflows::{Pruned, RetentionPolicy, SKIPPED_SOURCE_OFF};
use serde_json::{json, Value};
use support::scenario::{drain, every_workflow, installed, lookups, record, records};
use support::{Env, Options};

fn spec() -> FaultSpec {
    FaultSpec::default()
}

#[tokio::test]
async fn every_workflow_writes_its_records() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let calls = every_workflow(&env, spec(), None).await?;
    assert_eq!(
        lookups(&calls),
        0,
        "a first run looked records up: {calls:#?}"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn every_workflow_survives_server_errors() -> anyhow::Result<()> {
    let env = Env::start_opts(Options {
        fast_client_retries: true,
        ..Options::default()
    })
    .await?;
    let faults = FaultSpec {
        error_rate: 0.3,
        ..spec()
    };
    let calls = every_workflow(&env, faults, None).await?;
    assert!(
        calls.iter().any(|c| c.status >= 500),
        "no server error was answered"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn every_workflow_survives_writes_whose_answer_is_lost() -> anyhow::Result<()> {
    let env = Env::start_opts(Options {
        fast_client_retries: true,
        ..Options::default()
    })
    .await?;
    let faults = FaultSpec {
        drop_after_write_rate: 0.4,
        ..spec()
    };
    let calls = every_workflow(&env, faults, None).await?;
    assert!(
        lookups(&calls) > 0,
        "no interrupted write was looked up: {calls:#?}"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn every_workflow_survives_timeouts() -> anyhow::Result<()> {
    let env = Env::start_opts(Options {
        fast_client_retries: true,
        request_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    })
    .await?;
    let latency = Latency {
        fixed_ms: 0,
        jitter_ms: 0,
        slow_rate: 0.4,
        slow_ms: 600,
    };
    let faults = FaultSpec { latency, ..spec() };
    let calls = every_workflow(&env, faults, None).await?;
    assert!(
        lookups(&calls) > 0,
        "no timed-out write was looked up: {calls:#?}"
    );
    env.stop().await;
    Ok(())
}

/// A 429 while the burst window has room reads as the spent daily budget, so the jobs wait for
/// the budget's reset; the ledger's day here ends a few seconds from now, so they resume soon.
#[tokio::test]
async fn every_workflow_survives_a_while_of_429s() -> anyhow::Result<()> {
    let ledger = LedgerConfig {
        reset_offset: midnight_in(Duration::from_secs(6)),
        ..LedgerConfig::default()
    };
    let env = Env::start_opts(Options {
        fast_client_retries: true,
        ledger,
        ..Options::default()
    })
    .await?;
    let faults = FaultSpec {
        force_429: true,
        ..spec()
    };
    let calls = every_workflow(&env, faults, Some(Duration::from_millis(500))).await?;
    let limited = calls.iter().filter(|c| c.status == 429).count();
    assert!(limited > 0, "no 429 was answered");
    env.stop().await;
    Ok(())
}

/// The fixed offset whose next midnight is `after` from now (at least a second).
fn midnight_in(after: Duration) -> chrono::FixedOffset {
    use chrono::Timelike;
    let now = Utc::now() + chrono::Duration::from_std(after).unwrap_or_default();
    let since_midnight = i32::try_from(now.num_seconds_from_midnight()).unwrap_or(0);
    // Local time = UTC + offset: an offset of minus the seconds since UTC midnight puts local
    // midnight at `now`.
    chrono::FixedOffset::east_opt(-since_midnight).expect("an offset within a day")
}

#[tokio::test]
async fn a_source_switched_off_is_skipped_without_a_call() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let settings = WorkflowSettings {
        sources: SourceSwitches {
            shopify: false,
            ..SourceSwitches::default()
        },
        ..WorkflowSettings::default()
    };
    env.store
        .save_settings(tenant.id, None, &settings.to_body(), Some("test"))
        .await?;
    env.sandbox.control().clear_calls();
    let id = record(
        &env,
        &tenant,
        EventSource::Shopify,
        EventType::OrderCreated,
        Some("order:9"),
        json!({
            "id": "9", "status": "paid", "currency": "EUR", "total": "1.00"
        }),
    )
    .await?;
    let done = drain(&env, &tenant, &[id]).await?;
    let outcome = done[0].outcome.clone().context("no outcome")?;
    assert_eq!(outcome.reason.as_deref(), Some(SKIPPED_SOURCE_OFF));
    assert!(outcome.records.is_empty());
    assert_eq!(env.sandbox.control().calls(Some(env.company)).len(), 0);
    env.stop().await;
    Ok(())
}

/// A stage change whose PATCH was journalled before a crash resumes at the note; a retry whose
/// note was written but not journalled finds that note instead of writing a second one.
#[tokio::test]
async fn a_stage_change_resumes_at_its_note_and_never_writes_two() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let client = env.client(&tenant).await?;
    let deal = client
        .deals()
        .create(&NewDeal {
            title: "Renewal".into(),
            fields: DealPatch::default(),
        })
        .await?;
    let payload = json!({ "deal_id": deal.id, "stage_id": 4, "note": "Moved on" });

    // Crashed after the PATCH: the stage step is journalled as done (and was applied).
    let crashed = record(
        &env,
        &tenant,
        EventSource::EventApi,
        EventType::DealStageChanged,
        None,
        payload.clone(),
    )
    .await?;
    client
        .deals()
        .update(
            deal.id,
            &DealPatch {
                stage_id: Some(4),
                ..DealPatch::default()
            },
        )
        .await?;
    let key = crashed.to_string();
    env.store
        .journal_intent(tenant.id, &key, "stage", &key)
        .await?;
    env.store
        .journal_result(tenant.id, &key, "stage", &json!({ "id": deal.id }))
        .await?;
    env.sandbox.control().clear_calls();
    drain(&env, &tenant, &[crashed]).await?;
    let calls = env.sandbox.control().calls(Some(env.company));
    assert!(
        calls.iter().all(|c| c.method != "PATCH"),
        "the stage was patched again"
    );
    assert_eq!(
        calls.iter().filter(|c| c.method == "POST").count(),
        1,
        "{calls:?}"
    );

    // Crashed after the note's POST, before its result was journalled: the note is found.
    let lost = record(
        &env,
        &tenant,
        EventSource::EventApi,
        EventType::DealStageChanged,
        None,
        payload,
    )
    .await?;
    let key = lost.to_string();
    env.store
        .journal_intent(tenant.id, &key, "stage", &key)
        .await?;
    env.store
        .journal_result(tenant.id, &key, "stage", &json!({ "id": deal.id }))
        .await?;
    env.store
        .journal_intent(tenant.id, &key, "note", &key)
        .await?;
    let note = dealbridge_pipedrive::models::NoteInput {
        content: Some(format!("Moved on<br><br>Dealbridge ref: {key}")),
        deal_id: Some(deal.id),
        ..Default::default()
    };
    let written = client.notes().create(&note).await?;
    drain(&env, &tenant, &[lost]).await?;
    let notes: Vec<Value> = records(&env, EntityKind::Note)?
        .into_iter()
        .filter(|n| n["deal_id"] == json!(deal.id))
        .collect();
    assert_eq!(notes.len(), 2, "one note per event: {notes:#?}");
    let journalled = env.store.journal_steps(tenant.id, &key).await?;
    let note_step = journalled
        .iter()
        .find(|s| s.step == "note")
        .context("note step")?;
    assert_eq!(note_step.result, Some(json!({ "id": written.id })));
    env.stop().await;
    Ok(())
}

/// Once past the keep period, a processed event goes with the journal of its own steps, and a
/// day's usage-note journal goes by its prefix; the journal of the person the event found stays,
/// so a later sign-up of the same person still finds it and creates nothing twice.
#[tokio::test]
async fn finished_events_and_their_journals_are_pruned_after_the_keep_period() -> anyhow::Result<()>
{
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let api = EventSource::EventApi;
    let signup = |user: &str| {
        json!({
            "user_id": user, "email": "grace@hopper.test", "name": "Grace Hopper",
            "company": "Hopper Compilers", "plan": "pro"
        })
    };
    let first = record(
        &env,
        &tenant,
        api,
        EventType::Signup,
        Some("user:g1"),
        signup("g1"),
    )
    .await?;
    let usage = json!({ "account_id": "grace@hopper.test", "metric": "seats", "quantity": 2 });
    let report = record(&env, &tenant, api, EventType::UsageReported, None, usage).await?;
    drain(&env, &tenant, &[first]).await?;
    drain(&env, &tenant, &[report]).await?;
    let own_steps = env
        .store
        .journal_steps(tenant.id, &first.to_string())
        .await?;
    assert!(
        !own_steps.is_empty(),
        "the sign-up journalled no step of its own"
    );

    let kept = RetentionPolicy::default();
    assert_eq!(
        kept.prune_events(env.store.as_ref()).await.ok(),
        Some(Pruned::default())
    );
    assert!(env.store.inbox_event(tenant.id, first).await?.is_some());

    let due = RetentionPolicy {
        keep_events: chrono::Duration::zero(),
        events_batch: 1,
        ..kept
    };
    // Every finished event goes (the install's own Pipedrive events too), and the day's journal.
    let pruned = due
        .prune_events(env.store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert!(pruned.events >= 2, "{pruned:?}");
    assert_eq!(pruned.day_journals, 1, "{pruned:?}");
    for event in [first, report] {
        assert!(env.store.inbox_event(tenant.id, event).await?.is_none());
        let steps = env
            .store
            .journal_steps(tenant.id, &event.to_string())
            .await?;
        assert!(steps.is_empty(), "an event's own journal stayed: {steps:?}");
    }

    let again = record(
        &env,
        &tenant,
        api,
        EventType::Signup,
        Some("user:g2"),
        signup("g2"),
    )
    .await?;
    drain(&env, &tenant, &[again]).await?;
    let graces = records(&env, EntityKind::Person)?
        .into_iter()
        .filter(|p| p["emails"][0]["value"] == "grace@hopper.test")
        .count();
    assert_eq!(graces, 1, "the person was created twice");
    env.stop().await;
    Ok(())
}
