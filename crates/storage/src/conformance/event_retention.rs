use std::sync::Arc;

use chrono::{Duration, Utc};
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use dealbridge_core::outcome::EventOutcome;
use dealbridge_core::TenantId;
use uuid::Uuid;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{InboxEntry, InboxState, NewJob, Store};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "retention::finished_events_go_with_their_own_journal",
        finished_events_go_with_their_own_journal,
    ),
    (
        "retention::events_received_after_the_cutoff_stay",
        events_received_after_the_cutoff_stay,
    ),
    (
        "retention::day_journals_go_by_prefix_and_age",
        day_journals_go_by_prefix_and_age,
    ),
];

/// Records a sign-up event and journals one step under its id; leaves it in `state`.
async fn event_in(
    store: &dyn Store,
    tenant: TenantId,
    n: u32,
    state: InboxState,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let entry = InboxEntry {
        id,
        tenant_id: tenant,
        event: NewEvent {
            source: EventSource::EventApi,
            kind: EventType::Signup,
            dedupe_key: format!("msg_{n}"),
            entity_key: None,
            occurred_at: Utc::now(),
            payload: serde_json::json!({ "user_id": format!("u{n}"), "email": "a@b.test" }),
        },
        job: NewJob::new("event.signup", serde_json::json!({ "event_id": id })),
    };
    store.record_event(&entry).await?;
    store
        .journal_intent(tenant, &id.to_string(), "person", "owner")
        .await?;
    if state != InboxState::Pending {
        let outcome = EventOutcome::reason("done");
        store.finish_event(tenant, id, state, &outcome).await?;
    }
    Ok(id)
}

fn finished_events_go_with_their_own_journal(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (one, two) = (
            fixtures::tenant(store.as_ref(), 801).await?.id,
            fixtures::tenant(store.as_ref(), 802).await?.id,
        );
        let processed = event_in(store.as_ref(), one, 1, InboxState::Processed).await?;
        let stale = event_in(store.as_ref(), two, 2, InboxState::Stale).await?;
        let failed = event_in(store.as_ref(), one, 3, InboxState::Failed).await?;
        let pending = event_in(store.as_ref(), two, 4, InboxState::Pending).await?;
        // A journal several events share (a person by email) is not an event's own.
        store
            .journal_intent(one, "person:a@b.test", "person", "owner")
            .await?;

        let later = Utc::now() + Duration::seconds(5);
        ensure_eq!(
            store.prune_finished_events(later, 1).await?,
            1,
            "the limit holds"
        );
        ensure_eq!(
            store.prune_finished_events(later, 100).await?,
            1,
            "the rest"
        );
        ensure_eq!(
            store.prune_finished_events(later, 100).await?,
            0,
            "nothing left"
        );

        for (tenant, id) in [(one, processed), (two, stale)] {
            let gone = store.inbox_event(tenant, id).await?;
            anyhow::ensure!(gone.is_none(), "a finished event stayed: {gone:?}");
            let steps = store.journal_steps(tenant, &id.to_string()).await?;
            anyhow::ensure!(steps.is_empty(), "its journal stayed: {steps:?}");
        }
        for (tenant, id) in [(one, failed), (two, pending)] {
            let kept = store.inbox_event(tenant, id).await?;
            anyhow::ensure!(kept.is_some(), "a failed or pending event went");
            let steps = store.journal_steps(tenant, &id.to_string()).await?;
            ensure_eq!(steps.len(), 1, "its journal stays");
        }
        let shared = store.journal_steps(one, "person:a@b.test").await?;
        ensure_eq!(shared.len(), 1, "a shared journal stays");
        Ok(())
    })
}

fn events_received_after_the_cutoff_stay(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 803).await?.id;
        let id = event_in(store.as_ref(), tenant, 1, InboxState::Processed).await?;
        let earlier = Utc::now() - Duration::hours(1);
        ensure_eq!(
            store.prune_finished_events(earlier, 100).await?,
            0,
            "pruned"
        );
        anyhow::ensure!(store.inbox_event(tenant, id).await?.is_some(), "event went");
        Ok(())
    })
}

fn day_journals_go_by_prefix_and_age(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (one, two) = (
            fixtures::tenant(store.as_ref(), 804).await?.id,
            fixtures::tenant(store.as_ref(), 805).await?.id,
        );
        for tenant in [one, two] {
            for key in [
                "usage:deal:1:2026-11-01",
                "usage:deal:2:2026-11-01",
                "usage_x",
            ] {
                store.journal_intent(tenant, key, "note", "owner").await?;
            }
        }
        let earlier = Utc::now() - Duration::hours(1);
        ensure_eq!(
            store.prune_journal("usage:", earlier, 100).await?,
            0,
            "young"
        );
        let later = Utc::now() + Duration::seconds(5);
        ensure_eq!(
            store.prune_journal("usage:", later, 3).await?,
            3,
            "the limit"
        );
        ensure_eq!(
            store.prune_journal("usage:", later, 100).await?,
            1,
            "the rest"
        );
        for tenant in [one, two] {
            let other = store.journal_steps(tenant, "usage_x").await?;
            ensure_eq!(other.len(), 1, "a key without the prefix stays");
        }
        Ok(())
    })
}
