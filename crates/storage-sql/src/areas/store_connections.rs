//! Connected stores (Shopify, WooCommerce, API2Cart), several per tenant.

use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::TenantId;
use dealbridge_storage::{
    ConnectionState, NewStoreConnection, StoreConnection, StoreConnections, StoreError, StoreKind,
    StoreResult,
};
use uuid::Uuid;

use crate::backend::Backend;
use crate::values::{Id, QueueTime};
use crate::SqlStore;

const COLUMNS: &str = "tenant_id, id, kind, display_name, shop_domain, secret, callback_token,
    path_token, state, attention_reason, webhook_ids, created_at, updated_at";

const INSERT: &str = "insert into store_connections (tenant_id, id, kind, display_name,
        shop_domain, secret, callback_token, path_token, state, attention_reason, webhook_ids,
        created_at, updated_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, 'active', null, $9, $10, $10)";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("store connection {what} {value:?}"))
}

fn connection_from_row<B: Backend>(row: &B::Row) -> StoreResult<StoreConnection> {
    let (tenant, id): (Id, Id) = (B::get(row, "tenant_id")?, B::get(row, "id")?);
    let (kind, state): (String, String) = (B::get(row, "kind")?, B::get(row, "state")?);
    let ids: serde_json::Value = B::get(row, "webhook_ids")?;
    let time = |name: &str| B::get(row, name).map(|t: QueueTime| t.0);
    Ok(StoreConnection {
        tenant_id: TenantId::from_uuid(tenant.0),
        id: id.0,
        kind: StoreKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        display_name: B::get(row, "display_name")?,
        shop_domain: B::get(row, "shop_domain")?,
        secret: B::get(row, "secret")?,
        callback_token: B::get(row, "callback_token")?,
        path_token: B::get(row, "path_token")?,
        state: ConnectionState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        attention_reason: B::get(row, "attention_reason")?,
        webhook_ids: serde_json::from_value(ids)
            .map_err(|_| corrupt("webhook ids", "not a list of strings"))?,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

#[async_trait]
impl<B: Backend> StoreConnections for SqlStore<B> {
    async fn add_store_connection(&self, new: &NewStoreConnection) -> StoreResult<StoreConnection> {
        let empty = serde_json::json!([]);
        let values = (
            Id(new.tenant_id.as_uuid()),
            Id(new.id),
            new.kind.as_str(),
            new.display_name.as_str(),
            &new.shop_domain,
            &new.secret,
            &new.callback_token,
            new.path_token.as_str(),
            &empty,
            QueueTime(Utc::now()),
        );
        self.execute(INSERT, values).await?;
        self.store_connection(new.tenant_id, new.id)
            .await?
            .ok_or(StoreError::NotFound("store connection"))
    }

    async fn store_connections(&self, tenant_id: TenantId) -> StoreResult<Vec<StoreConnection>> {
        let statement = format!(
            "select {COLUMNS} from store_connections where tenant_id = $1
             order by created_at, id"
        );
        self.fetch_all(
            &statement,
            (Id(tenant_id.as_uuid()),),
            connection_from_row::<B>,
        )
        .await
    }

    async fn store_connection(
        &self,
        tenant_id: TenantId,
        id: Uuid,
    ) -> StoreResult<Option<StoreConnection>> {
        let statement =
            format!("select {COLUMNS} from store_connections where tenant_id = $1 and id = $2");
        self.fetch_optional(
            &statement,
            (Id(tenant_id.as_uuid()), Id(id)),
            connection_from_row::<B>,
        )
        .await
    }

    async fn store_connection_by_path(
        &self,
        kind: StoreKind,
        path_token: &str,
    ) -> StoreResult<Option<StoreConnection>> {
        let statement =
            format!("select {COLUMNS} from store_connections where path_token = $1 and kind = $2");
        self.fetch_optional(
            &statement,
            (path_token, kind.as_str()),
            connection_from_row::<B>,
        )
        .await
    }

    async fn set_connection_webhooks(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        webhook_ids: &[String],
    ) -> StoreResult<()> {
        let ids = serde_json::json!(webhook_ids);
        let statement = "update store_connections set webhook_ids = $1, updated_at = $2
            where tenant_id = $3 and id = $4";
        let values = (&ids, QueueTime(Utc::now()), Id(tenant_id.as_uuid()), Id(id));
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("store connection")),
            _ => Ok(()),
        }
    }

    async fn set_connection_state(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        state: ConnectionState,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        let reason = match state {
            ConnectionState::Active => None,
            ConnectionState::NeedsAttention => reason,
        };
        let statement = "update store_connections set state = $1, attention_reason = $2,
                updated_at = $3
            where tenant_id = $4 and id = $5";
        let values = (
            state.as_str(),
            reason,
            QueueTime(Utc::now()),
            Id(tenant_id.as_uuid()),
            Id(id),
        );
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("store connection")),
            _ => Ok(()),
        }
    }

    async fn delete_store_connection(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<bool> {
        let statement = "delete from store_connections where tenant_id = $1 and id = $2";
        Ok(self
            .execute(statement, (Id(tenant_id.as_uuid()), Id(id)))
            .await?
            > 0)
    }
}
