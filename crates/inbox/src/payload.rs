//! Pipedrive's v2 webhook payload, read into the shared `NewEvent`.

use chrono::{DateTime, Utc};
use dealbridge_core::event::{ChangeAction, EventSource, EventType, NewEvent, PipedriveEntity};
use dealbridge_core::CompanyId;
use serde::Deserialize;

/// A delivery we cannot read; the message names the field, never echoes the body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the body is not a v2 webhook payload: {0}")]
    Shape(String),
    #[error("unsupported webhook version {0:?} (expected 2.0)")]
    Version(String),
    #[error("meta.{0} is missing or invalid")]
    Field(&'static str),
    #[error("events about {0:?} are not followed")]
    Entity(String),
}

/// A parsed delivery: the company it claims to come from, and the event.
#[derive(Debug, Clone, PartialEq)]
pub struct PipedriveHook {
    pub company_id: CompanyId,
    pub event: NewEvent,
}

#[derive(Deserialize)]
struct Body {
    meta: Meta,
    #[serde(default)]
    data: serde_json::Value,
    #[serde(default)]
    previous: serde_json::Value,
}

/// IDs in `meta` are strings in v2; numbers are accepted too, for robustness.
#[derive(Deserialize)]
struct Meta {
    action: Option<String>,
    entity: Option<String>,
    entity_id: Option<serde_json::Value>,
    id: Option<String>,
    company_id: Option<serde_json::Value>,
    timestamp: Option<String>,
    version: Option<String>,
}

fn integer(value: &Option<serde_json::Value>) -> Option<i64> {
    match value.as_ref()? {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Reads a v2 delivery. The payload kept for the workflows is `meta`, `data` and `previous` as sent.
pub fn parse_pipedrive(body: &[u8]) -> Result<PipedriveHook, PayloadError> {
    let raw: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::Shape(e.to_string()))?;
    let parsed: Body =
        serde_json::from_value(raw.clone()).map_err(|e| PayloadError::Shape(e.to_string()))?;
    let meta = parsed.meta;
    let version = meta.version.unwrap_or_default();
    if version != "2.0" {
        return Err(PayloadError::Version(version));
    }
    let entity_name = meta.entity.ok_or(PayloadError::Field("entity"))?;
    let entity = PipedriveEntity::parse(&entity_name).ok_or(PayloadError::Entity(entity_name))?;
    let action = meta
        .action
        .as_deref()
        .and_then(ChangeAction::parse)
        .ok_or(PayloadError::Field("action"))?;
    let entity_id = integer(&meta.entity_id).ok_or(PayloadError::Field("entity_id"))?;
    let company_id = integer(&meta.company_id).ok_or(PayloadError::Field("company_id"))?;
    let id = meta
        .id
        .filter(|id| !id.trim().is_empty() && id.len() <= 200)
        .ok_or(PayloadError::Field("id"))?;
    let occurred_at = meta
        .timestamp
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or(PayloadError::Field("timestamp"))?;
    let object_ok = |v: &serde_json::Value| v.is_null() || v.is_object();
    if !object_ok(&parsed.data) || !object_ok(&parsed.previous) {
        return Err(PayloadError::Shape(
            "data and previous must be objects or null".into(),
        ));
    }
    Ok(PipedriveHook {
        company_id: CompanyId::new(company_id),
        event: NewEvent {
            source: EventSource::Pipedrive,
            kind: EventType::pipedrive(entity, action),
            dedupe_key: id,
            entity_key: Some(format!("{}:{entity_id}", entity.as_str())),
            occurred_at,
            payload: raw,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(meta: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "meta": meta,
            "data": { "id": 8, "title": "Order 1001", "custom_fields": {} },
            "previous": null,
        }))
        .expect("json")
    }

    fn meta() -> serde_json::Value {
        serde_json::json!({
            "action": "create", "entity": "deal", "entity_id": "8",
            "id": "0c4f1f1c-5a8e-4b9e-9a43-6f5a1b7f3c21", "company_id": "8087566",
            "user_id": "12415231", "webhook_id": "4710827", "is_bulk_edit": false,
            "timestamp": "2022-11-24T13:18:56.089Z", "type": "application", "version": "2.0",
            "change_source": "app", "attempt": 1, "host": "acme.pipedrive.com",
        })
    }

    #[test]
    fn a_real_shaped_delivery_becomes_an_event() {
        let hook = parse_pipedrive(&delivery(meta())).expect("parsed");
        assert_eq!(hook.company_id, CompanyId::new(8_087_566));
        let event = hook.event;
        assert_eq!(event.kind.name(), "pipedrive.deal.create");
        assert_eq!(event.dedupe_key, "0c4f1f1c-5a8e-4b9e-9a43-6f5a1b7f3c21");
        assert_eq!(event.entity_key.as_deref(), Some("deal:8"));
        assert_eq!(event.occurred_at.timestamp_millis(), 1_669_295_936_089);
        assert_eq!(event.payload["data"]["title"], "Order 1001");
    }

    #[test]
    fn a_delete_has_no_data() {
        let mut meta = meta();
        meta["action"] = "delete".into();
        meta["entity"] = "person".into();
        let body = serde_json::json!({ "meta": meta, "data": null, "previous": { "id": 8 } });
        let hook = parse_pipedrive(&serde_json::to_vec(&body).expect("json")).expect("parsed");
        assert_eq!(hook.event.kind.name(), "pipedrive.person.delete");
    }

    #[test]
    fn malformed_deliveries_name_what_is_wrong() {
        assert!(matches!(
            parse_pipedrive(b"not json"),
            Err(PayloadError::Shape(_))
        ));
        assert!(matches!(
            parse_pipedrive(b"{}"),
            Err(PayloadError::Shape(_))
        ));
        let cases: [(&str, serde_json::Value, PayloadError); 6] = [
            ("version", "1.0".into(), PayloadError::Version("1.0".into())),
            ("entity", "lead".into(), PayloadError::Entity("lead".into())),
            ("action", "merged".into(), PayloadError::Field("action")),
            (
                "entity_id",
                "eight".into(),
                PayloadError::Field("entity_id"),
            ),
            (
                "company_id",
                serde_json::Value::Null,
                PayloadError::Field("company_id"),
            ),
            (
                "timestamp",
                "yesterday".into(),
                PayloadError::Field("timestamp"),
            ),
        ];
        for (field, value, expected) in cases {
            let mut meta = meta();
            meta[field] = value;
            assert_eq!(parse_pipedrive(&delivery(meta)), Err(expected), "{field}");
        }
        let mut meta = meta();
        meta["id"] = "".into();
        assert_eq!(
            parse_pipedrive(&delivery(meta)),
            Err(PayloadError::Field("id"))
        );
    }
}
