//! Error types. No variant carries key material or plaintext: ids and
//! positions are enough to fix a configuration, and decryption failures are
//! deliberately opaque so callers cannot learn *why* a ciphertext was refused.

use thiserror::Error;

/// The key ring could not be loaded from its textual form.
///
/// Entries are numbered from 1 in the order they appear. Key ids are only
/// echoed once they have passed validation, because an entry written the
/// wrong way round (`key:id`) would otherwise put the key into the message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyRingError {
    #[error("environment variable {var} is not set")]
    NotSet { var: &'static str },
    #[error("environment variable {var} is not valid UTF-8")]
    NotUnicode { var: &'static str },
    #[error("key ring is empty: expected at least one `id:base64key` entry")]
    Empty,
    #[error("key ring entry {entry} is empty (stray comma?)")]
    EmptyEntry { entry: usize },
    #[error("key ring entry {entry} has no `:` between key id and key")]
    MissingSeparator { entry: usize },
    #[error("key ring entry {entry} has an invalid key id: {reason}")]
    InvalidId { entry: usize, reason: &'static str },
    #[error("key `{id}` (entry {entry}) is not valid standard base64")]
    InvalidBase64 { entry: usize, id: String },
    #[error("key `{id}` (entry {entry}) decodes to {len} bytes, expected 32")]
    WrongKeyLength {
        entry: usize,
        id: String,
        len: usize,
    },
    #[error("key id `{id}` appears more than once")]
    DuplicateId { id: String },
}

/// Encrypting or decrypting a value failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The value was sealed under a key this ring does not hold (removed too
    /// early during a rotation, or the wrong key ring is configured).
    #[error("value was encrypted with key `{id}`, which is not in the key ring")]
    UnknownKeyId { id: String },
    /// Tampered data, wrong associated data or wrong key. One opaque variant
    /// on purpose: distinguishing them would give an attacker an oracle.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The bytes are not a sealed value in a format this crate understands.
    #[error("malformed ciphertext: {reason}")]
    MalformedCiphertext { reason: &'static str },
    /// Refused before encrypting: secrets are small and a huge value almost
    /// certainly means the wrong thing is being stored.
    #[error("plaintext is {len} bytes, the limit is {max}")]
    PlaintextTooLarge { len: usize, max: usize },
    /// Decrypted fine, but the caller asked for text and the value is binary.
    #[error("decrypted value is not valid UTF-8")]
    NotUtf8,
}
