//! The signed event API's signing secrets, several per tenant during a rotation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::{
    EventApiSecret, EventApiSecrets, NewEventApiSecret, StoreError, StoreResult,
};
use uuid::Uuid;

use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{Id, QueueTime};
use crate::{commit, SqlStore};

const COLUMNS: &str = "tenant_id, id, secret, created_at, expires_at, revoked_at";

/// A rotation: the tenant's other secrets still active at the end of the grace period stop then.
const RETIRE_OTHERS: &str = "update event_api_secrets set expires_at = $1
    where tenant_id = $2 and id <> $3 and revoked_at is null
        and (expires_at is null or expires_at > $1)";

const INSERT: &str = "insert into event_api_secrets (tenant_id, id, secret, created_at,
        expires_at, revoked_at)
    values ($1, $2, $3, $4, null, null)";

fn secret_from_row<B: Backend>(row: &B::Row) -> StoreResult<EventApiSecret> {
    let (tenant, id): (Id, Id) = (B::get(row, "tenant_id")?, B::get(row, "id")?);
    let optional = |name: &str| B::get(row, name).map(|t: Option<QueueTime>| t.map(|t| t.0));
    Ok(EventApiSecret {
        tenant_id: TenantId::from_uuid(tenant.0),
        id: id.0,
        secret: B::get(row, "secret")?,
        created_at: B::get(row, "created_at").map(|t: QueueTime| t.0)?,
        expires_at: optional("expires_at")?,
        revoked_at: optional("revoked_at")?,
    })
}

#[async_trait]
impl<B: Backend> EventApiSecrets for SqlStore<B> {
    async fn add_event_api_secret(
        &self,
        new: &NewEventApiSecret,
        retire_others_at: Option<DateTime<Utc>>,
    ) -> StoreResult<EventApiSecret> {
        let tenant = Id(new.tenant_id.as_uuid());
        let mut tx = self.begin().await?;
        sql::<B>(INSERT)
            .binds((tenant, Id(new.id), &new.secret, QueueTime(new.created_at)))
            .execute(&mut tx)
            .await?;
        if let Some(at) = retire_others_at {
            sql::<B>(RETIRE_OTHERS)
                .binds((QueueTime(at), tenant, Id(new.id)))
                .execute(&mut tx)
                .await?;
        }
        commit(tx).await?;
        Ok(EventApiSecret {
            tenant_id: new.tenant_id,
            id: new.id,
            secret: new.secret.clone(),
            created_at: new.created_at,
            expires_at: None,
            revoked_at: None,
        })
    }

    async fn event_api_secrets(&self, tenant_id: TenantId) -> StoreResult<Vec<EventApiSecret>> {
        let statement = format!(
            "select {COLUMNS} from event_api_secrets where tenant_id = $1
             order by created_at desc, id desc"
        );
        self.fetch_all(&statement, (Id(tenant_id.as_uuid()),), secret_from_row::<B>)
            .await
    }

    async fn active_event_api_secrets(
        &self,
        tenant_id: TenantId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<EventApiSecret>> {
        let statement = format!(
            "select {COLUMNS} from event_api_secrets
             where tenant_id = $1 and revoked_at is null and (expires_at is null or expires_at > $2)
             order by created_at desc, id desc"
        );
        let values = (Id(tenant_id.as_uuid()), QueueTime(now));
        self.fetch_all(&statement, values, secret_from_row::<B>)
            .await
    }

    async fn revoke_event_api_secret(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let statement = "update event_api_secrets set revoked_at = coalesce(revoked_at, $1)
            where tenant_id = $2 and id = $3";
        let values = (QueueTime(at), Id(tenant_id.as_uuid()), Id(id));
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("event API secret")),
            _ => Ok(()),
        }
    }
}
