//! The tenant timeline: token refreshes recorded, kept and read per tenant; each source's page
//! newest first, scoped to the tenant, and continued from its cursor without repeating or
//! skipping an entry (entries of the same instant included).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use dealbridge_core::outcome::EventOutcome;
use dealbridge_core::{TenantId, UserId};
use uuid::Uuid;

use super::jobs::{claim_one_queue, job};
use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{
    InboxEntry, InboxState, JobFailure, NewJob, NewTokenRefresh, RefreshOutcome, Store, StoreError,
    TimelineCursor, TOKEN_REFRESHES_KEPT_DAYS,
};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "timeline::token_refreshes_are_kept_per_tenant_and_paged",
        token_refreshes_are_kept_per_tenant_and_paged,
    ),
    (
        "timeline::old_token_refreshes_are_dropped_as_new_ones_come",
        old_token_refreshes_are_dropped_as_new_ones_come,
    ),
    (
        "timeline::events_of_every_source_merge_newest_first",
        events_of_every_source_merge_newest_first,
    ),
    (
        "timeline::failing_and_dead_jobs_newest_first",
        failing_and_dead_jobs_newest_first,
    ),
    (
        "timeline::audit_entries_page_by_id_per_tenant",
        audit_entries_page_by_id_per_tenant,
    ),
];

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000 + seconds, 0).unwrap_or_default()
}

fn refresh(tenant: TenantId, outcome: RefreshOutcome, seconds: i64) -> NewTokenRefresh {
    NewTokenRefresh {
        tenant_id: tenant,
        user_id: UserId::new(7),
        outcome,
        reason: (outcome != RefreshOutcome::Refreshed).then(|| format!("why {seconds}")),
        at: at(seconds),
    }
}

fn token_refreshes_are_kept_per_tenant_and_paged(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 801).await?.id;
        let b = fixtures::tenant(store.as_ref(), 802).await?.id;
        // Two in the same instant: the id orders them, and paging keeps both.
        for (outcome, seconds) in [
            (RefreshOutcome::Refreshed, 10),
            (RefreshOutcome::Failed, 20),
            (RefreshOutcome::Refreshed, 20),
            (RefreshOutcome::Refused, 30),
        ] {
            store
                .record_token_refresh(&refresh(a, outcome, seconds))
                .await?;
        }
        store
            .record_token_refresh(&refresh(b, RefreshOutcome::Refreshed, 40))
            .await?;

        let all = store.token_refreshes(a, None, 10).await?;
        let seen: Vec<_> = all.iter().map(|r| (r.outcome, r.at)).collect();
        ensure_eq!(seen.len(), 4, "only the tenant's own: {seen:?}");
        ensure_eq!(seen[0], (RefreshOutcome::Refused, at(30)), "newest first");
        ensure_eq!(seen[3], (RefreshOutcome::Refreshed, at(10)), "oldest last");
        ensure_eq!(all[0].reason.as_deref(), Some("why 30"), "the reason");
        ensure_eq!(all[0].user_id, UserId::new(7), "the user");
        ensure_eq!(all[0].tenant_id, a, "the tenant");

        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = store.token_refreshes(a, before, 1).await?;
            let Some(last) = page.last() else { break };
            before = Some(TimelineCursor {
                at: last.at,
                id: last.id,
            });
            paged.extend(page.iter().map(|r| r.id));
        }
        let ids: Vec<Uuid> = all.iter().map(|r| r.id).collect();
        ensure_eq!(paged, ids, "pages of one repeat and skip nothing");

        let missing = refresh(TenantId::new(), RefreshOutcome::Refreshed, 1);
        match store.record_token_refresh(&missing).await {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("an unknown tenant's refresh: {other:?}"),
        }
        ensure_eq!(
            store.token_refreshes(b, None, 10).await?.len(),
            1,
            "the other tenant's"
        );
        Ok(())
    })
}

fn old_token_refreshes_are_dropped_as_new_ones_come(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 803).await?.id;
        let b = fixtures::tenant(store.as_ref(), 804).await?.id;
        store
            .record_token_refresh(&refresh(a, RefreshOutcome::Refreshed, 0))
            .await?;
        store
            .record_token_refresh(&refresh(a, RefreshOutcome::Refreshed, 100))
            .await?;
        store
            .record_token_refresh(&refresh(b, RefreshOutcome::Refreshed, 0))
            .await?;
        let later = Duration::days(TOKEN_REFRESHES_KEPT_DAYS).num_seconds() + 50;
        store
            .record_token_refresh(&refresh(a, RefreshOutcome::Refreshed, later))
            .await?;
        let kept: Vec<_> = store
            .token_refreshes(a, None, 10)
            .await?
            .iter()
            .map(|r| r.at)
            .collect();
        ensure_eq!(kept, vec![at(later), at(100)], "the oldest was dropped");
        ensure_eq!(
            store.token_refreshes(b, None, 10).await?.len(),
            1,
            "another tenant's are its own to drop"
        );
        Ok(())
    })
}

fn event(tenant_id: TenantId, source: EventSource, key: &str) -> InboxEntry {
    let id = Uuid::now_v7();
    InboxEntry {
        id,
        tenant_id,
        event: NewEvent {
            source,
            kind: EventType::Signup,
            dedupe_key: key.to_owned(),
            entity_key: Some(format!("user:{key}")),
            occurred_at: at(0),
            payload: serde_json::json!({ "email": "ada@example.com" }),
        },
        job: NewJob::new("event.test", serde_json::json!({ "event_id": id })),
    }
}

fn events_of_every_source_merge_newest_first(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 805).await?.id;
        let b = fixtures::tenant(store.as_ref(), 806).await?.id;
        let sources = [
            EventSource::Pipedrive,
            EventSource::EventApi,
            EventSource::Shopify,
            EventSource::Pipedrive,
            EventSource::Api2Cart,
        ];
        let mut recorded = Vec::new();
        for (i, source) in sources.into_iter().enumerate() {
            let entry = event(a, source, &format!("a{i}"));
            store.record_event(&entry).await?;
            recorded.push(entry.id);
            // Received times are kept to the millisecond on SQLite.
            tokio::time::sleep(StdDuration::from_millis(3)).await;
        }
        store
            .record_event(&event(b, EventSource::EventApi, "b0"))
            .await?;
        let outcome = EventOutcome::reason("Pipedrive said 400");
        store
            .finish_event(a, recorded[1], InboxState::Failed, &outcome)
            .await?;

        let all = store.timeline_events(a, None, 10).await?;
        let ids: Vec<Uuid> = all.iter().map(|e| e.id).collect();
        let newest_first: Vec<Uuid> = recorded.iter().rev().copied().collect();
        ensure_eq!(
            ids,
            newest_first,
            "every source, newest first, the tenant's only"
        );
        let failed = &all[3];
        ensure_eq!(failed.source, EventSource::EventApi, "source");
        ensure_eq!(failed.state, InboxState::Failed, "state");
        ensure_eq!(failed.outcome, Some(outcome), "what became of it");
        ensure_eq!(failed.kind, "signup".to_string(), "kind");
        ensure_eq!(failed.entity_key.as_deref(), Some("user:a1"), "entity");

        let first = store.timeline_events(a, None, 2).await?;
        let cursor = first.last().map(|e| TimelineCursor {
            at: e.received_at,
            id: e.id,
        });
        let rest: Vec<Uuid> = store
            .timeline_events(a, cursor, 10)
            .await?
            .iter()
            .map(|e| e.id)
            .collect();
        ensure_eq!(rest, newest_first[2..].to_vec(), "the next page goes on");
        Ok(())
    })
}

/// Claims the tenant's one ready job and fails it: dead when `retry` is false.
async fn fail_next(store: &dyn Store, tenant: TenantId, retry: bool) -> anyhow::Result<()> {
    let claimed = claim_one_queue(store, Some(tenant), 1, StdDuration::from_secs(60)).await?;
    let lease = claimed
        .first()
        .and_then(|j| j.lease())
        .ok_or_else(|| anyhow::anyhow!("nothing claimed"))?;
    let failure = JobFailure {
        error: "Pipedrive said 500".into(),
        retry_at: retry.then(|| Utc::now() + Duration::hours(1)),
    };
    anyhow::ensure!(store.fail_job(&lease, &failure).await?, "lease lost");
    Ok(())
}

fn failing_and_dead_jobs_newest_first(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (a, b) = (TenantId::new(), TenantId::new());
        let dead = store.enqueue(&job(a, 1).max_attempts(1)).await?.id();
        fail_next(store.as_ref(), a, false).await?;
        tokio::time::sleep(StdDuration::from_millis(3)).await;
        let failing = store.enqueue(&job(a, 2)).await?.id();
        fail_next(store.as_ref(), a, true).await?;
        // Waiting work that never failed, and another tenant's dead job, are not failures of a's.
        store.enqueue(&job(a, 3)).await?;
        store.enqueue(&job(b, 4).max_attempts(1)).await?;
        fail_next(store.as_ref(), b, false).await?;

        let jobs = store.timeline_jobs(a, None, 10).await?;
        let ids: Vec<_> = jobs.iter().map(|j| j.id).collect();
        ensure_eq!(ids, vec![failing, dead], "failures, newest first");
        ensure_eq!(
            jobs[0].last_error.as_deref(),
            Some("Pipedrive said 500"),
            "why"
        );
        let cursor = TimelineCursor {
            at: jobs[0].updated_at,
            id: jobs[0].id.as_uuid(),
        };
        let rest: Vec<_> = store
            .timeline_jobs(a, Some(cursor), 10)
            .await?
            .iter()
            .map(|j| j.id)
            .collect();
        ensure_eq!(rest, vec![dead], "the next page");
        Ok(())
    })
}

fn audit_entries_page_by_id_per_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 807).await?.id;
        let b = fixtures::tenant(store.as_ref(), 808).await?.id;
        let entry = |tenant: Option<TenantId>, action: &str| NewAuditEntry {
            tenant_id: tenant,
            actor: "staff:ana@example.com".into(),
            action: action.into(),
            detail: serde_json::json!({}),
        };
        for (tenant, action) in [
            (Some(a), "a.1"),
            (Some(b), "b.1"),
            (None, "none.1"),
            (Some(a), "a.2"),
            (Some(a), "a.3"),
        ] {
            store.append_audit(&entry(tenant, action)).await?;
        }
        let actions = |entries: &[dealbridge_core::audit::AuditEntry]| -> Vec<String> {
            entries.iter().map(|e| e.action.clone()).collect()
        };
        let first = store.timeline_audit(a, None, 2).await?;
        ensure_eq!(actions(&first), vec!["a.3", "a.2"], "newest first");
        let rest = store
            .timeline_audit(a, first.last().map(|e| e.id), 10)
            .await?;
        ensure_eq!(actions(&rest), vec!["a.1"], "the tenant's only");
        Ok(())
    })
}
