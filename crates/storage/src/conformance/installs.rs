use std::sync::Arc;

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::tenant::TenantStatus;
use dealbridge_core::{CompanyId, UserId};

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "installs::record_install_writes_tenant_installation_and_audit",
        record_install_writes_tenant_installation_and_audit,
    ),
    (
        "installs::retire_installation_uninstalls_the_last",
        retire_installation_uninstalls_the_last,
    ),
    (
        "installs::token_install_is_idempotent_and_keeps_no_tokens",
        token_install_is_idempotent_and_keeps_no_tokens,
    ),
];

fn audit(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        tenant_id: None,
        actor: "user:1".into(),
        action: action.into(),
        detail: serde_json::json!({}),
    }
}

fn follow_up() -> crate::NewJob {
    crate::NewJob::new("install.provision", serde_json::json!({ "user_id": 4 }))
        .unique_key("install.provision:4")
}

fn record_install_writes_tenant_installation_and_audit(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (tenant, installation) = store
            .record_install(
                &fixtures::new_tenant(40),
                &fixtures::installation(4, 4),
                &audit("install"),
                &[follow_up()],
            )
            .await?;
        ensure_eq!(
            installation.tenant_id,
            tenant.id,
            "installation belongs to the tenant"
        );
        ensure_eq!(
            store
                .tenant_by_company(CompanyId::new(40))
                .await?
                .map(|t| t.id),
            Some(tenant.id),
            "tenant found by company"
        );
        let log = store.audit_log(Some(tenant.id), 10).await?;
        ensure_eq!(log.len(), 1, "audit entry written with the tenant id");
        ensure_eq!(log[0].action, "install".to_string(), "audit action");
        let jobs = store.job_counts(Some(tenant.id)).await?;
        ensure_eq!(jobs.queued, 1, "follow-up job enqueued for the tenant");

        let again = store
            .record_install(
                &fixtures::new_tenant(40),
                &fixtures::installation(4, 9),
                &audit("install"),
                &[follow_up()],
            )
            .await?;
        ensure_eq!(again.0.id, tenant.id, "a reinstall keeps the tenant");
        ensure_eq!(
            again.1.tokens,
            Some(fixtures::tokens(9)),
            "a reinstall stores the new tokens"
        );
        ensure_eq!(
            store.audit_log(Some(tenant.id), 10).await?.len(),
            2,
            "one entry per install"
        );
        let jobs = store.job_counts(Some(tenant.id)).await?;
        ensure_eq!(jobs.queued, 1, "a unique follow-up is not enqueued twice");
        Ok(())
    })
}

fn retire_installation_uninstalls_the_last(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (tenant, _) = store
            .record_install(
                &fixtures::new_tenant(50),
                &fixtures::installation(1, 1),
                &audit("install"),
                &[],
            )
            .await?;
        store
            .upsert_installation(tenant.id, &fixtures::installation(2, 2))
            .await?;

        ensure_eq!(
            store.retire_installation(tenant.id, UserId::new(1)).await?,
            1,
            "one left"
        );
        let first = store.installation(tenant.id, UserId::new(1)).await?;
        ensure_eq!(
            first.as_ref().map(|i| i.status),
            Some(InstallationStatus::Uninstalled),
            "status"
        );
        anyhow::ensure!(
            first.and_then(|i| i.tokens).is_none(),
            "tokens kept after uninstall"
        );
        let still = store.tenant(tenant.id).await?.map(|t| t.status);
        ensure_eq!(still, Some(TenantStatus::Active), "tenant stays active");

        ensure_eq!(
            store.retire_installation(tenant.id, UserId::new(2)).await?,
            0,
            "none left"
        );
        let gone = store.tenant(tenant.id).await?.map(|t| t.status);
        ensure_eq!(
            gone,
            Some(TenantStatus::Uninstalled),
            "tenant retired with its last user"
        );
        match store.retire_installation(tenant.id, UserId::new(3)).await {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => anyhow::bail!("unknown installation: expected NotFound, got {other:?}"),
        }
    })
}

/// Private mode: an installation acting with an API token held in configuration.
fn token_install_is_idempotent_and_keeps_no_tokens(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        // A company that had installed through OAuth and uninstalled, now run privately.
        let (earlier, _) = store
            .record_install(
                &fixtures::new_tenant(60),
                &fixtures::installation(4, 4),
                &audit("install"),
                &[],
            )
            .await?;
        store
            .retire_installation(earlier.id, UserId::new(4))
            .await?;
        let scopes = vec!["api_token".to_string()];
        let (jobs, company, started) = (
            [follow_up()],
            fixtures::new_tenant(60),
            audit("private.start"),
        );
        let record = || {
            store.record_token_install(
                &company,
                UserId::new(4),
                "https://company60.pipedrive.com",
                &scopes,
                &started,
                &jobs,
            )
        };
        let (tenant, installation) = record().await?;
        ensure_eq!(tenant.id, earlier.id, "the company keeps its tenant");
        ensure_eq!(tenant.status, TenantStatus::Active, "tenant active again");
        ensure_eq!(installation.status, InstallationStatus::Active, "active");
        ensure_eq!(installation.tokens, None, "no tokens stored");
        ensure_eq!(installation.scopes, scopes.clone(), "scopes");
        ensure_eq!(
            installation.api_domain,
            "https://company60.pipedrive.com".to_string(),
            "api domain"
        );
        let (again, installation) = record().await?;
        ensure_eq!(again.id, tenant.id, "a restart keeps the tenant");
        ensure_eq!(
            store.installations(tenant.id).await?.len(),
            1,
            "one installation"
        );
        ensure_eq!(installation.tokens, None, "still no tokens");
        let jobs = store.job_counts(Some(tenant.id)).await?;
        ensure_eq!(
            jobs.queued,
            1,
            "an open unique follow-up is not enqueued twice"
        );
        let log = store.audit_log(Some(tenant.id), 10).await?;
        ensure_eq!(
            log.iter().filter(|e| e.action == "private.start").count(),
            2,
            "one entry per start"
        );
        Ok(())
    })
}
