//! The tenant timeline's reads, each bounded by its limit and walking one index from the cursor
//! down, and its one table of its own: token refreshes.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use dealbridge_core::audit::AuditEntry;
use dealbridge_core::event::EventSource;
use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{
    InboxState, Job, NewTokenRefresh, RefreshOutcome, StoreError, StoreResult, TenantTimeline,
    TimelineCursor, TimelineEvent, TokenRefresh, TOKEN_REFRESHES_KEPT_DAYS,
};
use uuid::Uuid;

use super::audit::entry_from_row;
use super::inbox::{corrupt, outcome_from};
use super::jobs::{job_from_row, COLUMNS as JOB_COLUMNS};
use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{Id, QueueTime};
use crate::{commit, SqlStore};

const RECORD_REFRESH: &str = "insert into token_refreshes
        (tenant_id, id, user_id, outcome, reason, created_at)
    values ($1, $2, $3, $4, $5, $6)";

const FORGET_REFRESHES: &str = "delete from token_refreshes
    where tenant_id = $1 and created_at < $2";

const REFRESHES: &str = "select tenant_id, id, user_id, outcome, reason, created_at
    from token_refreshes
    where tenant_id = $1 and created_at <= $2 and (created_at < $2 or id < $3)
    order by created_at desc, id desc limit $4";

const AUDIT: &str = "select id, tenant_id, actor, action, detail, created_at from audit_log
    where tenant_id = $1 and id < $2 order by id desc limit $3";

const EVENT_COLUMNS: &str = "id, source, kind, entity_key, state, received_at, outcome";

/// `$1` tenant, `$2`/`$3` the cursor's time and id, `$4` the limit. One ordered, limited read per
/// source on `inbox_events_recent_idx` (tenant, source, received time), merged: a single read
/// across sources would sort every event the tenant has before it could stop.
fn events_statement() -> String {
    let per_source: Vec<String> = EventSource::ALL
        .iter()
        .enumerate()
        .map(|(i, source)| {
            format!(
                "select * from (select {EVENT_COLUMNS} from inbox_events
                    where tenant_id = $1 and source = '{}' and {}
                    order by received_at desc, id desc limit $4) as s{i}",
                source.as_str(),
                before("received_at"),
            )
        })
        .collect();
    format!(
        "{} order by received_at desc, id desc limit $4",
        per_source.join(" union all ")
    )
}

/// Dead jobs and queued jobs whose last attempt failed, each read on its own partial index
/// (`jobs_dead_idx`, `jobs_failing_idx`), merged. Same binds as [`events_statement`].
fn jobs_statement() -> String {
    let part = |name: &str, state: &str| {
        format!(
            "select * from (select {JOB_COLUMNS} from jobs
                where tenant_id = $1 and {state} and {}
                order by updated_at desc, id desc limit $4) as {name}",
            before("updated_at"),
        )
    };
    format!(
        "{} union all {} order by updated_at desc, id desc limit $4",
        part("dead", "state = 'dead'"),
        part("failing", "state = 'queued' and last_error is not null"),
    )
}

/// Strictly before the cursor `($2, $3)` by `(time, id)`. Spelt with a plain comparison on the
/// time first so the index range starts at the cursor (a row-value comparison would not use an
/// index that lacks the id).
fn before(time: &str) -> String {
    format!("{time} <= $2 and ({time} < $2 or id < $3)")
}

/// The cursor's binds; without one, a time after every entry.
fn cursor(before: Option<TimelineCursor>) -> (QueueTime, Id) {
    match before {
        Some(c) => (QueueTime(c.at), Id(c.id)),
        None => (
            QueueTime(DateTime::<Utc>::MAX_UTC),
            Id(Uuid::from_u128(u128::MAX)),
        ),
    }
}

fn refresh_from_row<B: Backend>(row: &B::Row) -> StoreResult<TokenRefresh> {
    let (tenant, id): (Id, Id) = (B::get(row, "tenant_id")?, B::get(row, "id")?);
    let outcome: String = B::get(row, "outcome")?;
    Ok(TokenRefresh {
        id: id.0,
        tenant_id: TenantId::from_uuid(tenant.0),
        user_id: UserId::new(B::get(row, "user_id")?),
        outcome: RefreshOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("token refresh outcome {outcome:?}")))?,
        reason: B::get(row, "reason")?,
        at: B::get(row, "created_at").map(|t: QueueTime| t.0)?,
    })
}

fn event_from_row<B: Backend>(row: &B::Row) -> StoreResult<TimelineEvent> {
    let id: Id = B::get(row, "id")?;
    let (source, state): (String, String) = (B::get(row, "source")?, B::get(row, "state")?);
    Ok(TimelineEvent {
        id: id.0,
        source: EventSource::parse(&source).ok_or_else(|| corrupt("source", &source))?,
        kind: B::get(row, "kind")?,
        entity_key: B::get(row, "entity_key")?,
        state: InboxState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        received_at: B::get(row, "received_at").map(|t: QueueTime| t.0)?,
        outcome: outcome_from(B::get(row, "outcome")?)?,
    })
}

#[async_trait]
impl<B: Backend> TenantTimeline for SqlStore<B> {
    async fn record_token_refresh(&self, refresh: &NewTokenRefresh) -> StoreResult<()> {
        let tenant = Id(refresh.tenant_id.as_uuid());
        let mut tx = self.begin().await?;
        sql::<B>(RECORD_REFRESH)
            .binds((
                tenant,
                Id(Uuid::now_v7()),
                refresh.user_id.get(),
                refresh.outcome.as_str(),
                &refresh.reason,
                QueueTime(refresh.at),
            ))
            .execute(&mut tx)
            .await?;
        let oldest = refresh.at - Duration::days(TOKEN_REFRESHES_KEPT_DAYS);
        sql::<B>(FORGET_REFRESHES)
            .binds((tenant, QueueTime(oldest)))
            .execute(&mut tx)
            .await?;
        commit(tx).await
    }

    async fn token_refreshes(
        &self,
        tenant_id: TenantId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<Vec<TokenRefresh>> {
        let (at, id) = cursor(before);
        let values = (Id(tenant_id.as_uuid()), at, id, i64::from(limit));
        self.fetch_all(REFRESHES, values, refresh_from_row::<B>)
            .await
    }

    async fn timeline_events(
        &self,
        tenant_id: TenantId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEvent>> {
        let (at, id) = cursor(before);
        let values = (Id(tenant_id.as_uuid()), at, id, i64::from(limit));
        self.fetch_all(&events_statement(), values, event_from_row::<B>)
            .await
    }

    async fn timeline_jobs(
        &self,
        tenant_id: TenantId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Job>> {
        let (at, id) = cursor(before);
        let values = (Id(tenant_id.as_uuid()), at, id, i64::from(limit));
        self.fetch_all(&jobs_statement(), values, job_from_row::<B>)
            .await
    }

    async fn timeline_audit(
        &self,
        tenant_id: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let before = before.unwrap_or(i64::MAX);
        let values = (Id(tenant_id.as_uuid()), before, i64::from(limit));
        self.fetch_all(AUDIT, values, entry_from_row::<B>).await
    }
}
