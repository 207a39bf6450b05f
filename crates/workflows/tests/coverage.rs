//! Find-or-create skips Pipedrive's search on a mirror miss only while the mirror is known
//! complete: after an install, the first webhook check and the sweep it queues make it so; with
//! the webhooks not found active the search is made again; and a record added by hand in
//! Pipedrive after the sweep reaches the mirror by webhook, so it is found, not duplicated.

mod support;

use chrono::Utc;
use dealbridge_core::event::PipedriveEntity;
use dealbridge_sandbox::{CallRecord, EntityKind};
use dealbridge_storage::WebhookState;
use serde_json::json;
use support::scenario::{installed, person_by_hand, records, signup};
use support::Env;

/// Exact searches (`GET .../search`) among `calls`.
fn searches(calls: &[CallRecord]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.method == "GET" && c.path.ends_with("/search"))
        .map(|c| c.path.clone())
        .collect()
}

#[tokio::test]
async fn after_the_install_a_miss_is_created_without_a_search() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let coverage = env
        .store
        .mirror_coverage(tenant.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no coverage"))?;
    assert_eq!(coverage.state, WebhookState::Active, "{coverage:?}");
    for entity in PipedriveEntity::ALL {
        assert!(
            coverage.listed.contains_key(entity.as_str()),
            "the install's sweep did not list {entity:?}: {coverage:?}"
        );
    }

    let calls = signup(&env, &tenant, "grace@navy.test").await?;
    assert_eq!(searches(&calls), Vec::<String>::new(), "{calls:#?}");
    assert_eq!(records(&env, EntityKind::Person)?.len(), 1);
    assert_eq!(records(&env, EntityKind::Organization)?.len(), 1);
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn with_the_webhooks_not_found_active_a_miss_is_still_searched() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    // The last check found a webhook banned: deliveries may be missing from the mirror.
    env.store
        .set_webhook_state(tenant.id, WebhookState::Banned, Utc::now())
        .await?;

    let calls = signup(&env, &tenant, "grace@navy.test").await?;
    let made = searches(&calls);
    assert!(
        made.iter().any(|p| p.ends_with("/persons/search")),
        "{made:?}"
    );
    assert!(
        made.iter().any(|p| p.ends_with("/organizations/search")),
        "{made:?}"
    );
    assert_eq!(records(&env, EntityKind::Person)?.len(), 1);
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_person_added_by_hand_after_the_sweep_is_found_not_duplicated() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = installed(&env).await?;
    let email = "hand@made.test";
    let by_hand = person_by_hand(&env, &tenant, email, None).await?;

    let calls = signup(&env, &tenant, email).await?;
    assert_eq!(searches(&calls), Vec::<String>::new(), "{calls:#?}");
    let persons = records(&env, EntityKind::Person)?;
    assert_eq!(persons.len(), 1, "duplicated: {persons:#?}");
    assert_eq!(persons[0]["id"], json!(by_hand));
    env.stop().await;
    Ok(())
}
