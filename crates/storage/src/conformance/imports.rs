use std::sync::Arc;

use dealbridge_core::{TenantId, UserId};
use uuid::Uuid;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{
    DuplicatePolicy, ImportKind, ImportState, NewImport, NewImportRow, RowOutcome, RowState, Store,
    StoreError,
};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "imports::rows_are_stored_counted_and_paged_per_tenant",
        rows_are_stored_counted_and_paged_per_tenant,
    ),
    (
        "imports::a_row_finishes_once_and_counts_once",
        a_row_finishes_once_and_counts_once,
    ),
    (
        "imports::transitions_only_from_the_states_named",
        transitions_only_from_the_states_named,
    ),
    (
        "imports::the_journal_finds_earlier_keys_and_claimed_ids",
        the_journal_finds_earlier_keys_and_claimed_ids,
    ),
    (
        "imports::rows_take_intents_and_finish_in_batches_once",
        rows_take_intents_and_finish_in_batches_once,
    ),
    (
        "imports::a_purged_tenant_takes_its_imports_along",
        a_purged_tenant_takes_its_imports_along,
    ),
];

fn new_import(tenant_id: TenantId) -> NewImport {
    NewImport {
        tenant_id,
        id: Uuid::now_v7(),
        user_id: UserId::new(42),
        kind: ImportKind::Persons,
        file_name: "people.csv".into(),
        headers: vec!["Name".into(), "Email".into()],
    }
}

fn rows(from: u64, to: u64) -> Vec<NewImportRow> {
    (from..=to)
        .map(|n| NewImportRow {
            row_number: n,
            values: vec![format!("Person {n}"), format!("p{n}@example.com")],
        })
        .collect()
}

fn outcome(state: RowState, id: Option<i64>, tokens: u64) -> RowOutcome {
    RowOutcome {
        state,
        reason: (state == RowState::Failed).then(|| "invalid email".to_owned()),
        pipedrive_id: id,
        tokens,
    }
}

fn rows_are_stored_counted_and_paged_per_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 501).await?.id;
        let other = fixtures::tenant(store.as_ref(), 502).await?.id;
        let import = store.create_import(&new_import(tenant)).await?;
        ensure_eq!(import.state, ImportState::Uploaded, "new state");
        ensure_eq!(import.policy, DuplicatePolicy::Skip, "default policy");
        ensure_eq!(import.headers, vec!["Name", "Email"], "headers");
        store
            .add_import_rows(tenant, import.id, &rows(1, 3))
            .await?;
        store
            .add_import_rows(tenant, import.id, &rows(4, 5))
            .await?;
        let stored = store
            .import(tenant, import.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("import gone"))?;
        ensure_eq!(stored.total_rows, 5, "rows counted");
        ensure_eq!(stored.pending_rows(), 5, "all pending");

        let page = store.import_rows(tenant, import.id, None, 2, 2).await?;
        let numbers: Vec<u64> = page.iter().map(|r| r.row_number).collect();
        ensure_eq!(numbers, vec![3, 4], "keyset page after row 2");
        ensure_eq!(
            page.first().map(|r| r.values.clone()),
            Some(vec!["Person 3".to_owned(), "p3@example.com".to_owned()]),
            "cells in column order"
        );

        ensure_eq!(store.import(other, import.id).await?, None, "scoped read");
        ensure_eq!(store.imports(other, 10).await?.len(), 0, "scoped list");
        ensure_eq!(
            store
                .import_rows(other, import.id, None, 0, 10)
                .await?
                .len(),
            0,
            "scoped rows"
        );
        match store.add_import_rows(other, import.id, &rows(6, 6)).await {
            Err(StoreError::NotFound("import")) => {}
            result => anyhow::bail!("rows added to another tenant's import: {result:?}"),
        }
        match store.add_import_rows(tenant, import.id, &rows(5, 6)).await {
            Err(StoreError::Duplicate("import_rows_pkey")) => {}
            result => anyhow::bail!("a row number twice: {result:?}"),
        }
        ensure_eq!(
            store.import(tenant, import.id).await?.map(|i| i.total_rows),
            Some(5),
            "a refused batch adds nothing"
        );
        ensure_eq!(
            store.delete_import(other, import.id).await?,
            false,
            "scoped delete"
        );
        ensure_eq!(
            store.delete_import(tenant, import.id).await?,
            true,
            "delete"
        );
        ensure_eq!(
            store
                .import_rows(tenant, import.id, None, 0, 10)
                .await?
                .len(),
            0,
            "rows go with their import"
        );
        Ok(())
    })
}

fn a_row_finishes_once_and_counts_once(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 503).await?.id;
        let other = fixtures::tenant(store.as_ref(), 504).await?.id;
        let import = store.create_import(&new_import(tenant)).await?;
        store
            .add_import_rows(tenant, import.id, &rows(1, 3))
            .await?;
        let intent = serde_json::json!({"op": "create", "seen": []});
        store
            .record_row_intent(tenant, import.id, 1, "p1@example.com", &intent)
            .await?;
        match store
            .record_row_intent(other, import.id, 1, "p1@example.com", &intent)
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            result => anyhow::bail!("intent on another tenant's row: {result:?}"),
        }
        let done = outcome(RowState::Done, Some(900), 25);
        ensure_eq!(
            store.finish_import_row(other, import.id, 1, &done).await?,
            false,
            "scoped finish"
        );
        ensure_eq!(
            store.finish_import_row(tenant, import.id, 1, &done).await?,
            true,
            "finished"
        );
        ensure_eq!(
            store.finish_import_row(tenant, import.id, 1, &done).await?,
            false,
            "a second finish changes nothing"
        );
        let failed = outcome(RowState::Failed, None, 0);
        store
            .finish_import_row(tenant, import.id, 2, &failed)
            .await?;
        store
            .finish_import_row(
                tenant,
                import.id,
                3,
                &outcome(RowState::Skipped, Some(7), 20),
            )
            .await?;
        let stored = store
            .import(tenant, import.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("import gone"))?;
        ensure_eq!(
            (stored.done_rows, stored.failed_rows, stored.skipped_rows),
            (1, 1, 1),
            "each row counted once"
        );
        ensure_eq!(stored.tokens_spent, 45, "tokens added once per row");
        let failures = store
            .import_rows(tenant, import.id, Some(RowState::Failed), 0, 10)
            .await?;
        ensure_eq!(failures.len(), 1, "failed rows listed by state");
        ensure_eq!(
            failures.first().and_then(|r| r.reason.clone()),
            Some("invalid email".to_owned()),
            "the reason kept"
        );
        let first = store.import_rows(tenant, import.id, None, 0, 1).await?;
        ensure_eq!(
            first.first().map(|r| (r.row_key.clone(), r.intent.clone())),
            Some(("p1@example.com".to_owned(), Some(intent))),
            "the key and intent kept"
        );
        match store
            .record_row_intent(
                tenant,
                import.id,
                1,
                "p1@example.com",
                &serde_json::json!({}),
            )
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            result => anyhow::bail!("an intent on a finished row: {result:?}"),
        }
        match store
            .finish_import_row(tenant, import.id, 1, &outcome(RowState::Pending, None, 0))
            .await
        {
            Err(StoreError::Conflict(_)) => {}
            result => anyhow::bail!("finished as pending: {result:?}"),
        }
        Ok(())
    })
}

fn transitions_only_from_the_states_named(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 505).await?.id;
        let import = store.create_import(&new_import(tenant)).await?;
        let mapping = serde_json::json!({"0": "name", "1": "email"});
        store
            .set_import_setup(tenant, import.id, &mapping, DuplicatePolicy::Update)
            .await?;
        use ImportState::*;
        ensure_eq!(
            store
                .transition_import(tenant, import.id, &[Validated], Running)
                .await?,
            false,
            "not validated yet"
        );
        ensure_eq!(
            store
                .transition_import(tenant, import.id, &[Uploaded, Validated], Validated)
                .await?,
            true,
            "validated"
        );
        store
            .transition_import(tenant, import.id, &[Validated], Running)
            .await?;
        let running = store
            .import(tenant, import.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("import gone"))?;
        ensure_eq!(running.state, Running, "running");
        ensure_eq!(running.mapping, mapping, "mapping kept");
        ensure_eq!(running.policy, DuplicatePolicy::Update, "policy kept");
        anyhow::ensure!(running.started_at.is_some(), "started_at set");
        anyhow::ensure!(running.finished_at.is_none(), "not finished");
        store
            .transition_import(tenant, import.id, &[Running], Cancelled)
            .await?;
        ensure_eq!(
            store
                .transition_import(tenant, import.id, &[Running, Paused], Running)
                .await?,
            false,
            "a cancelled import stays cancelled"
        );
        let cancelled = store
            .import(tenant, import.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("import gone"))?;
        anyhow::ensure!(cancelled.finished_at.is_some(), "finished_at set");
        ensure_eq!(cancelled.started_at, running.started_at, "started_at kept");
        Ok(())
    })
}

fn the_journal_finds_earlier_keys_and_claimed_ids(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 506).await?.id;
        let other = fixtures::tenant(store.as_ref(), 507).await?.id;
        let import = store.create_import(&new_import(tenant)).await?;
        store
            .add_import_rows(tenant, import.id, &rows(1, 3))
            .await?;
        let intent = serde_json::json!({"op": "create"});
        for row in 1..=3 {
            store
                .record_row_intent(tenant, import.id, row, "same@example.com", &intent)
                .await?;
        }
        ensure_eq!(
            store
                .earlier_row_with_key(tenant, import.id, "same@example.com", 3)
                .await?,
            None,
            "no earlier row has an id yet"
        );
        store
            .finish_import_row(tenant, import.id, 2, &outcome(RowState::Done, Some(77), 5))
            .await?;
        let earlier = store
            .earlier_row_with_key(tenant, import.id, "same@example.com", 3)
            .await?;
        ensure_eq!(earlier.map(|r| r.row_number), Some(2), "the earlier row");
        ensure_eq!(
            store
                .earlier_row_with_key(tenant, import.id, "same@example.com", 2)
                .await?,
            None,
            "only rows before"
        );
        ensure_eq!(
            store
                .earlier_row_with_key(other, import.id, "same@example.com", 3)
                .await?,
            None,
            "scoped key lookup"
        );
        ensure_eq!(
            store
                .claimed_pipedrive_ids(tenant, import.id, &[76, 77, 78])
                .await?,
            vec![77],
            "claimed ids"
        );
        ensure_eq!(
            store.claimed_pipedrive_ids(other, import.id, &[77]).await?,
            Vec::<i64>::new(),
            "scoped claimed ids"
        );
        Ok(())
    })
}

fn a_purged_tenant_takes_its_imports_along(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let gone = fixtures::tenant(store.as_ref(), 508).await?.id;
        let stays = fixtures::tenant(store.as_ref(), 509).await?.id;
        let mut ids = Vec::new();
        for tenant in [gone, stays] {
            let import = store.create_import(&new_import(tenant)).await?;
            store
                .add_import_rows(tenant, import.id, &rows(1, 2))
                .await?;
            ids.push(import.id);
        }
        store
            .set_tenant_status(gone, dealbridge_core::tenant::TenantStatus::Uninstalled)
            .await?;
        let purged = store
            .purge_uninstalled(chrono::Utc::now() + chrono::Duration::seconds(1), 100)
            .await?;
        ensure_eq!(purged.len(), 1, "one tenant purged");
        ensure_eq!(store.imports(gone, 10).await?.len(), 0, "imports gone");
        ensure_eq!(
            store.import_rows(gone, ids[0], None, 0, 10).await?.len(),
            0,
            "rows gone"
        );
        ensure_eq!(
            store.import_rows(stays, ids[1], None, 0, 10).await?.len(),
            2,
            "others kept"
        );
        Ok(())
    })
}

fn rows_take_intents_and_finish_in_batches_once(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 510).await?.id;
        let other = fixtures::tenant(store.as_ref(), 511).await?.id;
        let import = store.create_import(&new_import(tenant)).await?;
        store
            .add_import_rows(tenant, import.id, &rows(1, 5))
            .await?;
        let intent = serde_json::json!({"op": "create", "existing": []});
        let keyed: Vec<(u64, String)> = (1..=4).map(|n| (n, format!("p{n}@example.com"))).collect();
        ensure_eq!(
            store
                .record_row_intents(other, import.id, &keyed, &intent)
                .await?,
            0,
            "scoped intents"
        );
        ensure_eq!(
            store
                .record_row_intents(tenant, import.id, &keyed, &intent)
                .await?,
            4,
            "four rows took the intent"
        );
        let stored = store.import_rows(tenant, import.id, None, 0, 10).await?;
        let kept: Vec<_> = stored
            .iter()
            .map(|r| (r.row_key.clone(), r.intent.is_some()))
            .collect();
        ensure_eq!(
            kept,
            vec![
                ("p1@example.com".to_owned(), true),
                ("p2@example.com".to_owned(), true),
                ("p3@example.com".to_owned(), true),
                ("p4@example.com".to_owned(), true),
                (String::new(), false),
            ],
            "each row its own key"
        );

        let first = vec![
            (1, outcome(RowState::Done, Some(101), 10)),
            (2, outcome(RowState::Failed, None, 0)),
        ];
        ensure_eq!(
            store.finish_import_rows(other, import.id, &first).await?,
            0,
            "scoped finish"
        );
        ensure_eq!(
            store.finish_import_rows(tenant, import.id, &first).await?,
            2,
            "two ended"
        );
        // Row 1 again (already done) with rows 3 and 4: only the pending ones end and count.
        let second = vec![
            (1, outcome(RowState::Done, Some(999), 10)),
            (3, outcome(RowState::Done, Some(103), 10)),
            (4, outcome(RowState::Skipped, Some(104), 5)),
        ];
        ensure_eq!(
            store.finish_import_rows(tenant, import.id, &second).await?,
            2,
            "a row already ended is not ended twice"
        );
        let stored = store
            .import(tenant, import.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("import gone"))?;
        ensure_eq!(
            (stored.done_rows, stored.failed_rows, stored.skipped_rows),
            (2, 1, 1),
            "each row counted once"
        );
        ensure_eq!(stored.tokens_spent, 25, "tokens of the rows that ended");
        let rows = store.import_rows(tenant, import.id, None, 0, 10).await?;
        let ended: Vec<_> = rows
            .iter()
            .map(|r| (r.state, r.pipedrive_id, r.reason.clone()))
            .collect();
        ensure_eq!(
            ended,
            vec![
                (RowState::Done, Some(101), None),
                (RowState::Failed, None, Some("invalid email".to_owned())),
                (RowState::Done, Some(103), None),
                (RowState::Skipped, Some(104), None),
                (RowState::Pending, None, None),
            ],
            "each row its own outcome"
        );
        match store
            .finish_import_rows(
                tenant,
                import.id,
                &[(5, outcome(RowState::Pending, None, 0))],
            )
            .await
        {
            Err(StoreError::Conflict(_)) => {}
            result => anyhow::bail!("finished as pending: {result:?}"),
        }
        Ok(())
    })
}
