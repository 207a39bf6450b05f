//! The two API2Cart calls a store connection needs: registering the webhooks that call us
//! (`webhook.create`) and removing them on disconnect (`webhook.delete`). v1.1 authenticates with
//! `x-api-key` (our API2Cart account) and `x-store-key` (the connected store's key); answers are
//! `{return_code, return_message, result}`, 0 meaning OK (API2Cart's public OpenAPI file).

use std::time::Duration;

use dealbridge_crypto::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// The events a connection subscribes to: what the events crate turns into `order.created`,
/// `order.updated` and `customer.updated`.
pub const API2CART_EVENTS: [(&str, &str); 4] = [
    ("order", "add"),
    ("order", "update"),
    ("customer", "add"),
    ("customer", "update"),
];

const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum Api2CartError {
    #[error("API2Cart could not be reached")]
    Transport(#[source] reqwest::Error),
    /// API2Cart's own words; they describe the request, never our secrets.
    #[error("API2Cart refused {method}: {message} (code {code})")]
    Refused {
        method: &'static str,
        code: i64,
        message: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    return_code: i64,
    #[serde(default)]
    return_message: String,
    #[serde(default)]
    result: serde_json::Value,
}

/// An API2Cart account: where its API is and its account key. `Debug` hides the key.
#[derive(Clone)]
pub struct Api2Cart {
    http: reqwest::Client,
    base: Url,
    api_key: SecretString,
}

impl std::fmt::Debug for Api2Cart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api2Cart")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Api2Cart {
    /// `base` is the API's root, e.g. `https://api.api2cart.com/v1.1`.
    pub fn new(base: Url, api_key: SecretString) -> Self {
        Self {
            http: reqwest::Client::new(),
            base,
            api_key,
        }
    }

    fn url(&self, method: &str) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}/{method}.json", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    async fn call(
        &self,
        method: &'static str,
        request: reqwest::RequestBuilder,
        store_key: &SecretString,
    ) -> Result<serde_json::Value, Api2CartError> {
        let response = request
            .timeout(TIMEOUT)
            .header("x-api-key", self.api_key.expose_secret())
            .header("x-store-key", store_key.expose_secret())
            .send()
            .await
            .map_err(|e| Api2CartError::Transport(e.without_url()))?;
        let envelope: Envelope = response
            .json()
            .await
            .map_err(|e| Api2CartError::Transport(e.without_url()))?;
        if envelope.return_code != 0 {
            return Err(Api2CartError::Refused {
                method,
                code: envelope.return_code,
                message: envelope.return_message,
            });
        }
        Ok(envelope.result)
    }

    /// Registers a webhook for `entity.action` calling `callback`; returns its id.
    pub async fn create_webhook(
        &self,
        store_key: &SecretString,
        (entity, action): (&str, &str),
        callback: &SecretString,
    ) -> Result<String, Api2CartError> {
        let body = serde_json::json!({
            "entity": entity, "action": action, "callback": callback.expose_secret(),
            "label": "Dealbridge", "active": true,
        });
        let request = self.http.post(self.url("webhook.create")).json(&body);
        let result = self.call("webhook.create", request, store_key).await?;
        match &result["id"] {
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::String(s) => Ok(s.clone()),
            _ => Err(Api2CartError::Refused {
                method: "webhook.create",
                code: -1,
                message: "the answer carried no webhook id".into(),
            }),
        }
    }

    pub async fn delete_webhook(
        &self,
        store_key: &SecretString,
        id: &str,
    ) -> Result<(), Api2CartError> {
        let request = self
            .http
            .delete(self.url("webhook.delete"))
            .query(&[("id", id)]);
        self.call("webhook.delete", request, store_key)
            .await
            .map(|_| ())
    }
}
