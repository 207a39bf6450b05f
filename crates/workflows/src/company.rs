//! A Pipedrive client acting for one tenant, built from what the store knows about it.

use std::sync::Arc;

use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::{TenantId, UserId};
use dealbridge_jobs::JobError;
use dealbridge_pipedrive::{CompanyClient, CompanyCtx, Lane, TokenSource};

use crate::errors::{store_error, wait_for_reconnect, BadApiDomain};
use crate::Workflows;

impl Workflows {
    /// The client for `user_id`'s installation in the tenant, spending from the company's budget
    /// in `lane`. A tenant or installation that is gone makes the job permanent (nothing to act
    /// for); one waiting for its user to reconnect makes the job wait.
    pub async fn company_client(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        lane: Lane,
    ) -> Result<CompanyClient, JobError> {
        let tenant = self
            .store
            .tenant(tenant_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| JobError::permanent("the tenant no longer exists"))?;
        let installation = self
            .store
            .installation(tenant_id, user_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| JobError::permanent("the installation no longer exists"))?;
        match installation.status {
            InstallationStatus::Active => {}
            InstallationStatus::NeedsReauth => return Err(wait_for_reconnect(None)),
            InstallationStatus::Uninstalled => {
                return Err(JobError::permanent("the app was uninstalled"))
            }
        }
        let token_source: Arc<dyn TokenSource> = match &self.private {
            None => Arc::new(self.vault.source(tenant_id, user_id)),
            // The token belongs to one company: acting for another with it would touch the wrong
            // company's data (or be refused), whatever the store holds from an earlier setup.
            Some(private) if private.company_id == tenant.company_id => {
                Arc::new(private.token.clone())
            }
            Some(_) => {
                return Err(JobError::permanent(
                    "private mode acts only for the company of its API token",
                ))
            }
        };
        let api_domain = url::Url::parse(&installation.api_domain)
            .map_err(|e| JobError::permanent(BadApiDomain(e)))?;
        let ids = u64::try_from(tenant.company_id.get())
            .ok()
            .zip(u64::try_from(user_id.get()).ok());
        let (company, user) =
            ids.ok_or_else(|| JobError::permanent("negative Pipedrive id in the store"))?;
        Ok(self.pipedrive.company(CompanyCtx {
            company_id: dealbridge_pipedrive::CompanyId(company),
            user_id: dealbridge_pipedrive::UserId(user),
            api_domain,
            token_source,
            lane,
        }))
    }
}
