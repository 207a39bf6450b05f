//! Pausing a tenant: its jobs wait (neither listed as ready nor claimed) while other tenants' run,
//! the change and its audit entry are one write, and resuming lets the jobs run.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::tenant::{NewTenant, TenantStatus};
use dealbridge_core::{CompanyId, TenantId};

use super::jobs::{claim_one_queue, job};
use super::{ensure_eq, Check, CheckFuture};
use crate::{Claim, Lane, LeaseId, QueueTake, ReadyQueue, Store};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "tenants::paused_tenants_jobs_wait_until_resumed",
        paused_tenants_jobs_wait_until_resumed,
    ),
    (
        "tenants::status_changes_only_from_the_expected_status",
        status_changes_only_from_the_expected_status,
    ),
];

const MINUTE: Duration = Duration::from_secs(60);

fn company(n: i64) -> NewTenant {
    NewTenant {
        company_id: CompanyId::new(n),
        company_name: format!("Company {n}"),
        company_domain: format!("company{n}"),
    }
}

fn audit(action: &str, reason: &str) -> NewAuditEntry {
    NewAuditEntry {
        tenant_id: None,
        actor: "staff:ada@dealbridge.test".into(),
        action: action.into(),
        detail: serde_json::json!({ "reason": reason }),
    }
}

async fn ready_tenants(store: &dyn Store) -> anyhow::Result<Vec<Option<TenantId>>> {
    let queues = store.ready_queues(Utc::now(), None, 100).await?;
    Ok(queues.into_iter().map(|q| q.tenant_id).collect())
}

fn paused_tenants_jobs_wait_until_resumed(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let paused = store.upsert_tenant(&company(1)).await?.id;
        let running = store.upsert_tenant(&company(2)).await?.id;
        for tenant in [paused, running] {
            store.enqueue(&job(tenant, 1)).await?;
        }
        let changed = store
            .change_tenant_status(
                paused,
                TenantStatus::Active,
                TenantStatus::Paused,
                &audit("tenant.paused", "runaway imports"),
            )
            .await?;
        ensure_eq!(changed, true, "paused");

        let ready = ready_tenants(store.as_ref()).await?;
        anyhow::ensure!(
            !ready.contains(&Some(paused)),
            "paused queue listed: {ready:?}"
        );
        anyhow::ensure!(
            ready.contains(&Some(running)),
            "other tenant missing: {ready:?}"
        );
        // Even asked for directly (a worker that listed the queue before the pause), nothing comes.
        let takes: Vec<QueueTake> = [paused, running]
            .into_iter()
            .map(|tenant| QueueTake {
                queue: ReadyQueue {
                    tenant_id: Some(tenant),
                    lane: Lane::Default,
                },
                limit: 10,
            })
            .collect();
        let claim = Claim {
            worker: "w1",
            lease_id: LeaseId::new(),
            now: Utc::now(),
            lease: MINUTE,
            takes: &takes,
        };
        let claimed = store.claim_jobs(&claim).await?;
        let tenants: Vec<_> = claimed.iter().map(|j| j.tenant_id).collect();
        ensure_eq!(
            tenants,
            vec![Some(running)],
            "only the running tenant's job"
        );

        // A reinstall does not lift a pause: support paused it, support resumes it.
        store.upsert_tenant(&company(1)).await?;
        let status = store.tenant(paused).await?.map(|t| t.status);
        ensure_eq!(
            status,
            Some(TenantStatus::Paused),
            "still paused after a reinstall"
        );
        ensure_eq!(
            claim_one_queue(store.as_ref(), Some(paused), 10, MINUTE)
                .await?
                .len(),
            0,
            "still waiting"
        );

        let resumed = store
            .change_tenant_status(
                paused,
                TenantStatus::Paused,
                TenantStatus::Active,
                &audit("tenant.resumed", "imports fixed"),
            )
            .await?;
        ensure_eq!(resumed, true, "resumed");
        anyhow::ensure!(
            ready_tenants(store.as_ref()).await?.contains(&Some(paused)),
            "resumed queue not listed"
        );
        let claimed = claim_one_queue(store.as_ref(), Some(paused), 10, MINUTE).await?;
        ensure_eq!(claimed.len(), 1, "the waiting job runs");

        let log = store.audit_log(Some(paused), 10).await?;
        let entries: Vec<_> = log
            .iter()
            .map(|e| (e.action.as_str(), e.detail["reason"].as_str(), e.tenant_id))
            .collect();
        ensure_eq!(
            entries,
            vec![
                ("tenant.resumed", Some("imports fixed"), Some(paused)),
                ("tenant.paused", Some("runaway imports"), Some(paused)),
            ],
            "audited with the reason, as entries of that tenant"
        );
        ensure_eq!(
            store.audit_log(Some(running), 10).await?.len(),
            0,
            "nothing on the other tenant"
        );
        Ok(())
    })
}

fn status_changes_only_from_the_expected_status(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = store.upsert_tenant(&company(3)).await?.id;
        let resume = store
            .change_tenant_status(
                tenant,
                TenantStatus::Paused,
                TenantStatus::Active,
                &audit("tenant.resumed", "not paused"),
            )
            .await?;
        ensure_eq!(resume, false, "an active tenant is not resumed");
        let unknown = store
            .change_tenant_status(
                TenantId::new(),
                TenantStatus::Active,
                TenantStatus::Paused,
                &audit("tenant.paused", "nobody"),
            )
            .await?;
        ensure_eq!(unknown, false, "no such tenant");
        store
            .set_tenant_status(tenant, TenantStatus::Uninstalled)
            .await?;
        let pause = store
            .change_tenant_status(
                tenant,
                TenantStatus::Active,
                TenantStatus::Paused,
                &audit("tenant.paused", "gone"),
            )
            .await?;
        ensure_eq!(pause, false, "an uninstalled tenant is not paused");
        ensure_eq!(
            store.audit_log(Some(tenant), 10).await?.len(),
            0,
            "refused changes write no entry"
        );
        let status = store.tenant(tenant).await?.map(|t| t.status);
        ensure_eq!(status, Some(TenantStatus::Uninstalled), "unchanged");
        Ok(())
    })
}
