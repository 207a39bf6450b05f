#![doc = include_str!("../README.md")]

mod assets;
mod client_address;
mod console_state;
mod error;
mod iframe_jwt;
mod ingest;
mod local_time;
pub mod login_throttle;
pub mod metrics;
mod middleware;
mod oauth_state;
pub mod openapi;
mod pages;
mod pipedrive_ids;
mod request_log;
mod routes;
mod services;
mod session;
mod staff_session;
mod state;
mod templates;

pub use console_state::ConsoleState;
pub use error::AppError;
pub use middleware::{html_errors, request_id_header, security_headers};
pub use oauth_state::StateSigner;
pub use request_log::RequestSpan;
pub use routes::{
    configure, configure_event_sources, configure_pipedrive_hooks, MAX_HOOK_BODY,
    MAX_STORE_HOOK_BODY,
};
pub use services::demo_store::{DemoStore, DEMO_STORE_NAME};
pub use services::first_account::{
    first_console_account, FirstAccountError, FIRST_ACCOUNT, PASSWORD_FILE,
};
pub use services::installer_name::InstallerNames;
pub use services::rejections::CALLOUTS_PER_WINDOW;
pub use services::settings_choices::{ChoicesCache, CHOICES_TTL};
pub use services::staff::{
    add_account as add_staff_account, change_role as change_staff_role, normalize_email,
    remove_account as remove_staff_account, StaffAccountError, MIN_PASSWORD_CHARS,
};
pub use services::staff_totp::{
    disable as disable_staff_two_step, enable as enable_staff_two_step, Enrolment,
};
pub use session::{session_middleware, MIN_SESSION_KEY_BYTES};
pub use state::{AppIdentity, AppState, PrivateDashboard};
pub use templates::{TemplateError, Templates};
