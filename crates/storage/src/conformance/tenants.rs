use std::sync::Arc;

use dealbridge_core::tenant::{NewTenant, TenantStatus};
use dealbridge_core::{CompanyId, TenantId};

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "tenants::upsert_creates_then_updates",
        upsert_creates_then_updates,
    ),
    ("tenants::lookups_miss_cleanly", lookups_miss_cleanly),
    (
        "tenants::status_changes_and_reinstall",
        status_changes_and_reinstall,
    ),
    (
        "tenants::concurrent_upserts_make_one_tenant",
        concurrent_upserts_make_one_tenant,
    ),
];

fn upsert_creates_then_updates(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let created = fixtures::tenant(store.as_ref(), 77).await?;
        ensure_eq!(created.status, TenantStatus::Active, "new tenant status");
        ensure_eq!(created.company_name, "Company 77".to_string(), "name");

        let renamed = store
            .upsert_tenant(&NewTenant {
                company_name: "Renamed".into(),
                ..fixtures::new_tenant(77)
            })
            .await?;
        ensure_eq!(renamed.id, created.id, "same company keeps its tenant id");
        ensure_eq!(
            renamed.company_name,
            "Renamed".to_string(),
            "name refreshed"
        );
        anyhow::ensure!(
            renamed.updated_at >= created.updated_at,
            "updated_at moved back"
        );

        let by_company = store.tenant_by_company(CompanyId::new(77)).await?;
        ensure_eq!(
            by_company.map(|t| t.id),
            Some(created.id),
            "lookup by company"
        );
        let by_id = store.tenant(created.id).await?;
        ensure_eq!(
            by_id.map(|t| t.company_name),
            Some("Renamed".to_string()),
            "lookup by id"
        );
        Ok(())
    })
}

fn lookups_miss_cleanly(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        fixtures::tenant(store.as_ref(), 1).await?;
        anyhow::ensure!(
            store.tenant(TenantId::new()).await?.is_none(),
            "unknown id found"
        );
        anyhow::ensure!(
            store.tenant_by_company(CompanyId::new(2)).await?.is_none(),
            "unknown company found"
        );
        match store
            .set_tenant_status(TenantId::new(), TenantStatus::Paused)
            .await
        {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => anyhow::bail!("status of unknown tenant: expected NotFound, got {other:?}"),
        }
    })
}

fn status_changes_and_reinstall(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 5).await?;
        store
            .set_tenant_status(tenant.id, TenantStatus::Uninstalled)
            .await?;
        let stored = store
            .tenant(tenant.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("gone"))?;
        ensure_eq!(stored.status, TenantStatus::Uninstalled, "after uninstall");

        let again = fixtures::tenant(store.as_ref(), 5).await?;
        ensure_eq!(again.id, tenant.id, "reinstall keeps the tenant id");
        ensure_eq!(again.status, TenantStatus::Active, "reinstall reactivates");
        Ok(())
    })
}

fn concurrent_upserts_make_one_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let attempts = (0..8).map(|_| {
            let store = store.clone();
            async move { store.upsert_tenant(&fixtures::new_tenant(9)).await }
        });
        let results = futures::future::join_all(attempts).await;
        let mut ids = Vec::new();
        for result in results {
            ids.push(result?.id);
        }
        ids.dedup();
        ensure_eq!(
            ids.len(),
            1,
            "concurrent installs of one company made several tenants"
        );
        Ok(())
    })
}
