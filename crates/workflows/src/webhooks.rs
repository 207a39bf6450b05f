//! Registering the tenant's Pipedrive webhooks: one v2 webhook per followed object and action,
//! all pointing at the tenant's unguessable path and carrying its random Basic credentials.
//! Registration is idempotent: what Pipedrive already lists at our URL is kept, only what is
//! missing is created, so a retried job never registers twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use dealbridge_core::event::{ChangeAction, PipedriveEntity};
use dealbridge_core::TenantId;
use dealbridge_crypto::KeyRing;
use dealbridge_inbox::{random_token, WebhookCredentials};
use dealbridge_jobs::JobError;
use dealbridge_pipedrive::models::{NewWebhook, Webhook};
use dealbridge_pipedrive::CompanyClient;
use dealbridge_storage::{NewWebhookRegistration, WebhookRegistration};
use url::Url;

use crate::errors::{job_error, store_error};
use crate::Workflows;

/// What webhook registration needs besides the store: the key ring that seals the Basic
/// password, and the address Pipedrive reaches us at.
#[derive(Clone)]
pub struct WebhookSetup {
    pub keys: Arc<KeyRing>,
    /// `DEALBRIDGE_PUBLIC_URL`; deliveries go to `{public_url}/hooks/pipedrive/{path_token}`.
    pub public_url: Url,
}

/// The changes Dealbridge follows: create, change and delete of deals, persons and organizations.
/// Pipedrive's `POST /v1/webhooks` documents `event_action` ∈ {create, change, delete, *} and
/// `event_object` ∈ {deal, person, organization, ...}; we name each pair rather than use `*`, so
/// nothing we do not read (activities, notes, users) is ever sent to us.
pub fn followed_webhooks() -> impl Iterator<Item = (PipedriveEntity, ChangeAction)> {
    PipedriveEntity::ALL
        .into_iter()
        .flat_map(|entity| ChangeAction::ALL.into_iter().map(move |a| (entity, a)))
}

/// The key a webhook's id is stored under: `deal.create`, `person.delete`, ...
pub fn webhook_key(object: &str, action: &str) -> String {
    format!("{object}.{action}")
}

/// What registration found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registered {
    /// Followed webhooks already listed at our URL.
    pub kept: Vec<String>,
    /// Followed webhooks created now.
    pub created: Vec<String>,
}

impl WebhookSetup {
    /// Where Pipedrive delivers the tenant's events.
    pub fn hook_url(&self, path_token: &str) -> Result<Url, JobError> {
        self.public_url
            .join(&format!("hooks/pipedrive/{path_token}"))
            .map_err(|e| JobError::permanent(BadPublicUrl(e)))
    }
}

/// `DEALBRIDGE_PUBLIC_URL` cannot carry a webhook path (checked at start-up, so this is a bug).
#[derive(Debug, thiserror::Error)]
#[error("the public URL cannot carry a webhook path")]
pub(crate) struct BadPublicUrl(#[source] url::ParseError);

/// The followed webhooks Pipedrive lists at `url`, by key.
pub(crate) fn ours<'a>(listed: &'a [Webhook], url: &Url) -> BTreeMap<String, &'a Webhook> {
    listed
        .iter()
        .filter(|w| w.subscription_url.as_deref() == Some(url.as_str()))
        .filter_map(|w| {
            let key = webhook_key(w.event_object.as_deref()?, w.event_action.as_deref()?);
            Some((key, w))
        })
        .collect()
}

impl Workflows {
    /// The tenant's registration, created with fresh credentials and path on first use. The store
    /// keeps the first one written, so concurrent or retried jobs agree on it.
    pub(crate) async fn registration(
        &self,
        tenant_id: TenantId,
    ) -> Result<WebhookRegistration, JobError> {
        if let Some(existing) = self
            .store
            .webhook_registration(tenant_id)
            .await
            .map_err(store_error)?
        {
            return Ok(existing);
        }
        let credentials = WebhookCredentials::generate();
        let sealed = credentials
            .seal(&self.hooks.keys, tenant_id)
            .map_err(JobError::permanent)?;
        self.store
            .ensure_webhook_registration(&NewWebhookRegistration {
                tenant_id,
                path_token: random_token(),
                username: credentials.username.clone(),
                credentials: sealed,
            })
            .await
            .map_err(store_error)
    }

    /// Makes sure every followed webhook exists in the tenant's Pipedrive at its URL, creating
    /// only the missing ones, and records their ids.
    pub(crate) async fn register_webhooks(
        &self,
        client: &CompanyClient,
        tenant_id: TenantId,
    ) -> Result<Registered, JobError> {
        let registration = self.registration(tenant_id).await?;
        let url = self.hooks.hook_url(&registration.path_token)?;
        let listed = client.webhooks().list().await.map_err(job_error)?;
        let existing = ours(&listed, &url);
        let credentials = WebhookCredentials::open(
            &self.hooks.keys,
            tenant_id,
            &registration.username,
            &registration.credentials,
        )
        .map_err(JobError::permanent)?;
        let mut ids = BTreeMap::new();
        let mut report = Registered::default();
        for (entity, action) in followed_webhooks() {
            let key = webhook_key(entity.as_str(), action.as_str());
            if let Some(webhook) = existing.get(&key) {
                ids.insert(key.clone(), webhook_id(webhook.id)?);
                report.kept.push(key);
                continue;
            }
            let created = client
                .webhooks()
                .create(&NewWebhook {
                    subscription_url: url.to_string(),
                    event_action: action.as_str().into(),
                    event_object: entity.as_str().into(),
                    name: format!("Dealbridge {key}"),
                    user_id: None,
                    http_auth_user: Some(credentials.username.clone()),
                    http_auth_password: Some(credentials.password.clone()),
                    version: "2.0".into(),
                })
                .await
                .map_err(job_error)?;
            ids.insert(key.clone(), webhook_id(created.id)?);
            report.created.push(key);
        }
        self.store
            .set_webhook_ids(tenant_id, &ids)
            .await
            .map_err(store_error)?;
        Ok(report)
    }

    /// Deletes the tenant's webhooks from its Pipedrive (while we are still authorised) and drops
    /// the registration. A webhook Pipedrive no longer has is not an error.
    pub async fn remove_webhooks(
        &self,
        client: &CompanyClient,
        tenant_id: TenantId,
    ) -> Result<usize, JobError> {
        let Some(registration) = self
            .store
            .webhook_registration(tenant_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(0);
        };
        let url = self.hooks.hook_url(&registration.path_token)?;
        let listed = client.webhooks().list().await.map_err(job_error)?;
        let mut removed = 0;
        for webhook in listed
            .iter()
            .filter(|w| w.subscription_url.as_deref() == Some(url.as_str()))
        {
            match client.webhooks().delete(webhook.id).await {
                Ok(()) => removed += 1,
                Err(dealbridge_pipedrive::Error::NotFound { .. }) => {}
                Err(err) => return Err(job_error(err)),
            }
        }
        self.store
            .delete_webhook_registration(tenant_id)
            .await
            .map_err(store_error)?;
        Ok(removed)
    }
}

fn webhook_id(id: u64) -> Result<i64, JobError> {
    i64::try_from(id)
        .map_err(|_| JobError::permanent("Pipedrive returned an out-of-range webhook id"))
}
