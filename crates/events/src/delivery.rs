//! What a store's webhook request turned out to be, when it was not refused.

use dealbridge_core::event::NewEvent;

/// A verified store delivery. Every variant is answered 200.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// An event to record in the inbox (then answer 200).
    Event(NewEvent),
    /// A request the sender needs answered 200 but that carries nothing to record.
    Ignored(Ignored),
    /// API2Cart lost access to the store: record nothing, mark the connection as needing
    /// attention (and tell the tenant), answer 200 so the notice is not retried as a failure.
    ConnectionLost(ConnectionLoss),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// WooCommerce's unsigned `webhook_id=N` ping, sent when a webhook is saved; anything but 200
    /// makes the shop's admin show an error.
    WooCommerceSetupPing { webhook_id: u64 },
}

/// API2Cart's empty-body notice that it can no longer reach the store (bridge removed, store key
/// changed...). The texts come from the sender; show them to the tenant, they hold no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLoss {
    /// `X-Webhook-Store-Id`.
    pub store_id: Option<String>,
    /// `X-Webhook-Error-Code`, never `0`.
    pub error_code: String,
    /// `X-Webhook-Error-Reason`, e.g. "incorrect store key".
    pub reason: Option<String>,
    /// `X-Webhook-Error-Message`: how to fix it.
    pub message: Option<String>,
    /// `X-Webhook-Error-Try-Count`: notices left before API2Cart disables the webhook.
    pub tries_left: Option<u32>,
}
