use std::sync::Arc;

use dealbridge_crypto::KeyRing;
use dealbridge_pipedrive::Pipedrive;
use dealbridge_storage::Store;
use secrecy::SecretString;
use url::Url;

use crate::oauth_state::StateSigner;
use crate::Templates;

/// What every handler can reach, shared by all actix workers (built once at start-up).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub templates: Templates,
    pub pipedrive: Pipedrive,
    pub keys: Arc<KeyRing>,
    pub app: Arc<AppIdentity>,
    pub states: StateSigner,
    /// The support console's stand-in hash and first-run hint.
    pub console: Arc<crate::ConsoleState>,
    /// The longest a dashboard or console sign-in lasts, checked on every request (the cookie
    /// itself carries no expiry the server could trust).
    pub session_max_age: std::time::Duration,
    /// Our API2Cart account, when configured: connecting an API2Cart store registers its
    /// webhooks through it.
    pub api2cart: Option<dealbridge_inbox::Api2Cart>,
    /// Offline only: the embedded sandbox's demo store, for the first tenant installed.
    pub demo_store: Option<Arc<crate::DemoStore>>,
    /// The settings page's choices read from each tenant's Pipedrive, kept briefly so a page
    /// view does not spend the company's tokens again (`ChoicesCache::default()` to start).
    pub choices: Arc<crate::ChoicesCache>,
    /// Who installed each installation, by name, kept an hour so the overview costs no tokens on
    /// most loads (`InstallerNames::default()` to start).
    pub installer_names: Arc<crate::InstallerNames>,
    /// Private mode (one company, a personal API token, no Marketplace): the install, OAuth,
    /// uninstall and settings-iframe routes answer 404, and `/login` opens the dashboard.
    pub private: Option<Arc<PrivateDashboard>>,
}

/// The one company private mode serves, and who may open its dashboard.
#[derive(Debug, Clone)]
pub struct PrivateDashboard {
    pub tenant_id: dealbridge_core::TenantId,
    pub user_id: dealbridge_core::UserId,
    pub company_name: String,
    /// Normalised; the password is that email's support console account's.
    pub admin_email: String,
    /// What the dashboard's own Pipedrive calls (settings choices, import fields) act with: the
    /// same token as the jobs, never the vault.
    pub api_token: dealbridge_workflows::PrivateToken,
}

impl AppState {
    /// Refuses a Marketplace route (install, OAuth callback, uninstall notice, settings iframe)
    /// in private mode, where no Marketplace app exists to call it.
    pub fn marketplace_only(&self) -> Result<(), crate::AppError> {
        match self.private {
            Some(_) => Err(crate::AppError::NotFound),
            None => Ok(()),
        }
    }
}

/// Who we are to Pipedrive, and where we live.
pub struct AppIdentity {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Verifies the settings iframe's JWT (the extension's secret, else the client secret).
    pub jwt_secret: SecretString,
    pub public_url: Url,
    /// Set when running against the embedded sandbox, for the landing page's link.
    pub sandbox_url: Option<String>,
}
