//! Webhook subscriptions (FACTS §4.1) and the events they produce (§4.3). Sending happens in
//! `crate::delivery`, outside the lock; this module decides who gets what, and keeps the ban state.

use serde_json::{json, Map, Value};

use super::entities::EntityKind;
use super::World;
use crate::clock::rfc3339;
use crate::error::ApiError;

/// Ten failed first attempts ban a webhook for 30 minutes (FACTS §4.2).
pub const BAN_AFTER: u32 = 10;
pub const BAN_MS: i64 = 30 * 60 * 1000;
/// An app may create at most 40 webhooks per user.
const MAX_PER_USER: usize = 40;

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: u64,
    pub client_id: String,
    pub user_id: u64,
    pub event_action: String,
    pub event_object: String,
    pub subscription_url: String,
    pub name: String,
    pub version: String,
    pub http_auth_user: Option<String>,
    pub http_auth_password: Option<String>,
    pub add_time_ms: i64,
    pub first_failures: u32,
    pub banned_until_ms: Option<i64>,
    pub last_delivery_ms: Option<i64>,
    pub last_http_status: Option<u16>,
}

/// One event to send to one webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub company_id: u64,
    pub webhook_id: u64,
    pub url: String,
    pub auth: Option<(String, String)>,
    pub payload: Value,
}

/// What changed, for the payload: `data` and `previous` as in FACTS §4.3.
pub struct Event<'a> {
    pub company_id: u64,
    pub user_id: u64,
    pub kind: EntityKind,
    pub action: &'static str,
    pub id: u64,
    pub data: Option<Value>,
    pub previous: Option<Value>,
    pub host: &'a str,
}

impl Webhook {
    pub fn to_json(&self, company_id: u64) -> Value {
        json!({
            "id": self.id, "company_id": company_id, "owner_id": self.user_id,
            "user_id": self.user_id, "event_action": self.event_action,
            "event_object": self.event_object, "subscription_url": self.subscription_url,
            "version": self.version, "is_active": 1, "add_time": rfc3339(self.add_time_ms),
            "remove_time": null, "type": "application", "http_auth_user": self.http_auth_user,
            "http_auth_password": self.http_auth_password, "remove_reason": null,
            "last_delivery_time": self.last_delivery_ms.map(rfc3339),
            "last_http_status": self.last_http_status, "admin_id": self.user_id, "name": self.name,
        })
    }

    fn matches(&self, kind: EntityKind, action: &str) -> bool {
        (self.event_object == "*" || self.event_object == kind.singular())
            && (self.event_action == "*" || self.event_action == action)
    }
}

fn webhook_error(field: &str, message: &str) -> ApiError {
    let mut errors = Map::new();
    errors.insert(field.to_owned(), json!([message]));
    ApiError {
        status: actix_web::http::StatusCode::BAD_REQUEST,
        body: json!({ "status": "error", "success": false, "errors": errors }),
    }
}

fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

impl World {
    /// `POST /v1/webhooks`, validated as Pipedrive does.
    pub fn create_webhook(
        &mut self,
        company_id: u64,
        client_id: &str,
        user_id: u64,
        body: &Value,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        let url = str_field(body, "subscription_url")
            .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
            .ok_or_else(|| webhook_error("subscription_url", "invalid or non-reachable URL"))?;
        let action = str_field(body, "event_action")
            .filter(|a| ["create", "change", "delete", "*"].contains(a))
            .ok_or_else(|| webhook_error("event_action", "invalid value"))?;
        let object = str_field(body, "event_object")
            .filter(|o| *o == "*" || EntityKind::from_singular(o).is_some())
            .ok_or_else(|| webhook_error("event_object", "invalid value"))?;
        let name = str_field(body, "name")
            .filter(|n| !n.is_empty() && n.len() <= 255)
            .ok_or_else(|| webhook_error("name", "is required"))?;
        let version = str_field(body, "version").unwrap_or("2.0");
        if version != "2.0" {
            // Only v2 payloads are modelled; refusing is more honest than sending a wrong shape.
            return Err(webhook_error(
                "version",
                "only 2.0 is supported by the sandbox",
            ));
        }
        let company = self
            .companies
            .get_mut(&company_id)
            .ok_or_else(|| ApiError::not_found("Company not found"))?;
        let owned = company
            .webhooks
            .values()
            .filter(|w| w.client_id == client_id && w.user_id == user_id)
            .count();
        if owned >= MAX_PER_USER {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "Webhooks limit reached",
            ));
        }
        let id = company.next_webhook_id;
        company.next_webhook_id += 1;
        let hook = Webhook {
            id,
            client_id: client_id.to_owned(),
            user_id,
            event_action: action.to_owned(),
            event_object: object.to_owned(),
            subscription_url: url.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            http_auth_user: str_field(body, "http_auth_user").map(str::to_owned),
            http_auth_password: str_field(body, "http_auth_password").map(str::to_owned),
            add_time_ms: now_ms,
            first_failures: 0,
            banned_until_ms: None,
            last_delivery_ms: None,
            last_http_status: None,
        };
        let out = hook.to_json(company_id);
        company.webhooks.insert(id, hook);
        Ok(out)
    }

    /// Queues one delivery per matching webhook; during a ban the event is dropped and counted.
    pub fn emit(&mut self, event: Event<'_>, now_ms: i64) {
        let event_id = self.uuid();
        let correlation_id = self.uuid();
        let Some(company) = self.companies.get_mut(&event.company_id) else {
            return;
        };
        for hook in company.webhooks.values_mut() {
            if !hook.matches(event.kind, event.action) {
                continue;
            }
            match hook.banned_until_ms {
                Some(until) if now_ms < until => {
                    company.dropped_events += 1;
                    continue;
                }
                Some(_) => {
                    hook.banned_until_ms = None;
                    hook.first_failures = 0;
                }
                None => {}
            }
            let payload = json!({
                "meta": {
                    "action": event.action, "entity": event.kind.singular(),
                    "entity_id": event.id.to_string(), "id": event_id,
                    "company_id": event.company_id.to_string(),
                    "user_id": event.user_id.to_string(), "webhook_id": hook.id.to_string(),
                    "webhook_owner_id": hook.user_id.to_string(),
                    "correlation_id": correlation_id, "is_bulk_edit": false,
                    "timestamp": rfc3339(now_ms), "type": "application", "version": "2.0",
                    "change_source": "api", "attempt": 1, "host": event.host,
                    "permitted_user_ids": [event.user_id.to_string()],
                },
                "data": event.data, "previous": event.previous,
            });
            let auth = hook.http_auth_user.clone().map(|u| {
                let password = hook.http_auth_password.clone().unwrap_or_default();
                (u, password)
            });
            self.outbox.push(Delivery {
                company_id: event.company_id,
                webhook_id: hook.id,
                url: hook.subscription_url.clone(),
                auth,
                payload,
            });
        }
    }

    /// Records the outcome of an attempt; only first attempts count towards a ban.
    pub fn delivery_result(
        &mut self,
        d: &Delivery,
        attempt: u32,
        status: Option<u16>,
        now_ms: i64,
    ) {
        let Some(hook) = self
            .companies
            .get_mut(&d.company_id)
            .and_then(|c| c.webhooks.get_mut(&d.webhook_id))
        else {
            return;
        };
        hook.last_delivery_ms = Some(now_ms);
        hook.last_http_status = status;
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        if attempt == 1 && !ok {
            hook.first_failures += 1;
            if hook.first_failures >= BAN_AFTER {
                hook.banned_until_ms = Some(now_ms + BAN_MS);
            }
        }
    }

    /// A v4-shaped UUID from the seeded generator.
    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}
