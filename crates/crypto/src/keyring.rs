//! The key ring: parsing `DEALBRIDGE_ENCRYPTION_KEYS` and generating keys.

use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
use secrecy::SecretString;

use crate::error::KeyRingError;
use crate::key_id;

/// Environment variable holding the key ring.
pub const ENV_VAR: &str = "DEALBRIDGE_ENCRYPTION_KEYS";

/// AES-256 key length in bytes.
pub const KEY_LEN: usize = 32;

/// One key of the ring. The raw key bytes are not kept: only the expanded
/// cipher state, which the `aes` crate wipes on drop (its `zeroize` feature).
pub(crate) struct Key {
    pub(crate) id: String,
    pub(crate) cipher: Aes256Gcm,
}

/// An ordered set of AES-256 keys. The first key is active and used for all
/// new encryptions; the rest are kept only to decrypt older values until
/// they have been re-encrypted.
pub struct KeyRing {
    /// Never empty: every constructor rejects an empty ring.
    pub(crate) keys: Vec<Key>,
}

impl KeyRing {
    /// Loads the ring from [`ENV_VAR`].
    pub fn from_env() -> Result<Self, KeyRingError> {
        let value = std::env::var(ENV_VAR).map_err(|err| match err {
            std::env::VarError::NotPresent => KeyRingError::NotSet { var: ENV_VAR },
            // The payload is the raw value: drop it rather than keep a copy.
            std::env::VarError::NotUnicode(_) => KeyRingError::NotUnicode { var: ENV_VAR },
        })?;
        Self::from_env_str(&Zeroizing::new(value))
    }

    /// Parses `id:base64key[,id:base64key...]`; the first entry is active.
    ///
    /// Whitespace around entries is ignored so a value read from a file with
    /// a trailing newline, or wrapped over lines, still parses.
    pub fn from_env_str(text: &str) -> Result<Self, KeyRingError> {
        if text.trim().is_empty() {
            return Err(KeyRingError::Empty);
        }
        let mut keys: Vec<Key> = Vec::new();
        for (index, raw) in text.split(',').enumerate() {
            let key = parse_entry(index + 1, raw.trim())?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(KeyRingError::DuplicateId { id: key.id });
            }
            keys.push(key);
        }
        Ok(Self { keys })
    }

    /// Creates a fresh random key entry (`id:base64key`) to store somewhere
    /// safe and put into [`ENV_VAR`], e.g. in front of the existing entries
    /// when rotating.
    pub fn generate_entry(id: &str) -> Result<SecretString, KeyRingError> {
        key_id::validate(id).map_err(|reason| KeyRingError::InvalidId { entry: 1, reason })?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        let encoded = Zeroizing::new(STANDARD.encode(key.as_ref()));
        // Sized up front so the buffer holding the key is never reallocated
        // (a reallocation would leave an unwiped copy behind).
        let mut entry = String::with_capacity(id.len() + 1 + encoded.len());
        entry.push_str(id);
        entry.push(':');
        entry.push_str(&encoded);
        Ok(SecretString::from(entry))
    }

    /// A ring with a single fresh key, plus its entry string so the caller
    /// can persist it (sandbox mode writes it to its data folder).
    pub fn generate(id: &str) -> Result<(Self, SecretString), KeyRingError> {
        use secrecy::ExposeSecret as _;
        let entry = Self::generate_entry(id)?;
        let ring = Self::from_env_str(entry.expose_secret())?;
        Ok((ring, entry))
    }

    /// Id of the key used for new encryptions.
    pub fn active_key_id(&self) -> &str {
        // `keys` is never empty (see the field docs).
        self.keys.first().map_or("", |k| k.id.as_str())
    }

    /// All key ids, active first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Whether the ring can decrypt values sealed under `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    pub(crate) fn find(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }
}

fn parse_entry(entry: usize, raw: &str) -> Result<Key, KeyRingError> {
    if raw.is_empty() {
        return Err(KeyRingError::EmptyEntry { entry });
    }
    let (id, encoded) = raw
        .split_once(':')
        .ok_or(KeyRingError::MissingSeparator { entry })?;
    let id = id.trim();
    key_id::validate(id).map_err(|reason| KeyRingError::InvalidId { entry, reason })?;
    let id = id.to_owned();
    // The decode error is dropped: it names the offending byte, which
    // would be a piece of the key.
    let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| {
        KeyRingError::InvalidBase64 {
            entry,
            id: id.clone(),
        }
    })?);
    // `new_from_slice` only fails on a length other than 32 bytes.
    match Aes256Gcm::new_from_slice(&bytes) {
        Ok(cipher) => Ok(Key { id, cipher }),
        Err(_) => Err(KeyRingError::WrongKeyLength {
            entry,
            id,
            len: bytes.len(),
        }),
    }
}

impl fmt::Debug for KeyRing {
    // Ids only: the cipher state is key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active_key_id())
            .field("keys", &self.key_ids().collect::<Vec<_>>())
            .finish()
    }
}
