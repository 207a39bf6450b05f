//! A signup or an order whose person Pipedrive already holds links that person to the event's
//! organization when they belong to none, and leaves one they already belong to alone; found in
//! the mirror or by an exact search, without an extra read.

mod support;

use dealbridge_core::event::PipedriveEntity;
use dealbridge_pipedrive::models::OrganizationInput;
use dealbridge_sandbox::{CallRecord, EntityKind};
use dealbridge_storage::WebhookState;
use serde_json::{json, Value};
use support::scenario::{installed, person_by_hand, records, signup};
use support::Env;

fn calls_like<'a>(calls: &'a [CallRecord], method: &str, part: &str) -> Vec<&'a CallRecord> {
    let like = |c: &&CallRecord| c.method == method && c.path.contains(part);
    calls.iter().filter(like).collect()
}

fn organization_named(env: &Env, name: &str) -> anyhow::Result<Value> {
    let orgs = records(env, EntityKind::Organization)?;
    let found = orgs.into_iter().find(|o| o["name"] == json!(name));
    found.ok_or_else(|| anyhow::anyhow!("no organization {name}"))
}

fn only_person(env: &Env) -> anyhow::Result<Value> {
    let persons = records(env, EntityKind::Person)?;
    anyhow::ensure!(persons.len() == 1, "persons: {persons:#?}");
    Ok(persons.into_iter().next().unwrap_or_default())
}

#[tokio::test]
async fn a_mirrored_person_in_no_organization_is_linked_to_the_signups() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let id = person_by_hand(&env, &tenant, "grace@navy.test", None).await?;

    let calls = signup(&env, &tenant, "grace@navy.test").await?;
    let org = organization_named(&env, "Navy Labs")?;
    let person = only_person(&env)?;
    assert_eq!(person["id"], json!(id));
    assert_eq!(person["org_id"], org["id"], "{person:#}");
    // Known from the mirror: one update, no read of the person first.
    assert_eq!(
        calls_like(&calls, "PATCH", "/persons/").len(),
        1,
        "{calls:#?}"
    );
    assert!(
        calls_like(&calls, "GET", "/persons/").is_empty(),
        "{calls:#?}"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_person_already_in_an_organization_keeps_it() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let client = env.client(&tenant).await?;
    let theirs = OrganizationInput {
        name: Some("Their Own Co".into()),
        ..OrganizationInput::default()
    };
    let theirs = client.organizations().create(&theirs).await?;
    person_by_hand(&env, &tenant, "grace@navy.test", Some(theirs.id)).await?;

    let calls = signup(&env, &tenant, "grace@navy.test").await?;
    assert_eq!(only_person(&env)?["org_id"], json!(theirs.id));
    assert!(
        calls_like(&calls, "PATCH", "/persons/").is_empty(),
        "{calls:#?}"
    );
    // The deal still goes to the organization the signup names.
    let org = organization_named(&env, "Navy Labs")?;
    let deals = records(&env, EntityKind::Deal)?;
    assert!(deals.iter().any(|d| d["org_id"] == org["id"]), "{deals:#?}");
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_person_found_by_search_is_linked_from_what_the_search_said() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let id = person_by_hand(&env, &tenant, "grace@navy.test", None).await?;
    // Gone from the mirror, and the mirror no longer known complete: the flow searches.
    let (entity, at) = (PipedriveEntity::Person, chrono::Utc::now());
    env.store
        .delete_mirror(tenant.id, entity, i64::try_from(id)?, at)
        .await?;
    env.store
        .set_webhook_state(tenant.id, WebhookState::Banned, chrono::Utc::now())
        .await?;

    let calls = signup(&env, &tenant, "grace@navy.test").await?;
    let org = organization_named(&env, "Navy Labs")?;
    let person = only_person(&env)?;
    assert_eq!((&person["id"], &person["org_id"]), (&json!(id), &org["id"]));
    assert_eq!(
        calls_like(&calls, "GET", "/persons/search").len(),
        1,
        "{calls:#?}"
    );
    assert_eq!(
        calls_like(&calls, "PATCH", "/persons/").len(),
        1,
        "{calls:#?}"
    );
    env.stop().await;
    Ok(())
}
