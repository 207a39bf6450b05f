use std::sync::Arc;

use chrono::{Duration, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::fields::{FieldEntity, FieldPurpose};
use dealbridge_core::tenant::TenantStatus;
use dealbridge_core::{TenantId, UserId};

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{NewTokenRefresh, RefreshOutcome, Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "retention::uninstalled_at_follows_the_status",
        uninstalled_at_follows_the_status,
    ),
    (
        "retention::purge_takes_only_tenants_gone_before_the_cutoff",
        purge_takes_only_tenants_gone_before_the_cutoff,
    ),
    (
        "retention::purge_removes_everything_the_tenant_owned",
        purge_removes_everything_the_tenant_owned,
    ),
    (
        "retention::provisioned_fields_are_per_tenant_and_replaced",
        provisioned_fields_are_per_tenant_and_replaced,
    ),
];

/// A tenant with one installation, uninstalled by its only user.
async fn departed(store: &dyn Store, company: i64) -> anyhow::Result<TenantId> {
    let tenant = fixtures::tenant(store, company).await?;
    store
        .upsert_installation(tenant.id, &fixtures::installation(company, 1))
        .await?;
    store
        .retire_installation(tenant.id, UserId::new(company))
        .await?;
    Ok(tenant.id)
}

fn uninstalled_at_follows_the_status(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let before = Utc::now() - Duration::seconds(1);
        let id = departed(store.as_ref(), 61).await?;
        let at = store.uninstalled_at(id).await?;
        anyhow::ensure!(
            at.is_some_and(|at| at >= before && at <= Utc::now() + Duration::seconds(1)),
            "uninstall time not recorded: {at:?}"
        );

        store.upsert_tenant(&fixtures::new_tenant(61)).await?;
        ensure_eq!(store.uninstalled_at(id).await?, None, "reinstall clears it");

        store
            .set_tenant_status(id, TenantStatus::Uninstalled)
            .await?;
        let first = store.uninstalled_at(id).await?;
        anyhow::ensure!(first.is_some(), "status change records it");
        store
            .set_tenant_status(id, TenantStatus::Uninstalled)
            .await?;
        ensure_eq!(
            store.uninstalled_at(id).await?,
            first,
            "a repeated uninstall keeps the first time"
        );
        store.set_tenant_status(id, TenantStatus::Active).await?;
        ensure_eq!(store.uninstalled_at(id).await?, None, "active again");
        ensure_eq!(
            store.uninstalled_at(TenantId::new()).await?,
            None,
            "unknown tenant"
        );
        Ok(())
    })
}

fn purge_takes_only_tenants_gone_before_the_cutoff(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let gone = departed(store.as_ref(), 62).await?;
        let active = fixtures::tenant(store.as_ref(), 63).await?;
        let returned = departed(store.as_ref(), 64).await?;
        store.upsert_tenant(&fixtures::new_tenant(64)).await?;

        let left_at = store
            .uninstalled_at(gone)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no uninstall time"))?;
        let early = store
            .purge_uninstalled(left_at - Duration::seconds(1), 100)
            .await?;
        ensure_eq!(early.len(), 0, "nothing is due before its time");
        anyhow::ensure!(store.tenant(gone).await?.is_some(), "purged too early");

        let purged = store
            .purge_uninstalled(Utc::now() + Duration::seconds(1), 100)
            .await?;
        ensure_eq!(
            purged.iter().map(|p| p.tenant_id).collect::<Vec<_>>(),
            vec![gone],
            "only the departed tenant"
        );
        ensure_eq!(purged[0].company_id.get(), 62, "company reported");
        ensure_eq!(store.tenant(gone).await?, None, "tenant row deleted");
        anyhow::ensure!(
            store.tenant(active.id).await?.is_some(),
            "active tenant purged"
        );
        anyhow::ensure!(
            store.tenant(returned).await?.is_some(),
            "reinstalled tenant purged"
        );
        let again = store
            .purge_uninstalled(Utc::now() + Duration::seconds(1), 100)
            .await?;
        ensure_eq!(again.len(), 0, "a purge is done once");
        Ok(())
    })
}

fn purge_removes_everything_the_tenant_owned(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 65).await?;
        store
            .upsert_installation(tenant.id, &fixtures::installation(65, 1))
            .await?;
        store
            .save_settings(
                tenant.id,
                None,
                &serde_json::json!({ "owner_email": "ann@example.com" }),
                Some("ann@example.com"),
            )
            .await?;
        store
            .append_audit(&NewAuditEntry {
                tenant_id: Some(tenant.id),
                actor: "pipedrive_user:65".into(),
                action: "settings.saved".into(),
                detail: serde_json::json!({ "by": "ann@example.com" }),
            })
            .await?;
        store
            .record_field(
                tenant.id,
                FieldPurpose::DealOrderId,
                FieldEntity::Deal,
                "abc123",
            )
            .await?;
        store.enqueue(&super::jobs::job(tenant.id, 1)).await?;
        store
            .record_token_refresh(&NewTokenRefresh {
                tenant_id: tenant.id,
                user_id: UserId::new(65),
                outcome: RefreshOutcome::Refreshed,
                reason: None,
                at: Utc::now(),
            })
            .await?;
        store
            .retire_installation(tenant.id, UserId::new(65))
            .await?;
        // Uninstall cancels jobs in the app; one enqueued afterwards (a late webhook) must go too.
        store.enqueue(&super::jobs::job(tenant.id, 2)).await?;

        let purged = store
            .purge_uninstalled(Utc::now() + Duration::seconds(1), 10)
            .await?;
        ensure_eq!(purged.len(), 1, "purged");
        ensure_eq!(
            store.installations(tenant.id).await?.len(),
            0,
            "installations"
        );
        ensure_eq!(store.settings(tenant.id).await?, None, "settings");
        ensure_eq!(
            store.settings_history(tenant.id, 10).await?.len(),
            0,
            "settings history"
        );
        ensure_eq!(
            store.audit_log(Some(tenant.id), 10).await?.len(),
            0,
            "tenant audit log"
        );
        ensure_eq!(
            store.provisioned_fields(tenant.id).await?.len(),
            0,
            "provisioned fields"
        );
        let jobs = store.job_counts(Some(tenant.id)).await?;
        ensure_eq!(jobs.queued + jobs.running + jobs.dead, 0, "jobs");
        ensure_eq!(
            store.token_refreshes(tenant.id, None, 10).await?.len(),
            0,
            "token refreshes"
        );

        let system = store.audit_log(None, 10).await?;
        let entry = system
            .iter()
            .find(|e| e.action == "tenant.purged")
            .ok_or_else(|| anyhow::anyhow!("no purge entry in the system log"))?;
        ensure_eq!(
            entry.detail.get("company_id").and_then(|v| v.as_i64()),
            Some(65),
            "purge entry names the company"
        );
        anyhow::ensure!(
            !entry.detail.to_string().contains("example.com"),
            "purge entry kept personal data: {}",
            entry.detail
        );
        Ok(())
    })
}

fn provisioned_fields_are_per_tenant_and_replaced(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 66).await?;
        let b = fixtures::tenant(store.as_ref(), 67).await?;
        store
            .record_field(a.id, FieldPurpose::DealOrderStatus, FieldEntity::Deal, "s1")
            .await?;
        store
            .record_field(a.id, FieldPurpose::DealOrderId, FieldEntity::Deal, "i1")
            .await?;
        let replaced = store
            .record_field(a.id, FieldPurpose::DealOrderStatus, FieldEntity::Deal, "s2")
            .await?;
        ensure_eq!(replaced.field_code, "s2".to_string(), "replaced code");
        store
            .record_field(b.id, FieldPurpose::DealOrderId, FieldEntity::Deal, "other")
            .await?;

        let fields = store.provisioned_fields(a.id).await?;
        let codes: Vec<_> = fields
            .iter()
            .map(|f| (f.purpose, f.field_code.as_str()))
            .collect();
        ensure_eq!(
            codes,
            vec![
                (FieldPurpose::DealOrderId, "i1"),
                (FieldPurpose::DealOrderStatus, "s2"),
            ],
            "tenant a's fields"
        );
        ensure_eq!(
            store.provisioned_fields(b.id).await?.len(),
            1,
            "tenant b's fields"
        );
        match store
            .record_field(
                TenantId::new(),
                FieldPurpose::DealOrderId,
                FieldEntity::Deal,
                "x",
            )
            .await
        {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => anyhow::bail!("unknown tenant: expected NotFound, got {other:?}"),
        }
    })
}
