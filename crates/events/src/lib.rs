#![doc = include_str!("../README.md")]

pub mod api2cart;
mod delivery;
mod error;
pub mod event_api;
mod headers;
pub mod records;
pub mod shopify;
mod signature;
mod validate;
pub mod woocommerce;

pub use delivery::{ConnectionLoss, Delivery, Ignored};
pub use error::{FieldError, IngestError};
pub use headers::Headers;
pub use signature::{sign_body, token_matches, verify_body};
pub use validate::{is_amount, is_email};
