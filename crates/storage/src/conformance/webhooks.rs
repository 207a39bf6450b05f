use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::{CompanyId, TenantId};

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{MirrorLookup, MirrorRecord, NewWebhookRegistration, Store, StoreError, WebhookState};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "webhooks::a_registration_is_created_once_and_found_by_path",
        a_registration_is_created_once_and_found_by_path,
    ),
    (
        "webhooks::ids_and_state_are_recorded_and_dropped",
        ids_and_state_are_recorded_and_dropped,
    ),
    (
        "webhooks::reconcile_watermarks_are_kept_per_tenant",
        reconcile_watermarks_are_kept_per_tenant,
    ),
    (
        "webhooks::mirror_coverage_follows_checks_and_sweeps",
        mirror_coverage_follows_checks_and_sweeps,
    ),
    (
        "mirror::records_are_found_by_their_keys_per_tenant",
        records_are_found_by_their_keys_per_tenant,
    ),
    (
        "mirror::an_older_change_never_overwrites_a_newer_one",
        an_older_change_never_overwrites_a_newer_one,
    ),
];

fn registration(tenant_id: TenantId, path: &str) -> NewWebhookRegistration {
    NewWebhookRegistration {
        tenant_id,
        path_token: path.to_owned(),
        username: format!("user-{path}"),
        credentials: vec![1, 2, 3, path.len() as u8],
    }
}

fn a_registration_is_created_once_and_found_by_path(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 301).await?;
        let first = store
            .ensure_webhook_registration(&registration(tenant.id, "path-a"))
            .await?;
        ensure_eq!(first.company_id, CompanyId::new(301), "company");
        ensure_eq!(first.state, WebhookState::Active, "new state");
        ensure_eq!(first.credentials, vec![1, 2, 3, 6], "sealed credentials");
        // A retried provision keeps what it registered with first.
        let again = store
            .ensure_webhook_registration(&registration(tenant.id, "path-b"))
            .await?;
        ensure_eq!(again.path_token, "path-a", "first path kept");
        let found = store.webhook_registration_by_path("path-a").await?;
        ensure_eq!(found.map(|r| r.tenant_id), Some(tenant.id), "by path");
        ensure_eq!(
            store.webhook_registration_by_path("path-b").await?,
            None,
            "unused path"
        );

        let other = fixtures::tenant(store.as_ref(), 302).await?;
        match store
            .ensure_webhook_registration(&registration(other.id, "path-a"))
            .await
        {
            Err(StoreError::Duplicate("pipedrive_webhooks_path_token_key")) => {}
            other => anyhow::bail!("a path token was shared: {other:?}"),
        }
        match store
            .ensure_webhook_registration(&registration(TenantId::new(), "path-c"))
            .await
        {
            Err(StoreError::NotFound("tenant")) => {}
            other => anyhow::bail!("an unknown tenant got a registration: {other:?}"),
        }
        Ok(())
    })
}

fn ids_and_state_are_recorded_and_dropped(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 303).await?.id;
        store
            .ensure_webhook_registration(&registration(tenant, "path-d"))
            .await?;
        let ids = BTreeMap::from([("deal.*".to_owned(), 11), ("person.*".to_owned(), 12)]);
        store.set_webhook_ids(tenant, &ids).await?;
        let checked = DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default();
        store
            .set_webhook_state(tenant, WebhookState::Banned, checked)
            .await?;
        let stored = store.webhook_registration(tenant).await?;
        let stored = stored.ok_or_else(|| anyhow::anyhow!("registration gone"))?;
        ensure_eq!(stored.webhook_ids, ids, "ids");
        ensure_eq!(stored.state, WebhookState::Banned, "state");
        ensure_eq!(stored.checked_at, Some(checked), "checked at");
        ensure_eq!(store.webhook_tenants().await?, vec![tenant], "listed");

        ensure_eq!(
            store.delete_webhook_registration(tenant).await?,
            true,
            "dropped"
        );
        ensure_eq!(store.webhook_registration(tenant).await?, None, "gone");
        ensure_eq!(
            store.delete_webhook_registration(tenant).await?,
            false,
            "twice"
        );
        match store
            .set_webhook_state(tenant, WebhookState::Active, Utc::now())
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("state set without a registration: {other:?}"),
        }
        Ok(())
    })
}

fn reconcile_watermarks_are_kept_per_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 307).await?.id;
        let other = fixtures::tenant(store.as_ref(), 308).await?.id;
        for (id, path) in [(tenant, "path-e"), (other, "path-f")] {
            store
                .ensure_webhook_registration(&registration(id, path))
                .await?;
        }
        ensure_eq!(
            store.reconcile_watermarks(tenant).await?,
            BTreeMap::new(),
            "none before the first sweep"
        );
        let marks = BTreeMap::from([("deal".to_owned(), at(10)), ("person".to_owned(), at(20))]);
        store.set_reconcile_watermarks(tenant, &marks).await?;
        ensure_eq!(store.reconcile_watermarks(tenant).await?, marks, "kept");
        ensure_eq!(
            store.reconcile_watermarks(other).await?,
            BTreeMap::new(),
            "tenant-scoped"
        );
        let moved = BTreeMap::from([("deal".to_owned(), at(30))]);
        store.set_reconcile_watermarks(tenant, &moved).await?;
        ensure_eq!(store.reconcile_watermarks(tenant).await?, moved, "replaced");
        let unknown = TenantId::new();
        match store.set_reconcile_watermarks(unknown, &moved).await {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("watermarks set without a registration: {other:?}"),
        }
        match store.reconcile_watermarks(unknown).await {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("watermarks read without a registration: {other:?}"),
        }
        Ok(())
    })
}

fn mirror_coverage_follows_checks_and_sweeps(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 309).await?.id;
        let other = fixtures::tenant(store.as_ref(), 310).await?.id;
        for (id, path) in [(tenant, "path-g"), (other, "path-h")] {
            store
                .ensure_webhook_registration(&registration(id, path))
                .await?;
        }
        let coverage = |id| {
            let store = store.clone();
            async move {
                store
                    .mirror_coverage(id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no coverage for a registered tenant"))
            }
        };
        let fresh = coverage(tenant).await?;
        ensure_eq!(fresh.checked_at, None, "never checked");
        ensure_eq!(fresh.active_since, None, "no active run before a check");
        ensure_eq!(fresh.listed, BTreeMap::new(), "nothing listed");

        // Active checks start one unbroken run; a bad check ends it; the next active starts anew.
        for (state, seconds, since) in [
            (WebhookState::Active, 10, Some(at(10))),
            (WebhookState::Active, 20, Some(at(10))),
            (WebhookState::Banned, 30, None),
            (WebhookState::Missing, 40, None),
            (WebhookState::Active, 50, Some(at(50))),
        ] {
            store.set_webhook_state(tenant, state, at(seconds)).await?;
            let now = coverage(tenant).await?;
            ensure_eq!(now.state, state, "state at {seconds}");
            ensure_eq!(now.checked_at, Some(at(seconds)), "checked at {seconds}");
            ensure_eq!(now.active_since, since, "active since, at {seconds}");
        }

        store.mark_mirror_listed(tenant, "person", at(60)).await?;
        store.mark_mirror_listed(tenant, "deal", at(70)).await?;
        // A sweep that started earlier and ended later never moves the mark back.
        store.mark_mirror_listed(tenant, "person", at(55)).await?;
        let listed = BTreeMap::from([("deal".to_owned(), at(70)), ("person".to_owned(), at(60))]);
        ensure_eq!(coverage(tenant).await?.listed, listed, "listed per entity");
        let untouched = coverage(other).await?;
        ensure_eq!(untouched.listed, BTreeMap::new(), "tenant-scoped listing");
        ensure_eq!(untouched.active_since, None, "tenant-scoped run");

        let unknown = TenantId::new();
        ensure_eq!(store.mirror_coverage(unknown).await?, None, "unregistered");
        match store.mark_mirror_listed(unknown, "deal", at(1)).await {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("listed without a registration: {other:?}"),
        }
        store.delete_webhook_registration(tenant).await?;
        ensure_eq!(store.mirror_coverage(tenant).await?, None, "uninstalled");
        Ok(())
    })
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000 + seconds, 0).unwrap_or_default()
}

fn record(entity: PipedriveEntity, id: i64, changed: i64) -> MirrorRecord {
    MirrorRecord {
        entity,
        record_id: id,
        name: Some(format!("Name {id}")),
        email: None,
        domain: None,
        order_id: None,
        changed_at: at(changed),
        data: serde_json::json!({ "id": id, "changed": changed }),
    }
}

fn records_are_found_by_their_keys_per_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 304).await?.id;
        let other = fixtures::tenant(store.as_ref(), 305).await?.id;
        let person = MirrorRecord {
            email: Some("Ada@Example.com".into()),
            ..record(PipedriveEntity::Person, 1, 1)
        };
        let org = MirrorRecord {
            name: Some("Acme GmbH".into()),
            domain: Some("acme.example".into()),
            ..record(PipedriveEntity::Organization, 2, 1)
        };
        let deal = MirrorRecord {
            order_id: Some("1001".into()),
            ..record(PipedriveEntity::Deal, 3, 1)
        };
        for r in [&person, &org, &deal] {
            ensure_eq!(store.upsert_mirror(tenant, r).await?, true, "stored");
        }
        let ids = |found: Vec<MirrorRecord>| found.iter().map(|r| r.record_id).collect::<Vec<_>>();
        let by_email = store
            .find_mirror(tenant, MirrorLookup::PersonEmail(" ada@example.COM"))
            .await?;
        ensure_eq!(ids(by_email), vec![1], "person by email, any case");
        let by_name = store
            .find_mirror(
                tenant,
                MirrorLookup::Name(PipedriveEntity::Organization, "acme gmbh"),
            )
            .await?;
        ensure_eq!(ids(by_name), vec![2], "organization by name");
        let person_by_name = store
            .find_mirror(
                tenant,
                MirrorLookup::Name(PipedriveEntity::Person, "name 1"),
            )
            .await?;
        ensure_eq!(ids(person_by_name), vec![1], "person by name, any case");
        let by_title = store
            .find_mirror(tenant, MirrorLookup::Name(PipedriveEntity::Deal, " NAME 3"))
            .await?;
        ensure_eq!(ids(by_title), vec![3], "deal by title");
        let other_kind = store
            .find_mirror(
                tenant,
                MirrorLookup::Name(PipedriveEntity::Organization, "name 1"),
            )
            .await?;
        ensure_eq!(
            ids(other_kind),
            Vec::<i64>::new(),
            "a name is looked up in its kind"
        );
        let by_domain = store
            .find_mirror(tenant, MirrorLookup::OrganizationDomain("ACME.example"))
            .await?;
        ensure_eq!(ids(by_domain), vec![2], "organization by domain");
        let by_order = store
            .find_mirror(tenant, MirrorLookup::DealOrderId("1001"))
            .await?;
        ensure_eq!(ids(by_order), vec![3], "deal by order id");
        let by_id = store
            .find_mirror(tenant, MirrorLookup::Id(PipedriveEntity::Deal, 3))
            .await?;
        ensure_eq!(by_id, vec![deal.clone()], "deal by id, as stored");
        let theirs = store
            .find_mirror(other, MirrorLookup::Id(PipedriveEntity::Deal, 3))
            .await?;
        ensure_eq!(theirs.len(), 0, "tenant-scoped");
        Ok(())
    })
}

fn an_older_change_never_overwrites_a_newer_one(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 306).await?.id;
        let deal = |changed| record(PipedriveEntity::Deal, 9, changed);
        let find = || store.find_mirror(tenant, MirrorLookup::Id(PipedriveEntity::Deal, 9));
        store.upsert_mirror(tenant, &deal(20)).await?;
        ensure_eq!(
            store.upsert_mirror(tenant, &deal(10)).await?,
            false,
            "older"
        );
        ensure_eq!(find().await?, vec![deal(20)], "newer kept");
        ensure_eq!(store.upsert_mirror(tenant, &deal(30)).await?, true, "newer");

        let gone = store
            .delete_mirror(tenant, PipedriveEntity::Deal, 9, at(40))
            .await?;
        ensure_eq!(gone, true, "deleted");
        ensure_eq!(find().await?.len(), 0, "a deleted record is not found");
        ensure_eq!(
            store.upsert_mirror(tenant, &deal(35)).await?,
            false,
            "late change"
        );
        ensure_eq!(
            store.upsert_mirror(tenant, &deal(40)).await?,
            false,
            "same time"
        );
        ensure_eq!(find().await?.len(), 0, "stays deleted");
        let stale_delete = store
            .delete_mirror(tenant, PipedriveEntity::Deal, 9, at(1))
            .await?;
        ensure_eq!(stale_delete, false, "an older delete is ignored");
        ensure_eq!(
            store.upsert_mirror(tenant, &deal(50)).await?,
            true,
            "recreated"
        );
        ensure_eq!(find().await?, vec![deal(50)], "back");
        Ok(())
    })
}
