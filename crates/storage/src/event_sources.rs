//! Where a tenant's other systems send events from: the signing secrets of the signed event API
//! (several active during a rotation) and the connected stores (Shopify, WooCommerce, API2Cart).
//! Every secret is ciphertext sealed by the app's key ring and bound to the tenant; the store
//! never sees one in clear.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use uuid::Uuid;

use crate::StoreResult;

/// A signing secret to add. `secret` is ciphertext.
#[derive(Clone)]
pub struct NewEventApiSecret {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub secret: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for NewEventApiSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEventApiSecret")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq)]
pub struct EventApiSecret {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub secret: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// Set by a rotation: the secret keeps verifying until then.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl EventApiSecret {
    /// Whether a request signed with this secret is accepted at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

impl std::fmt::Debug for EventApiSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventApiSecret")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait EventApiSecrets: Send + Sync + 'static {
    /// Adds a secret. With `retire_others_at`, every other secret of the tenant that is still
    /// active then gets that expiry, in the same transaction (a rotation with a grace period).
    async fn add_event_api_secret(
        &self,
        new: &NewEventApiSecret,
        retire_others_at: Option<DateTime<Utc>>,
    ) -> StoreResult<EventApiSecret>;

    /// Every secret of the tenant, revoked and expired ones included, newest first.
    async fn event_api_secrets(&self, tenant_id: TenantId) -> StoreResult<Vec<EventApiSecret>>;

    /// The secrets that verify requests at `now`, newest first.
    async fn active_event_api_secrets(
        &self,
        tenant_id: TenantId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<EventApiSecret>>;

    /// Revokes one of the tenant's secrets at once. `NotFound` if the tenant has no such secret;
    /// revoking twice keeps the first time.
    async fn revoke_event_api_secret(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// The kinds of store a tenant can connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    Shopify,
    WooCommerce,
    Api2Cart,
}

impl StoreKind {
    pub const ALL: [Self; 3] = [Self::Shopify, Self::WooCommerce, Self::Api2Cart];

    /// The name in URLs, forms and the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Shopify => "shopify",
            Self::WooCommerce => "woocommerce",
            Self::Api2Cart => "api2cart",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// Whether deliveries from the store can be expected to arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    Active,
    /// The store told us it lost the connection (API2Cart's notice); the reason says why.
    NeedsAttention,
}

impl ConnectionState {
    pub const ALL: [Self; 2] = [Self::Active, Self::NeedsAttention];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsAttention => "needs_attention",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// A store connection to add. `secret` and `callback_token` are ciphertext.
#[derive(Clone)]
pub struct NewStoreConnection {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub kind: StoreKind,
    pub display_name: String,
    /// Shopify's shop domain; `None` for the other kinds.
    pub shop_domain: Option<String>,
    /// The webhook secret (Shopify, WooCommerce) or the store key (API2Cart).
    pub secret: Vec<u8>,
    /// API2Cart only: the token its callback URL carries.
    pub callback_token: Option<Vec<u8>>,
    pub path_token: String,
}

impl std::fmt::Debug for NewStoreConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewStoreConnection")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq)]
pub struct StoreConnection {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub kind: StoreKind,
    pub display_name: String,
    pub shop_domain: Option<String>,
    pub secret: Vec<u8>,
    pub callback_token: Option<Vec<u8>>,
    pub path_token: String,
    pub state: ConnectionState,
    /// Why the connection needs attention, as the store said it.
    pub attention_reason: Option<String>,
    /// API2Cart's ids of the webhooks registered for the connection.
    pub webhook_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoreConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConnection")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("display_name", &self.display_name)
            .field("shop_domain", &self.shop_domain)
            .field("state", &self.state)
            .field("attention_reason", &self.attention_reason)
            .field("webhook_ids", &self.webhook_ids)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait StoreConnections: Send + Sync + 'static {
    /// Adds a connection, `Active` with no webhooks. `Duplicate("store_connections_path_token_key")`
    /// if the path token is taken.
    async fn add_store_connection(&self, new: &NewStoreConnection) -> StoreResult<StoreConnection>;

    /// The tenant's connections, oldest first.
    async fn store_connections(&self, tenant_id: TenantId) -> StoreResult<Vec<StoreConnection>>;

    async fn store_connection(
        &self,
        tenant_id: TenantId,
        id: Uuid,
    ) -> StoreResult<Option<StoreConnection>>;

    /// The connection of `kind` whose path token this is (the receivers' lookup).
    async fn store_connection_by_path(
        &self,
        kind: StoreKind,
        path_token: &str,
    ) -> StoreResult<Option<StoreConnection>>;

    /// Replaces the ids of the connection's registered webhooks. `NotFound` if the tenant has no
    /// such connection.
    async fn set_connection_webhooks(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        webhook_ids: &[String],
    ) -> StoreResult<()>;

    /// Sets the state; `reason` is kept with `NeedsAttention` and cleared with `Active`.
    /// `NotFound` if the tenant has no such connection.
    async fn set_connection_state(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        state: ConnectionState,
        reason: Option<&str>,
    ) -> StoreResult<()>;

    /// Removes the connection (disconnect): its path stops answering. True if there was one.
    async fn delete_store_connection(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<bool>;
}
