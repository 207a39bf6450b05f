#![doc = include_str!("../README.md")]

mod aad;
mod error;
mod key_id;
mod keyring;
mod sealed;
mod vault;

pub use aad::Aad;
pub use error::{CryptoError, KeyRingError};
pub use key_id::MAX_KEY_ID_LEN;
pub use keyring::{KeyRing, ENV_VAR, KEY_LEN};
pub use sealed::Sealed;
pub use secrecy::{ExposeSecret, SecretSlice, SecretString};
pub use vault::MAX_PLAINTEXT_LEN;
