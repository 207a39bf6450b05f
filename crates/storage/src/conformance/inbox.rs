use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::event::{ChangeAction, EventSource, EventType, NewEvent, PipedriveEntity};
use dealbridge_core::TenantId;
use uuid::Uuid;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{EventFilter, InboxEntry, InboxState, NewJob, Recorded, Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "inbox::an_event_and_its_job_are_recorded_together",
        an_event_and_its_job_are_recorded_together,
    ),
    (
        "inbox::a_duplicate_is_a_no_op_that_says_so",
        a_duplicate_is_a_no_op_that_says_so,
    ),
    (
        "inbox::concurrent_duplicates_record_one_row",
        concurrent_duplicates_record_one_row,
    ),
    (
        "inbox::an_event_older_than_its_entity_is_kept_as_stale",
        an_event_older_than_its_entity_is_kept_as_stale,
    ),
    (
        "inbox::a_batch_is_recorded_in_one_go",
        a_batch_is_recorded_in_one_go,
    ),
    (
        "inbox::a_batch_is_judged_in_order_across_its_statements",
        a_batch_is_judged_in_order_across_its_statements,
    ),
    (
        "inbox::a_failed_batch_records_nothing",
        a_failed_batch_records_nothing,
    ),
    (
        "inbox::recent_events_are_per_tenant_and_source",
        recent_events_are_per_tenant_and_source,
    ),
    (
        "inbox::events_are_listed_by_filter_and_paged",
        events_are_listed_by_filter_and_paged,
    ),
    (
        "inbox::a_failed_event_is_retried_once_and_only_its_tenants",
        a_failed_event_is_retried_once_and_only_its_tenants,
    ),
    (
        "inbox::events_and_failures_are_counted_per_day",
        events_and_failures_are_counted_per_day,
    ),
];

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000 + seconds, 0).unwrap_or_default()
}

fn event(source: EventSource, key: &str, entity: Option<&str>, occurred: i64) -> NewEvent {
    NewEvent {
        source,
        kind: EventType::pipedrive(PipedriveEntity::Deal, ChangeAction::Change),
        dedupe_key: key.to_owned(),
        entity_key: entity.map(str::to_owned),
        occurred_at: at(occurred),
        payload: serde_json::json!({ "key": key }),
    }
}

fn entry(tenant_id: TenantId, event: NewEvent) -> InboxEntry {
    let id = Uuid::now_v7();
    InboxEntry {
        id,
        tenant_id,
        job: NewJob::new("event.test", serde_json::json!({ "event_id": id })),
        event,
    }
}

async fn queued(store: &dyn Store, tenant: TenantId) -> anyhow::Result<u64> {
    Ok(store.job_counts(Some(tenant)).await?.queued)
}

fn an_event_and_its_job_are_recorded_together(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 201).await?.id;
        let new = entry(
            tenant,
            event(EventSource::Pipedrive, "e1", Some("deal:1"), 10),
        );
        ensure_eq!(
            store.record_event(&new).await?,
            Recorded::New,
            "first record"
        );
        let stored = store.inbox_event(tenant, new.id).await?;
        let stored = stored.ok_or_else(|| anyhow::anyhow!("event not stored"))?;
        ensure_eq!(stored.state, InboxState::Pending, "state");
        ensure_eq!(stored.kind, "pipedrive.deal.change", "kind");
        ensure_eq!(stored.occurred_at, at(10), "occurred_at");
        ensure_eq!(stored.entity_key.as_deref(), Some("deal:1"), "entity");
        ensure_eq!(stored.payload, new.event.payload, "payload");
        ensure_eq!(queued(store.as_ref(), tenant).await?, 1, "its job");

        store
            .set_event_state(tenant, new.id, InboxState::Processed)
            .await?;
        let state = store.inbox_event(tenant, new.id).await?.map(|e| e.state);
        ensure_eq!(state, Some(InboxState::Processed), "state set");

        let other = fixtures::tenant(store.as_ref(), 202).await?.id;
        ensure_eq!(
            store.inbox_event(other, new.id).await?,
            None,
            "tenant-scoped read"
        );
        match store
            .set_event_state(other, new.id, InboxState::Failed)
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("another tenant's event was updated: {other:?}"),
        }
        let missing = entry(
            TenantId::new(),
            event(EventSource::Pipedrive, "e2", None, 1),
        );
        match store.record_event(&missing).await {
            Err(StoreError::NotFound("tenant")) => {}
            other => anyhow::bail!("an unknown tenant's event was recorded: {other:?}"),
        }
        Ok(())
    })
}

fn a_duplicate_is_a_no_op_that_says_so(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 203).await?.id;
        let first = entry(
            tenant,
            event(EventSource::Pipedrive, "same", Some("deal:1"), 10),
        );
        store.record_event(&first).await?;
        let again = entry(
            tenant,
            event(EventSource::Pipedrive, "same", Some("deal:1"), 10),
        );
        ensure_eq!(
            store.record_event(&again).await?,
            Recorded::Duplicate,
            "retry"
        );
        ensure_eq!(
            store.inbox_event(tenant, again.id).await?,
            None,
            "no second row"
        );
        ensure_eq!(queued(store.as_ref(), tenant).await?, 1, "no second job");

        // The same key from another source, or for another tenant, is another event.
        let shopify = entry(tenant, event(EventSource::Shopify, "same", None, 10));
        ensure_eq!(
            store.record_event(&shopify).await?,
            Recorded::New,
            "other source"
        );
        let other = fixtures::tenant(store.as_ref(), 204).await?.id;
        let theirs = entry(other, event(EventSource::Pipedrive, "same", None, 10));
        ensure_eq!(
            store.record_event(&theirs).await?,
            Recorded::New,
            "other tenant"
        );
        Ok(())
    })
}

fn concurrent_duplicates_record_one_row(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 205).await?.id;
        let attempts = (0..8).map(|_| {
            let store = store.clone();
            let new = entry(tenant, event(EventSource::Pipedrive, "race", None, 10));
            tokio::spawn(async move { store.record_event(&new).await })
        });
        let mut new = 0;
        for attempt in futures::future::join_all(attempts).await {
            if attempt?? == Recorded::New {
                new += 1;
            }
        }
        ensure_eq!(new, 1, "exactly one delivery recorded");
        ensure_eq!(queued(store.as_ref(), tenant).await?, 1, "one job");
        Ok(())
    })
}

fn an_event_older_than_its_entity_is_kept_as_stale(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 206).await?.id;
        let newer = entry(
            tenant,
            event(EventSource::Pipedrive, "n", Some("deal:7"), 20),
        );
        store.record_event(&newer).await?;
        let older = entry(
            tenant,
            event(EventSource::Pipedrive, "o", Some("deal:7"), 10),
        );
        ensure_eq!(store.record_event(&older).await?, Recorded::Stale, "older");
        let kept = store.inbox_event(tenant, older.id).await?.map(|e| e.state);
        ensure_eq!(kept, Some(InboxState::Stale), "kept, marked stale");
        ensure_eq!(queued(store.as_ref(), tenant).await?, 1, "no job for it");

        // Another entity, or a later change of the same one, is not stale.
        let other = entry(
            tenant,
            event(EventSource::Pipedrive, "x", Some("deal:8"), 5),
        );
        ensure_eq!(
            store.record_event(&other).await?,
            Recorded::New,
            "other entity"
        );
        let later = entry(
            tenant,
            event(EventSource::Pipedrive, "l", Some("deal:7"), 30),
        );
        ensure_eq!(
            store.record_event(&later).await?,
            Recorded::New,
            "later change"
        );
        Ok(())
    })
}

fn a_batch_is_recorded_in_one_go(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 207).await?.id;
        let before = entry(tenant, event(EventSource::Pipedrive, "b0", None, 1));
        store.record_event(&before).await?;
        let batch = vec![
            entry(
                tenant,
                event(EventSource::Pipedrive, "b1", Some("deal:1"), 20),
            ),
            entry(tenant, event(EventSource::Pipedrive, "b0", None, 1)),
            entry(
                tenant,
                event(EventSource::Pipedrive, "b2", Some("deal:1"), 10),
            ),
            entry(
                tenant,
                event(EventSource::Pipedrive, "b1", Some("deal:1"), 20),
            ),
        ];
        let recorded = store.record_events(&batch).await?;
        let expected = [
            Recorded::New,
            Recorded::Duplicate,
            Recorded::Stale,
            Recorded::Duplicate,
        ];
        ensure_eq!(recorded, expected, "one result per entry");
        ensure_eq!(
            queued(store.as_ref(), tenant).await?,
            2,
            "jobs of new events"
        );
        ensure_eq!(
            store.record_events(&[]).await?,
            Vec::<Recorded>::new(),
            "empty"
        );
        Ok(())
    })
}

/// A batch longer than one statement takes (SQLite's are 32 rows), judged entry by entry as if
/// each were recorded alone: against the table, against earlier entries, and across statements.
fn a_batch_is_judged_in_order_across_its_statements(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 209).await?.id;
        let deal = |key: &str, entity: &str, at: i64| {
            entry(tenant, event(EventSource::Pipedrive, key, Some(entity), at))
        };
        store.record_event(&deal("t", "deal:1", 50)).await?;
        let mut batch = vec![
            deal("older-than-table", "deal:1", 40),
            deal("first", "deal:2", 10),
            deal("then-newer", "deal:2", 20),
            deal("newest-of-3", "deal:3", 90),
        ];
        batch.extend((0..40).map(|i| deal(&format!("filler-{i}"), &format!("deal:f{i}"), i)));
        batch.push(deal("older-of-3", "deal:3", 80));
        let recorded = store.record_events(&batch).await?;
        let expected_head = [Recorded::Stale, Recorded::New, Recorded::New, Recorded::New];
        ensure_eq!(
            &recorded[..4],
            &expected_head[..],
            "table and earlier entries"
        );
        ensure_eq!(recorded[44], Recorded::Stale, "an entry 40 places later");
        let new = recorded.iter().filter(|r| **r == Recorded::New).count();
        ensure_eq!(new, 43, "the fillers are new");
        ensure_eq!(
            queued(store.as_ref(), tenant).await?,
            44,
            "a job per new event"
        );
        for (entry, result) in batch.iter().zip(&recorded) {
            let state = store.inbox_event(tenant, entry.id).await?.map(|e| e.state);
            let expected = match result {
                Recorded::Stale => InboxState::Stale,
                _ => InboxState::Pending,
            };
            ensure_eq!(
                state,
                Some(expected),
                "stored state of {}",
                entry.event.dedupe_key
            );
        }
        Ok(())
    })
}

fn a_failed_batch_records_nothing(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 208).await?.id;
        let batch = vec![
            entry(tenant, event(EventSource::Pipedrive, "f1", None, 1)),
            entry(
                TenantId::new(),
                event(EventSource::Pipedrive, "f2", None, 1),
            ),
        ];
        anyhow::ensure!(
            store.record_events(&batch).await.is_err(),
            "a batch with an unknown tenant was recorded"
        );
        ensure_eq!(
            store.inbox_event(tenant, batch[0].id).await?,
            None,
            "rolled back"
        );
        ensure_eq!(queued(store.as_ref(), tenant).await?, 0, "no job left");
        Ok(())
    })
}

fn recent_events_are_per_tenant_and_source(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 209).await?.id;
        let other = fixtures::tenant(store.as_ref(), 210).await?.id;
        let mut ids = Vec::new();
        for n in 0..3 {
            let new = entry(
                tenant,
                event(EventSource::Pipedrive, &format!("r{n}"), None, n),
            );
            store.record_event(&new).await?;
            ids.push(new.id);
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        store
            .record_event(&entry(tenant, event(EventSource::Shopify, "s", None, 1)))
            .await?;
        store
            .record_event(&entry(other, event(EventSource::Pipedrive, "t", None, 1)))
            .await?;
        let recent = store
            .recent_events(tenant, EventSource::Pipedrive, 2)
            .await?;
        let got: Vec<Uuid> = recent.iter().map(|e| e.id).collect();
        ensure_eq!(got, vec![ids[2], ids[1]], "newest first, limited");
        anyhow::ensure!(
            recent.iter().all(|e| e.tenant_id == tenant),
            "another tenant's event listed"
        );
        let shopify = store
            .recent_events(tenant, EventSource::Shopify, 10)
            .await?;
        ensure_eq!(shopify.len(), 1, "per source");
        anyhow::ensure!(Utc::now() - recent[0].received_at < Duration::minutes(1));
        Ok(())
    })
}

fn events_are_listed_by_filter_and_paged(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 211).await?.id;
        let other = fixtures::tenant(store.as_ref(), 212).await?.id;
        let mut ids = Vec::new();
        for (n, source) in [
            EventSource::Pipedrive,
            EventSource::Shopify,
            EventSource::Pipedrive,
            EventSource::Shopify,
        ]
        .into_iter()
        .enumerate()
        {
            let new = entry(tenant, event(source, &format!("l{n}"), None, 1));
            store.record_event(&new).await?;
            ids.push(new.id);
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        store
            .record_event(&entry(other, event(EventSource::Shopify, "x", None, 1)))
            .await?;
        store
            .set_event_state(tenant, ids[1], InboxState::Failed)
            .await?;
        let list = |filter: EventFilter, limit: u32| {
            let store = store.clone();
            async move {
                let events = store.list_events(tenant, &filter, limit).await?;
                anyhow::Ok(events.iter().map(|e| e.id).collect::<Vec<Uuid>>())
            }
        };
        let newest_first: Vec<Uuid> = ids.iter().rev().copied().collect();
        ensure_eq!(
            list(EventFilter::default(), 10).await?,
            newest_first,
            "every source, newest first, none of another tenant's"
        );
        let shopify = EventFilter {
            source: Some(EventSource::Shopify),
            ..EventFilter::default()
        };
        ensure_eq!(list(shopify, 10).await?, vec![ids[3], ids[1]], "by source");
        let failed = EventFilter {
            state: Some(InboxState::Failed),
            ..EventFilter::default()
        };
        ensure_eq!(list(failed, 10).await?, vec![ids[1]], "by state");
        let kind = EventFilter {
            kind: Some("no.such.kind".into()),
            ..EventFilter::default()
        };
        ensure_eq!(list(kind, 10).await?, Vec::<Uuid>::new(), "by type");
        let all = store
            .list_events(tenant, &EventFilter::default(), 10)
            .await?;
        let named = EventFilter {
            kind: Some(all[0].kind.clone()),
            ..EventFilter::default()
        };
        ensure_eq!(list(named, 10).await?.len(), 4, "by the type's name");
        // Pages of two follow on without a gap or a repeat.
        let first = store
            .list_events(tenant, &EventFilter::default(), 2)
            .await?;
        let after = first.last().map(|e| (e.received_at, e.id));
        let next = EventFilter {
            after,
            ..EventFilter::default()
        };
        ensure_eq!(list(next, 2).await?, vec![ids[1], ids[0]], "the next page");
        // A window of received times: from the second event up to (not with) the fourth.
        let window = EventFilter {
            from: Some(all[2].received_at),
            until: Some(all[0].received_at),
            ..EventFilter::default()
        };
        ensure_eq!(list(window, 10).await?, vec![ids[2], ids[1]], "by date");
        Ok(())
    })
}

fn a_failed_event_is_retried_once_and_only_its_tenants(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 213).await?.id;
        let other = fixtures::tenant(store.as_ref(), 214).await?.id;
        let new = entry(tenant, event(EventSource::Shopify, "f", None, 1));
        store.record_event(&new).await?;
        let job = NewJob::new("event.test", serde_json::json!({ "event_id": new.id }));
        ensure_eq!(
            store.retry_failed_event(tenant, new.id, &job).await?,
            false,
            "a pending event is not retried"
        );
        let outcome = dealbridge_core::outcome::EventOutcome {
            records: Vec::new(),
            reason: Some("Pipedrive refused it".into()),
        };
        store
            .finish_event(tenant, new.id, InboxState::Failed, &outcome)
            .await?;
        let before = queued(store.as_ref(), tenant).await?;
        ensure_eq!(
            store.retry_failed_event(other, new.id, &job).await?,
            false,
            "another tenant cannot retry it"
        );
        // Two retries at once: one wins, one job.
        let (a, b) = tokio::join!(
            store.retry_failed_event(tenant, new.id, &job),
            store.retry_failed_event(tenant, new.id, &job)
        );
        ensure_eq!(
            [a?, b?].iter().filter(|won| **won).count(),
            1,
            "exactly one retry took"
        );
        ensure_eq!(queued(store.as_ref(), tenant).await?, before + 1, "one job");
        let event = store.inbox_event(tenant, new.id).await?;
        let event = event.ok_or_else(|| anyhow::anyhow!("event gone"))?;
        ensure_eq!(event.state, InboxState::Pending, "pending again");
        ensure_eq!(event.outcome, None, "the old failure is cleared");
        Ok(())
    })
}

fn events_and_failures_are_counted_per_day(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 215).await?.id;
        let other = fixtures::tenant(store.as_ref(), 216).await?.id;
        let first = entry(tenant, event(EventSource::Shopify, "d1", None, 1));
        store.record_event(&first).await?;
        store.record_event(&first).await?; // a duplicate is not counted
        let batch = [
            entry(tenant, event(EventSource::Shopify, "d2", None, 1)),
            entry(tenant, event(EventSource::Shopify, "d3", None, 1)),
            entry(other, event(EventSource::Shopify, "d4", None, 1)),
        ];
        store.record_events(&batch).await?;
        store
            .set_event_state(tenant, first.id, InboxState::Failed)
            .await?;
        let today = Utc::now().date_naive();
        let days = store
            .event_days(tenant, today - Duration::days(6), today)
            .await?;
        let counted: Vec<(i64, i64)> = days.iter().map(|d| (d.received, d.failed)).collect();
        ensure_eq!(counted, vec![(3, 1)], "today: three received, one failed");
        ensure_eq!(days[0].day, today, "today's row");
        let theirs = store.event_days(other, today, today).await?;
        ensure_eq!(theirs.len(), 1, "the other tenant's own row");
        ensure_eq!(theirs[0].received, 1, "counted for its tenant only");
        let earlier = store
            .event_days(tenant, today - Duration::days(9), today - Duration::days(1))
            .await?;
        ensure_eq!(earlier.len(), 0, "no other day");
        Ok(())
    })
}
