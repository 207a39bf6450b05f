//! CSV imports and their rows (each row also the import's per-row journal).

use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{
    DuplicatePolicy, Import, ImportKind, ImportRow, ImportState, Imports, NewImport, NewImportRow,
    RowOutcome, RowState, StoreError, StoreResult,
};
use uuid::Uuid;

use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{Id, QueueTime};
use crate::{commit, SqlStore};

const COLUMNS: &str = "tenant_id, id, user_id, kind, file_name, headers, mapping, policy, state,
    total_rows, done_rows, failed_rows, skipped_rows, tokens_spent, created_at, updated_at,
    started_at, finished_at";

const ROW_COLUMNS: &str =
    "import_id, row_number, row_key, cell_values, state, reason, intent, pipedrive_id";

const INSERT: &str = "insert into imports (tenant_id, id, user_id, kind, file_name, headers,
        mapping, policy, state, total_rows, done_rows, failed_rows, skipped_rows, tokens_spent,
        created_at, updated_at, started_at, finished_at)
    values ($1, $2, $3, $4, $5, $6, $7, 'skip', 'uploaded', 0, 0, 0, 0, 0, $8, $8, null, null)";

const INSERT_ROW: &str = "insert into import_rows (tenant_id, import_id, row_number, row_key,
        cell_values, state, reason, intent, pipedrive_id)
    values ($1, $2, $3, '', $4, 'pending', null, null, null)";

/// Ends a pending row; the counter of its new state moves in the same transaction.
const FINISH_ROW: &str = "update import_rows set state = $1, reason = $2, pipedrive_id = $3
    where tenant_id = $4 and import_id = $5 and row_number = $6 and state = 'pending'";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("import {what} {value:?}"))
}

fn count(n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| corrupt("count", &n.to_string()))
}

fn number(n: u64) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("row number {n} out of range")))
}

fn strings(value: serde_json::Value, what: &str) -> StoreResult<Vec<String>> {
    serde_json::from_value(value).map_err(|_| corrupt(what, "not a list of strings"))
}

fn import_from_row<B: Backend>(row: &B::Row) -> StoreResult<Import> {
    let (tenant, id): (Id, Id) = (B::get(row, "tenant_id")?, B::get(row, "id")?);
    let (kind, policy, state): (String, String, String) = (
        B::get(row, "kind")?,
        B::get(row, "policy")?,
        B::get(row, "state")?,
    );
    let counter = |name: &str| B::get(row, name).and_then(count);
    let time = |name: &str| B::get(row, name).map(|t: QueueTime| t.0);
    let optional = |name: &str| B::get(row, name).map(|t: Option<QueueTime>| t.map(|t| t.0));
    Ok(Import {
        tenant_id: TenantId::from_uuid(tenant.0),
        id: id.0,
        user_id: UserId::new(B::get(row, "user_id")?),
        kind: ImportKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        file_name: B::get(row, "file_name")?,
        headers: strings(B::get(row, "headers")?, "headers")?,
        mapping: B::get(row, "mapping")?,
        policy: DuplicatePolicy::parse(&policy).ok_or_else(|| corrupt("policy", &policy))?,
        state: ImportState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        total_rows: counter("total_rows")?,
        done_rows: counter("done_rows")?,
        failed_rows: counter("failed_rows")?,
        skipped_rows: counter("skipped_rows")?,
        tokens_spent: counter("tokens_spent")?,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
        started_at: optional("started_at")?,
        finished_at: optional("finished_at")?,
    })
}

fn import_row_from_row<B: Backend>(row: &B::Row) -> StoreResult<ImportRow> {
    let (import, state): (Id, String) = (B::get(row, "import_id")?, B::get(row, "state")?);
    Ok(ImportRow {
        import_id: import.0,
        row_number: B::get(row, "row_number").and_then(count)?,
        row_key: B::get(row, "row_key")?,
        values: strings(B::get(row, "cell_values")?, "row values")?,
        state: RowState::parse(&state).ok_or_else(|| corrupt("row state", &state))?,
        reason: B::get(row, "reason")?,
        intent: B::get(row, "intent")?,
        pipedrive_id: B::get(row, "pipedrive_id")?,
    })
}

/// The counter column a finished row counts into.
fn counter_column(state: RowState) -> Option<&'static str> {
    match state {
        RowState::Pending => None,
        RowState::Done => Some("done_rows"),
        RowState::Failed => Some("failed_rows"),
        RowState::Skipped => Some("skipped_rows"),
    }
}

#[async_trait]
impl<B: Backend> Imports for SqlStore<B> {
    async fn create_import(&self, new: &NewImport) -> StoreResult<Import> {
        let (headers, mapping) = (serde_json::json!(new.headers), serde_json::json!({}));
        let values = (
            Id(new.tenant_id.as_uuid()),
            Id(new.id),
            new.user_id.get(),
            new.kind.as_str(),
            new.file_name.as_str(),
            &headers,
            &mapping,
            QueueTime(Utc::now()),
        );
        self.execute(INSERT, values).await?;
        self.import(new.tenant_id, new.id)
            .await?
            .ok_or(StoreError::NotFound("import"))
    }

    async fn import(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<Option<Import>> {
        let statement = format!("select {COLUMNS} from imports where tenant_id = $1 and id = $2");
        let values = (Id(tenant_id.as_uuid()), Id(id));
        self.fetch_optional(&statement, values, import_from_row::<B>)
            .await
    }

    async fn imports(&self, tenant_id: TenantId, limit: u32) -> StoreResult<Vec<Import>> {
        let statement = format!(
            "select {COLUMNS} from imports where tenant_id = $1
             order by created_at desc, id desc limit $2"
        );
        let values = (Id(tenant_id.as_uuid()), i64::from(limit));
        self.fetch_all(&statement, values, import_from_row::<B>)
            .await
    }

    async fn add_import_rows(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        rows: &[NewImportRow],
    ) -> StoreResult<()> {
        let (tenant, import) = (Id(tenant_id.as_uuid()), Id(import_id));
        let mut tx = self.begin().await?;
        let statement = "update imports set total_rows = total_rows + $1, updated_at = $2
            where tenant_id = $3 and id = $4";
        let added = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let updated = sql::<B>(statement)
            .binds((added, QueueTime(Utc::now()), tenant, import))
            .execute(&mut tx)
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound("import"));
        }
        for row in rows {
            let cells = serde_json::json!(row.values);
            let values = (tenant, import, number(row.row_number)?, &cells);
            sql::<B>(INSERT_ROW).binds(values).execute(&mut tx).await?;
        }
        commit(tx).await
    }

    async fn import_rows(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        state: Option<RowState>,
        after_row: u64,
        limit: u32,
    ) -> StoreResult<Vec<ImportRow>> {
        let statement = format!(
            "select {ROW_COLUMNS} from import_rows
             where tenant_id = $1 and import_id = $2 and row_number > $3
                 and ($4 = '' or state = $4)
             order by row_number limit $5"
        );
        let values = (
            Id(tenant_id.as_uuid()),
            Id(import_id),
            number(after_row)?,
            state.map_or("", |s| s.as_str()),
            i64::from(limit),
        );
        self.fetch_all(&statement, values, import_row_from_row::<B>)
            .await
    }

    async fn set_import_setup(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        mapping: &serde_json::Value,
        policy: DuplicatePolicy,
    ) -> StoreResult<()> {
        let statement = "update imports set mapping = $1, policy = $2, updated_at = $3
            where tenant_id = $4 and id = $5";
        let values = (
            mapping,
            policy.as_str(),
            QueueTime(Utc::now()),
            Id(tenant_id.as_uuid()),
            Id(id),
        );
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("import")),
            _ => Ok(()),
        }
    }

    async fn transition_import(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        from: &[ImportState],
        to: ImportState,
    ) -> StoreResult<bool> {
        // One-element arrays, read with `->> 0` the same way on both databases.
        let from = serde_json::json!(from.iter().map(|s| [s.as_str()]).collect::<Vec<_>>());
        let now = QueueTime(Utc::now());
        let started = matches!(to, ImportState::Running).then_some(now);
        let finished = matches!(to, ImportState::Done | ImportState::Cancelled).then_some(now);
        let statement = format!(
            "update imports set state = $1, updated_at = $2,
                 started_at = coalesce(started_at, $3), finished_at = coalesce($4, finished_at)
             where tenant_id = $5 and id = $6
                 and state in (select v.value ->> 0 from {elements}($7) v)",
            elements = B::JSON_ELEMENTS,
        );
        let values = (
            to.as_str(),
            now,
            started,
            finished,
            Id(tenant_id.as_uuid()),
            Id(id),
            &from,
        );
        Ok(self.execute(&statement, values).await? > 0)
    }

    async fn delete_import(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<bool> {
        let statement = "delete from imports where tenant_id = $1 and id = $2";
        Ok(self
            .execute(statement, (Id(tenant_id.as_uuid()), Id(id)))
            .await?
            > 0)
    }

    async fn record_row_intent(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        row_number: u64,
        row_key: &str,
        intent: &serde_json::Value,
    ) -> StoreResult<()> {
        let statement = "update import_rows set intent = $1, row_key = $5
            where tenant_id = $2 and import_id = $3 and row_number = $4 and state = 'pending'";
        let values = (
            intent,
            Id(tenant_id.as_uuid()),
            Id(import_id),
            number(row_number)?,
            row_key,
        );
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("pending import row")),
            _ => Ok(()),
        }
    }

    async fn finish_import_row(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        row_number: u64,
        outcome: &RowOutcome,
    ) -> StoreResult<bool> {
        let column = counter_column(outcome.state)
            .ok_or(StoreError::Conflict("a row cannot finish as pending"))?;
        let (tenant, import) = (Id(tenant_id.as_uuid()), Id(import_id));
        let mut tx = self.begin().await?;
        let values = (
            outcome.state.as_str(),
            outcome.reason.as_deref(),
            outcome.pipedrive_id,
            tenant,
            import,
            number(row_number)?,
        );
        if sql::<B>(FINISH_ROW).binds(values).execute(&mut tx).await? == 0 {
            return Ok(false);
        }
        let statement = format!(
            "update imports set {column} = {column} + 1, tokens_spent = tokens_spent + $1,
                 updated_at = $2
             where tenant_id = $3 and id = $4"
        );
        let tokens = i64::try_from(outcome.tokens).unwrap_or(i64::MAX);
        sql::<B>(&statement)
            .binds((tokens, QueueTime(Utc::now()), tenant, import))
            .execute(&mut tx)
            .await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn record_row_intents(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        rows: &[(u64, String)],
        intent: &serde_json::Value,
    ) -> StoreResult<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let listed = rows
            .iter()
            .map(|(row, key)| Ok(serde_json::json!([number(*row)?, key])))
            .collect::<StoreResult<Vec<_>>>()?;
        let listed = serde_json::Value::Array(listed);
        let statement = format!(
            "update import_rows set intent = $1,
                 row_key = (select v.value ->> 1 from {elements}($4) v
                            where cast(v.value ->> 0 as bigint) = import_rows.row_number)
             where tenant_id = $2 and import_id = $3 and state = 'pending'
                 and row_number in (select cast(v.value ->> 0 as bigint) from {elements}($4) v)",
            elements = B::JSON_ELEMENTS,
        );
        let values = (intent, Id(tenant_id.as_uuid()), Id(import_id), &listed);
        self.execute(&statement, values).await
    }

    async fn finish_import_rows(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        rows: &[(u64, RowOutcome)],
    ) -> StoreResult<u64> {
        if rows.iter().any(|(_, o)| o.state == RowState::Pending) {
            return Err(StoreError::Conflict("a row cannot finish as pending"));
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let listed = rows
            .iter()
            .map(|(row, o)| {
                let values = (o.state.as_str(), &o.reason, o.pipedrive_id);
                Ok(serde_json::json!([
                    number(*row)?,
                    values.0,
                    values.1,
                    values.2
                ]))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let listed = serde_json::Value::Array(listed);
        let cell = |n: u8| {
            format!(
                "(select v.value ->> {n} from {elements}($3) v
                  where cast(v.value ->> 0 as bigint) = import_rows.row_number)",
                elements = B::JSON_ELEMENTS
            )
        };
        let statement = format!(
            "update import_rows set state = {state}, reason = {reason},
                 pipedrive_id = cast({id} as bigint)
             where tenant_id = $1 and import_id = $2 and state = 'pending'
                 and row_number in (select cast(v.value ->> 0 as bigint) from {elements}($3) v)
             returning row_number, state",
            state = cell(1),
            reason = cell(2),
            id = cell(3),
            elements = B::JSON_ELEMENTS,
        );
        let (tenant, import) = (Id(tenant_id.as_uuid()), Id(import_id));
        let mut tx = self.begin().await?;
        let ended = sql::<B>(&statement)
            .binds((tenant, import, &listed))
            .fetch_all(&mut tx)
            .await?;
        if ended.is_empty() {
            return Ok(0);
        }
        // Only the rows that were still pending count, with their own tokens.
        let tokens: std::collections::HashMap<u64, u64> =
            rows.iter().map(|(row, o)| (*row, o.tokens)).collect();
        let (mut counts, mut spent) = ([0_i64; 3], 0_u64);
        for row in &ended {
            let number = B::get(row, "row_number").and_then(count)?;
            let state: String = B::get(row, "state")?;
            let slot = match RowState::parse(&state) {
                Some(RowState::Done) => 0,
                Some(RowState::Failed) => 1,
                Some(RowState::Skipped) => 2,
                _ => return Err(corrupt("row state", &state)),
            };
            counts[slot] += 1;
            spent += tokens.get(&number).copied().unwrap_or(0);
        }
        let statement = "update imports set done_rows = done_rows + $1,
                 failed_rows = failed_rows + $2, skipped_rows = skipped_rows + $3,
                 tokens_spent = tokens_spent + $4, updated_at = $5
             where tenant_id = $6 and id = $7";
        let spent = i64::try_from(spent).unwrap_or(i64::MAX);
        sql::<B>(statement)
            .binds((counts[0], counts[1], counts[2], spent))
            .binds((QueueTime(Utc::now()), tenant, import))
            .execute(&mut tx)
            .await?;
        commit(tx).await?;
        Ok(ended.len() as u64)
    }

    async fn earlier_row_with_key(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        row_key: &str,
        before_row: u64,
    ) -> StoreResult<Option<ImportRow>> {
        let statement = format!(
            "select {ROW_COLUMNS} from import_rows
             where tenant_id = $1 and import_id = $2 and row_key = $3 and row_number < $4
                 and pipedrive_id is not null
             order by row_number limit 1"
        );
        let values = (
            Id(tenant_id.as_uuid()),
            Id(import_id),
            row_key,
            number(before_row)?,
        );
        self.fetch_optional(&statement, values, import_row_from_row::<B>)
            .await
    }

    async fn claimed_pipedrive_ids(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        pipedrive_ids: &[i64],
    ) -> StoreResult<Vec<i64>> {
        let ids = serde_json::json!(pipedrive_ids.iter().map(|id| [id]).collect::<Vec<_>>());
        let statement = format!(
            "select pipedrive_id from import_rows
             where tenant_id = $1 and import_id = $2 and pipedrive_id is not null
                 and pipedrive_id in (select cast(v.value ->> 0 as bigint) from {elements}($3) v)",
            elements = B::JSON_ELEMENTS,
        );
        let values = (Id(tenant_id.as_uuid()), Id(import_id), &ids);
        self.fetch_all(&statement, values, |row| B::get(row, "pipedrive_id"))
            .await
    }
}
