#![doc = include_str!("../README.md")]

mod assets;
mod error;
mod middleware;
mod routes;
mod state;
mod templates;

pub use error::AppError;
pub use middleware::{request_id_header, security_headers};
pub use routes::configure;
pub use state::AppState;
pub use templates::{TemplateError, Templates};
