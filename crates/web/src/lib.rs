#![doc = include_str!("../README.md")]

mod assets;
mod error;
mod iframe_jwt;
mod middleware;
mod oauth_state;
mod pages;
mod pipedrive_ids;
mod routes;
mod services;
mod session;
mod state;
mod templates;

pub use error::AppError;
pub use middleware::{request_id_header, security_headers};
pub use oauth_state::StateSigner;
pub use routes::configure;
pub use session::session_middleware;
pub use state::{AppIdentity, AppState};
pub use templates::{TemplateError, Templates};
