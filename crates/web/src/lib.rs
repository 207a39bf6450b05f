#![doc = include_str!("../README.md")]

mod assets;
mod console_state;
mod error;
mod iframe_jwt;
mod login_throttle;
mod middleware;
mod oauth_state;
mod pages;
mod pipedrive_ids;
mod routes;
mod services;
mod session;
mod staff_session;
mod state;
mod templates;

pub use console_state::ConsoleState;
pub use error::AppError;
pub use middleware::{request_id_header, security_headers};
pub use oauth_state::StateSigner;
pub use routes::{configure, configure_pipedrive_hooks, MAX_HOOK_BODY};
pub use services::staff::{
    add_account as add_staff_account, StaffAccountError, MIN_PASSWORD_CHARS,
};
pub use session::session_middleware;
pub use state::{AppIdentity, AppState};
pub use templates::{TemplateError, Templates};
