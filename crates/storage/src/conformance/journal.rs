use std::sync::Arc;

use dealbridge_core::event::{EventSource, EventType, NewEvent};
use dealbridge_core::outcome::{EventOutcome, RecordKind, RecordRef};
use uuid::Uuid;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{InboxEntry, InboxState, NewJob, Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "journal::an_intent_is_kept_and_its_result_added",
        an_intent_is_kept_and_its_result_added,
    ),
    (
        "journal::steps_are_per_tenant_and_job",
        steps_are_per_tenant_and_job,
    ),
    (
        "journal::a_result_needs_its_intent",
        a_result_needs_its_intent,
    ),
    (
        "inbox::a_finished_event_keeps_what_it_became",
        a_finished_event_keeps_what_it_became,
    ),
];

fn an_intent_is_kept_and_its_result_added(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 301).await?.id;
        let first = store
            .journal_intent(tenant, "event-1", "person", "ada@example.com")
            .await?;
        ensure_eq!(first.intent, "ada@example.com", "intent");
        ensure_eq!(first.result, None, "no result before the write");
        ensure_eq!(first.first, true, "the first call journals the intent");

        // A retried job journals the same step again: the first intent stands.
        let again = store
            .journal_intent(tenant, "event-1", "person", "other@example.com")
            .await?;
        ensure_eq!(again.intent, "ada@example.com", "the first intent is kept");
        ensure_eq!(
            again.first,
            false,
            "a second call finds the intent journalled"
        );

        let result = serde_json::json!({ "id": 42 });
        store
            .journal_result(tenant, "event-1", "person", &result)
            .await?;
        let finished = store
            .journal_intent(tenant, "event-1", "person", "ada@example.com")
            .await?;
        ensure_eq!(finished.result, Some(result), "the result is read back");
        Ok(())
    })
}

fn steps_are_per_tenant_and_job(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 302).await?.id;
        let other = fixtures::tenant(store.as_ref(), 303).await?.id;
        store
            .journal_intent(tenant, "job-a", "org", "acme.test")
            .await?;
        store
            .journal_intent(tenant, "job-a", "person", "a@acme.test")
            .await?;
        store
            .journal_intent(tenant, "job-b", "org", "other.test")
            .await?;
        store
            .journal_intent(other, "job-a", "org", "theirs.test")
            .await?;

        let steps = store.journal_steps(tenant, "job-a").await?;
        let mut names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
        names.sort_unstable();
        ensure_eq!(names, vec!["org", "person"], "the job's own steps");
        let org = steps
            .iter()
            .find(|s| s.step == "org")
            .map(|s| s.intent.as_str());
        ensure_eq!(org, Some("acme.test"), "not another tenant's intent");
        ensure_eq!(
            store.journal_steps(other, "job-b").await?.len(),
            0,
            "another tenant sees nothing of this tenant's jobs"
        );
        match store
            .journal_result(other, "job-b", "org", &serde_json::json!({ "id": 1 }))
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("another tenant's step was finished: {other:?}"),
        }
        Ok(())
    })
}

fn a_result_needs_its_intent(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 304).await?.id;
        match store
            .journal_result(tenant, "job", "deal", &serde_json::json!({ "id": 7 }))
            .await
        {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => anyhow::bail!("a result without an intent was accepted: {other:?}"),
        }
    })
}

fn a_finished_event_keeps_what_it_became(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 305).await?.id;
        let id = Uuid::now_v7();
        let entry = InboxEntry {
            id,
            tenant_id: tenant,
            event: NewEvent {
                source: EventSource::EventApi,
                kind: EventType::Signup,
                dedupe_key: "msg_1".into(),
                entity_key: Some("user:u1".into()),
                occurred_at: chrono::Utc::now(),
                payload: serde_json::json!({ "user_id": "u1", "email": "a@b.test" }),
            },
            job: NewJob::new("event.signup", serde_json::json!({ "event_id": id })),
        };
        store.record_event(&entry).await?;
        let pending = store.inbox_event(tenant, id).await?.map(|e| e.outcome);
        ensure_eq!(pending, Some(None), "no outcome while pending");

        let outcome = EventOutcome::records(vec![
            RecordRef {
                kind: RecordKind::Person,
                id: 3,
            },
            RecordRef {
                kind: RecordKind::Deal,
                id: 9,
            },
        ]);
        store
            .finish_event(tenant, id, InboxState::Processed, &outcome)
            .await?;
        let stored = store
            .inbox_event(tenant, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("event gone"))?;
        ensure_eq!(stored.state, InboxState::Processed, "state");
        ensure_eq!(stored.outcome, Some(outcome), "outcome");

        let other = fixtures::tenant(store.as_ref(), 306).await?.id;
        let failed = EventOutcome::reason("no");
        match store
            .finish_event(other, id, InboxState::Failed, &failed)
            .await
        {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => anyhow::bail!("another tenant's event was finished: {other:?}"),
        }
    })
}
