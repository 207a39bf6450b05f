#![doc = include_str!("../README.md")]

mod api2cart_client;
mod credentials;
mod event_api;
mod payload;
mod receiver;
mod sealing;
mod source_error;
mod store_hooks;
mod writer;

pub use api2cart_client::{Api2Cart, Api2CartError, API2CART_EVENTS};
pub use credentials::{random_token, CredentialError, WebhookCredentials};
pub use event_api::{EventApiReceiver, TENANT_HEADER};
pub use payload::{parse_pipedrive, PayloadError, PipedriveHook};
pub use receiver::{PipedriveReceiver, ReceiveError, EVENT_JOB_KIND};
pub use sealing::{open as open_secret, seal as seal_secret, SealError, SecretRole};
pub use source_error::{event_job_kind, SourceError};
pub use store_hooks::{StoreOutcome, StoreReceiver};
pub use writer::{InboxWriter, WriteError, WriterConfig};
