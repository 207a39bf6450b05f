//! An event: something that happened in one of a tenant's systems, as Dealbridge records it. Every
//! source (Pipedrive's webhooks, the signed event API, Shopify, WooCommerce, API2Cart, the reconcile
//! job) is parsed into this one shape at the edge, so the inbox and the workflows behind it never
//! see a source's own format.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an event came from. Part of the inbox's dedupe key: two sources may reuse an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// Pipedrive's own webhooks, and the reconcile job that fills their gaps.
    Pipedrive,
    /// The customer's own systems, through the signed event API.
    EventApi,
    Shopify,
    WooCommerce,
    Api2Cart,
}

impl EventSource {
    pub const ALL: [Self; 5] = [
        Self::Pipedrive,
        Self::EventApi,
        Self::Shopify,
        Self::WooCommerce,
        Self::Api2Cart,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pipedrive => "pipedrive",
            Self::EventApi => "event_api",
            Self::Shopify => "shopify",
            Self::WooCommerce => "woocommerce",
            Self::Api2Cart => "api2cart",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == s)
    }
}

/// What an event asks the workflows to do. The names are those of the signed event API's `type`
/// field; Pipedrive's own changes are `pipedrive.{entity}.{action}` (see [`EventType::pipedrive`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EventType {
    Signup,
    OrderCreated,
    OrderUpdated,
    CustomerUpdated,
    UsageReported,
    TicketCreated,
    DealStageChanged,
    /// A change to a record in Pipedrive: `entity` is `deal`, `person` or `organization`, `action`
    /// is `create`, `change` or `delete`.
    PipedriveChange {
        entity: PipedriveEntity,
        action: ChangeAction,
    },
}

/// The Pipedrive objects whose changes Dealbridge follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipedriveEntity {
    Deal,
    Person,
    Organization,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Create,
    Change,
    Delete,
}

impl PipedriveEntity {
    pub const ALL: [Self; 3] = [Self::Deal, Self::Person, Self::Organization];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Deal => "deal",
            Self::Person => "person",
            Self::Organization => "organization",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|entity| entity.as_str() == s)
    }
}

impl ChangeAction {
    pub const ALL: [Self; 3] = [Self::Create, Self::Change, Self::Delete];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Change => "change",
            Self::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == s)
    }
}

/// The event API's types, in the order its documentation lists them.
const API_TYPES: [(EventType, &str); 7] = [
    (EventType::Signup, "signup"),
    (EventType::OrderCreated, "order.created"),
    (EventType::OrderUpdated, "order.updated"),
    (EventType::CustomerUpdated, "customer.updated"),
    (EventType::UsageReported, "usage.reported"),
    (EventType::TicketCreated, "ticket.created"),
    (EventType::DealStageChanged, "deal.stage_changed"),
];

impl EventType {
    /// Every type a customer's own system may send through the event API.
    pub fn api_types() -> impl Iterator<Item = EventType> {
        API_TYPES.iter().map(|(kind, _)| kind.clone())
    }

    pub fn pipedrive(entity: PipedriveEntity, action: ChangeAction) -> Self {
        Self::PipedriveChange { entity, action }
    }

    pub fn name(&self) -> String {
        match self {
            Self::PipedriveChange { entity, action } => {
                format!("pipedrive.{}.{}", entity.as_str(), action.as_str())
            }
            other => API_TYPES
                .iter()
                .find(|(kind, _)| kind == other)
                .map(|(_, name)| (*name).to_owned())
                .unwrap_or_default(),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        if let Some(rest) = name.strip_prefix("pipedrive.") {
            let (entity, action) = rest.split_once('.')?;
            return Some(Self::pipedrive(
                PipedriveEntity::parse(entity)?,
                ChangeAction::parse(action)?,
            ));
        }
        API_TYPES
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(kind, _)| kind.clone())
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl From<EventType> for String {
    fn from(kind: EventType) -> Self {
        kind.name()
    }
}

impl TryFrom<String> for EventType {
    type Error = UnknownEventType;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name).ok_or(UnknownEventType(name))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

/// An event as parsed at the edge, before the inbox records it for a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub source: EventSource,
    pub kind: EventType,
    /// The sender's id for this delivery (Pipedrive's `meta.id`, the event API's `webhook-id`,
    /// Shopify's event id, ...). Unique per tenant and source: a second delivery with the same key
    /// is a duplicate and is acknowledged without being recorded again.
    pub dedupe_key: String,
    /// The record the event is about, in the source's terms (`deal:123`, `order:1001`), when it has
    /// one. Events for the same entity are ordered by `occurred_at`; one older than what is already
    /// recorded for that entity is kept but marked stale.
    pub entity_key: Option<String>,
    /// When the source says it happened.
    pub occurred_at: DateTime<Utc>,
    /// The source's payload, parsed and validated; what the workflows read.
    pub payload: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_name_parses_back_to_itself() {
        let pipedrive = PipedriveEntity::ALL.into_iter().flat_map(|entity| {
            ChangeAction::ALL
                .into_iter()
                .map(move |action| EventType::pipedrive(entity, action))
        });
        for kind in EventType::api_types().chain(pipedrive) {
            let name = kind.name();
            assert!(!name.is_empty());
            assert_eq!(EventType::parse(&name), Some(kind));
        }
        assert_eq!(
            EventType::parse("pipedrive.deal.change").map(|kind| kind.name()),
            Some("pipedrive.deal.change".to_owned())
        );
    }

    #[test]
    fn unknown_names_are_refused() {
        for name in [
            "",
            "order",
            "order.deleted",
            "pipedrive.deal",
            "pipedrive.lead.create",
        ] {
            assert_eq!(EventType::parse(name), None, "{name}");
        }
        let refused: Result<EventType, _> = serde_json::from_str("\"signup.v2\"");
        assert!(refused.is_err());
    }

    #[test]
    fn sources_round_trip() {
        for source in EventSource::ALL {
            assert_eq!(EventSource::parse(source.as_str()), Some(source));
        }
        assert_eq!(EventSource::parse("zapier"), None);
    }
}
