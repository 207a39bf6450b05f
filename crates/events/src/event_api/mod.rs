//! The signed event API (`POST /api/v1/events`): Standard Webhooks signatures, one typed payload
//! per event type.
//!
//! A request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (space-separated `v1,<base64>` entries) and a JSON body `{"type", "timestamp", "data"}`. It is
//! accepted when any `v1` entry is `base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))` under any
//! of the tenant's current secrets and the timestamp is within [`TOLERANCE_SECONDS`] of now.

pub mod payloads;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use standardwebhooks::{
    Webhook, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
};
use subtle::ConstantTimeEq;
use utoipa::openapi::{Components, ComponentsBuilder};

use crate::error::check_size;
use crate::records::{Customer, LineItem, Order};
use crate::validate::{field_path, parse_json, Checks};
use crate::{Headers, IngestError};
use payloads::{DealStageChange, Signup, Ticket, TicketPriority, UsageReport};

/// Largest body the event API accepts; the receiver refuses longer ones (413) before reading them.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How far `webhook-timestamp` may be from now, either way (the reference libraries' value).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// Longest `webhook-id` accepted; it becomes the event's dedupe key.
pub const MAX_ID_LEN: usize = 255;

/// A secret that cannot be used: not `whsec_` followed by base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event API secret must be `whsec_` followed by base64 text")]
pub struct InvalidSecret;

/// The signing keys a tenant has at the moment: usually one, two or more during a rotation.
pub struct Secrets(Vec<Webhook>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} keys, redacted)", self.0.len())
    }
}

impl Secrets {
    /// Parses the tenant's current secrets (`whsec_...`, as shown in the dashboard).
    pub fn new<'a>(
        secrets: impl IntoIterator<Item = &'a SecretString>,
    ) -> Result<Self, InvalidSecret> {
        secrets
            .into_iter()
            .map(|secret| {
                let text = secret.expose_secret();
                if !text.starts_with("whsec_") {
                    return Err(InvalidSecret);
                }
                match Webhook::new(text) {
                    Ok(key) => Ok(key),
                    Err(_) => Err(InvalidSecret),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// A new random secret in the form senders configure: `whsec_` and base64 of 32 random bytes.
pub fn generate_secret() -> SecretString {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// The `webhook-signature` value a sender would put on `body` (`v1,<base64>`). For tests, the
/// documentation's examples and stand-ins; receivers call [`parse`].
pub fn sign(
    secret: &SecretString,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, InvalidSecret> {
    let key = Secrets::new([secret])?;
    key.0
        .first()
        .and_then(|key| key.sign(id, timestamp, body).ok())
        .ok_or(InvalidSecret)
}

/// What a verified request says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `webhook-id`: stable across the sender's retries, so it is the dedupe key.
    pub id: String,
    pub timestamp: i64,
}

/// Checks the signature first (so nothing is told to a forger), then the timestamp's freshness.
pub fn verify(
    headers: &Headers,
    body: &[u8],
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<Verified, IngestError> {
    let id = headers.get(HEADER_WEBHOOK_ID).filter(|id| !id.is_empty());
    let timestamp = headers
        .get(HEADER_WEBHOOK_TIMESTAMP)
        .and_then(|ts| ts.parse::<i64>().ok());
    let signatures = headers.get(HEADER_WEBHOOK_SIGNATURE);
    let (Some(id), Some(timestamp), Some(signatures)) = (id, timestamp, signatures) else {
        return Err(IngestError::BadSignature);
    };
    // The signed content is `id.timestamp.body`; a dot in the id would make it ambiguous.
    if id.contains('.') {
        return Err(IngestError::BadSignature);
    }
    let presented: Vec<&str> = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .map(|(_, signature)| signature)
        .collect();
    let matches = secrets.0.iter().any(|key| {
        let Ok(expected) = key.sign(id, timestamp, body) else {
            return false;
        };
        let expected = expected.split_once(',').map_or("", |(_, sig)| sig);
        presented
            .iter()
            .any(|sig| bool::from(sig.as_bytes().ct_eq(expected.as_bytes())))
    });
    if !matches {
        return Err(IngestError::BadSignature);
    }
    let skew = now.timestamp() - timestamp;
    if skew.abs() > TOLERANCE_SECONDS {
        return Err(IngestError::Stale {
            skew_seconds: skew,
            tolerance_seconds: TOLERANCE_SECONDS,
        });
    }
    if id.len() > MAX_ID_LEN {
        return Err(IngestError::Invalid(vec![crate::FieldError::header(
            HEADER_WEBHOOK_ID,
            format!("must be at most {MAX_ID_LEN} characters"),
        )]));
    }
    Ok(Verified {
        id: id.to_owned(),
        timestamp,
    })
}

/// The body every event API request carries.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    /// When it happened, RFC 3339.
    timestamp: DateTime<Utc>,
    data: serde_json::Value,
}

/// Verifies a request to the event API and parses it into an event. Refuses (and so records
/// nothing of) a request that is oversized, unsigned, stale, or whose payload is invalid.
pub fn parse(
    headers: &Headers,
    body: &[u8],
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<NewEvent, IngestError> {
    check_size(body, MAX_BODY_BYTES)?;
    let verified = verify(headers, body, secrets, now)?;
    let envelope: Envelope = parse_json(body)?;
    let kind = EventType::parse(&envelope.kind)
        .filter(|kind| !matches!(kind, EventType::PipedriveChange { .. }))
        .ok_or_else(|| {
            let known: Vec<String> = EventType::api_types().map(|kind| kind.name()).collect();
            IngestError::invalid("type", format!("must be one of {}", known.join(", ")))
        })?;
    let (entity_key, payload) = parse_data(&kind, envelope.data)?;
    Ok(NewEvent {
        source: EventSource::EventApi,
        kind,
        dedupe_key: verified.id,
        entity_key,
        occurred_at: envelope.timestamp,
        payload,
    })
}

/// Deserialises and checks `data` for `kind`; returns the entity key and the normalized payload.
fn parse_data(
    kind: &EventType,
    data: serde_json::Value,
) -> Result<(Option<String>, serde_json::Value), IngestError> {
    let mut checks = Checks::default();
    let parsed = match kind {
        EventType::Signup => {
            let signup: Signup = typed(data)?;
            signup.check(&mut checks);
            (Some(format!("user:{}", signup.user_id)), to_value(&signup)?)
        }
        EventType::OrderCreated | EventType::OrderUpdated => {
            let order: Order = typed(data)?;
            payloads::check_order(&order, &mut checks);
            (Some(format!("order:{}", order.id)), to_value(&order)?)
        }
        EventType::CustomerUpdated => {
            let customer: Customer = typed(data)?;
            payloads::check_customer(&customer, &mut checks);
            let key = customer.id.clone().or_else(|| customer.email.clone());
            (
                key.map(|key| format!("customer:{key}")),
                to_value(&customer)?,
            )
        }
        // Usage reports add up rather than supersede each other, so none is ever stale.
        EventType::UsageReported => {
            let usage: UsageReport = typed(data)?;
            usage.check(&mut checks);
            (None, to_value(&usage)?)
        }
        EventType::TicketCreated => {
            let ticket: Ticket = typed(data)?;
            ticket.check(&mut checks);
            (
                Some(format!("ticket:{}", ticket.ticket_id)),
                to_value(&ticket)?,
            )
        }
        EventType::DealStageChanged => {
            let change: DealStageChange = typed(data)?;
            change.check(&mut checks);
            (Some(format!("deal:{}", change.deal_id)), to_value(&change)?)
        }
        EventType::PipedriveChange { .. } => {
            return Err(IngestError::invalid("type", "is not an event API type"))
        }
    };
    checks.finish()?;
    Ok(parsed)
}

fn typed<T: DeserializeOwned>(data: serde_json::Value) -> Result<T, IngestError> {
    serde_path_to_error::deserialize(data).map_err(|error| {
        IngestError::invalid(
            field_path(error.path(), "data"),
            error.into_inner().to_string(),
        )
    })
}

fn to_value<T: Serialize>(value: &T) -> Result<serde_json::Value, IngestError> {
    // Our own payload types always serialise; a failure here would be a bug, reported as such.
    serde_json::to_value(value).map_err(|error| IngestError::invalid("data", error.to_string()))
}

/// The schema name (in [`schemas`]) of each event API type's `data`.
pub fn schema_name(kind: &EventType) -> Option<&'static str> {
    Some(match kind {
        EventType::Signup => "Signup",
        EventType::OrderCreated | EventType::OrderUpdated => "Order",
        EventType::CustomerUpdated => "Customer",
        EventType::UsageReported => "UsageReport",
        EventType::TicketCreated => "Ticket",
        EventType::DealStageChanged => "DealStageChange",
        EventType::PipedriveChange { .. } => return None,
    })
}

/// The JSON schemas of every payload, as OpenAPI components (`#/components/schemas/Order`, ...),
/// ready to merge into the HTTP API's OpenAPI document or to serve on their own.
pub fn schemas() -> Components {
    ComponentsBuilder::new()
        .schema_from::<Signup>()
        .schema_from::<Order>()
        .schema_from::<Customer>()
        .schema_from::<LineItem>()
        .schema_from::<UsageReport>()
        .schema_from::<Ticket>()
        .schema_from::<TicketPriority>()
        .schema_from::<DealStageChange>()
        .build()
}
