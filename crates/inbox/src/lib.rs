#![doc = include_str!("../README.md")]

mod credentials;
mod payload;
mod receiver;
mod writer;

pub use credentials::{random_token, CredentialError, WebhookCredentials};
pub use payload::{parse_pipedrive, PayloadError, PipedriveHook};
pub use receiver::{PipedriveReceiver, ReceiveError, EVENT_JOB_KIND};
pub use writer::{InboxWriter, WriteError, WriterConfig};
