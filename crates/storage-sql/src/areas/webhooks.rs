//! Pipedrive webhook registrations, one row per tenant.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{
    MirrorCoverage, NewWebhookRegistration, StoreError, StoreResult, WebhookRegistration,
    WebhookRegistrations, WebhookState,
};

use crate::backend::Backend;
use crate::values::{Id, QueueTime};
use crate::SqlStore;

/// The registration with its tenant's company (the receiver checks `meta.company_id` against it).
const SELECT: &str = "select w.tenant_id, t.company_id, w.path_token, w.username, w.credentials,
        w.webhook_ids, w.state, w.checked_at, w.created_at
    from pipedrive_webhooks w join tenants t on t.id = w.tenant_id";

const INSERT: &str = "insert into pipedrive_webhooks (tenant_id, path_token, username,
        credentials, webhook_ids, state, checked_at, created_at, updated_at)
    values ($1, $2, $3, $4, $5, 'active', null, $6, $6)
    on conflict (tenant_id) do nothing";

fn registration_from_row<B: Backend>(row: &B::Row) -> StoreResult<WebhookRegistration> {
    let tenant: Id = B::get(row, "tenant_id")?;
    let state: String = B::get(row, "state")?;
    let ids: serde_json::Value = B::get(row, "webhook_ids")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("webhook registration {what}"));
    let checked_at: Option<QueueTime> = B::get(row, "checked_at")?;
    Ok(WebhookRegistration {
        tenant_id: TenantId::from_uuid(tenant.0),
        company_id: CompanyId::new(B::get(row, "company_id")?),
        path_token: B::get(row, "path_token")?,
        username: B::get(row, "username")?,
        credentials: B::get(row, "credentials")?,
        webhook_ids: serde_json::from_value(ids).map_err(|_| corrupt("webhook ids"))?,
        state: WebhookState::parse(&state).ok_or_else(|| corrupt("state"))?,
        checked_at: checked_at.map(|t| t.0),
        created_at: B::get(row, "created_at").map(|t: QueueTime| t.0)?,
    })
}

#[async_trait]
impl<B: Backend> WebhookRegistrations for SqlStore<B> {
    async fn ensure_webhook_registration(
        &self,
        new: &NewWebhookRegistration,
    ) -> StoreResult<WebhookRegistration> {
        let tenant = Id(new.tenant_id.as_uuid());
        let empty = serde_json::json!({});
        let values = (
            tenant,
            new.path_token.as_str(),
            new.username.as_str(),
            &new.credentials,
            &empty,
            QueueTime(Utc::now()),
        );
        self.execute(INSERT, values).await?;
        self.webhook_registration(new.tenant_id)
            .await?
            .ok_or(StoreError::NotFound("tenant"))
    }

    async fn webhook_registration(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<Option<WebhookRegistration>> {
        let statement = format!("{SELECT} where w.tenant_id = $1");
        let values = (Id(tenant_id.as_uuid()),);
        self.fetch_optional(&statement, values, registration_from_row::<B>)
            .await
    }

    async fn webhook_registration_by_path(
        &self,
        path_token: &str,
    ) -> StoreResult<Option<WebhookRegistration>> {
        let statement = format!("{SELECT} where w.path_token = $1");
        self.fetch_optional(&statement, (path_token,), registration_from_row::<B>)
            .await
    }

    async fn set_webhook_ids(
        &self,
        tenant_id: TenantId,
        ids: &BTreeMap<String, i64>,
    ) -> StoreResult<()> {
        let ids = serde_json::to_value(ids)
            .map_err(|e| StoreError::Corrupt(format!("webhook ids: {e}")))?;
        let statement =
            "update pipedrive_webhooks set webhook_ids = $1, updated_at = $2 where tenant_id = $3";
        let values = (&ids, QueueTime(Utc::now()), Id(tenant_id.as_uuid()));
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("webhook registration")),
            _ => Ok(()),
        }
    }

    async fn set_webhook_state(
        &self,
        tenant_id: TenantId,
        state: WebhookState,
        checked_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        // An active check keeps the active run going (or starts it); any other state ends it.
        let statement =
            "update pipedrive_webhooks set state = $1, checked_at = $2, updated_at = $3,
                active_since = case when $4 = 'active' then coalesce(active_since, $5) else null end
            where tenant_id = $6";
        let values = (
            state.as_str(),
            QueueTime(checked_at),
            QueueTime(Utc::now()),
            state.as_str(),
            QueueTime(checked_at),
            Id(tenant_id.as_uuid()),
        );
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("webhook registration")),
            _ => Ok(()),
        }
    }

    async fn delete_webhook_registration(&self, tenant_id: TenantId) -> StoreResult<bool> {
        let statement = "delete from pipedrive_webhooks where tenant_id = $1";
        Ok(self.execute(statement, (Id(tenant_id.as_uuid()),)).await? > 0)
    }

    async fn webhook_tenants(&self) -> StoreResult<Vec<TenantId>> {
        let statement = "select tenant_id from pipedrive_webhooks order by tenant_id";
        let tenant =
            |row: &B::Row| B::get(row, "tenant_id").map(|id: Id| TenantId::from_uuid(id.0));
        self.fetch_all(statement, (), tenant).await
    }

    async fn reconcile_watermarks(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<BTreeMap<String, DateTime<Utc>>> {
        let statement = "select reconcile_watermarks from pipedrive_webhooks where tenant_id = $1";
        let watermarks = |row: &B::Row| -> StoreResult<serde_json::Value> {
            B::get(row, "reconcile_watermarks")
        };
        let value = self
            .fetch_optional(statement, (Id(tenant_id.as_uuid()),), watermarks)
            .await?
            .ok_or(StoreError::NotFound("webhook registration"))?;
        serde_json::from_value(value)
            .map_err(|_| StoreError::Corrupt("webhook registration reconcile watermarks".into()))
    }

    async fn set_reconcile_watermarks(
        &self,
        tenant_id: TenantId,
        watermarks: &BTreeMap<String, DateTime<Utc>>,
    ) -> StoreResult<()> {
        let value = serde_json::to_value(watermarks)
            .map_err(|e| StoreError::Corrupt(format!("reconcile watermarks: {e}")))?;
        let statement = "update pipedrive_webhooks set reconcile_watermarks = $1, updated_at = $2
            where tenant_id = $3";
        let values = (&value, QueueTime(Utc::now()), Id(tenant_id.as_uuid()));
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("webhook registration")),
            _ => Ok(()),
        }
    }

    async fn mirror_coverage(&self, tenant_id: TenantId) -> StoreResult<Option<MirrorCoverage>> {
        let statement = "select state, checked_at, active_since, mirror_listed
            from pipedrive_webhooks where tenant_id = $1";
        let coverage = |row: &B::Row| -> StoreResult<MirrorCoverage> {
            let corrupt = |what: &str| StoreError::Corrupt(format!("mirror coverage {what}"));
            let state: String = B::get(row, "state")?;
            let checked_at: Option<QueueTime> = B::get(row, "checked_at")?;
            let active_since: Option<QueueTime> = B::get(row, "active_since")?;
            let listed: serde_json::Value = B::get(row, "mirror_listed")?;
            Ok(MirrorCoverage {
                state: WebhookState::parse(&state).ok_or_else(|| corrupt("state"))?,
                checked_at: checked_at.map(|t| t.0),
                active_since: active_since.map(|t| t.0),
                listed: serde_json::from_value(listed).map_err(|_| corrupt("listed"))?,
            })
        };
        self.fetch_optional(statement, (Id(tenant_id.as_uuid()),), coverage)
            .await
    }

    async fn mark_mirror_listed(
        &self,
        tenant_id: TenantId,
        entity: &str,
        sweep_started: DateTime<Utc>,
    ) -> StoreResult<()> {
        // The reconcile job, unique per tenant, is the only writer: read, merge, write.
        let mut listed = self
            .mirror_coverage(tenant_id)
            .await?
            .ok_or(StoreError::NotFound("webhook registration"))?
            .listed;
        let at = listed.entry(entity.to_owned()).or_insert(sweep_started);
        *at = (*at).max(sweep_started);
        let value = serde_json::to_value(&listed)
            .map_err(|e| StoreError::Corrupt(format!("mirror listed: {e}")))?;
        let statement = "update pipedrive_webhooks set mirror_listed = $1, updated_at = $2
            where tenant_id = $3";
        let values = (&value, QueueTime(Utc::now()), Id(tenant_id.as_uuid()));
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("webhook registration")),
            _ => Ok(()),
        }
    }
}
