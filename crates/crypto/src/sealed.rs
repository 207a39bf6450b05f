//! The stored, self-describing form of an encrypted value.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::error::CryptoError;
use crate::key_id;

/// Format version written as the first byte; bump it if the layout changes
/// so old rows can still be recognised.
pub(crate) const VERSION: u8 = 1;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// An encrypted value as stored in the database.
///
/// Layout (`to_bytes`):
///
/// | bytes  | content                                       |
/// |--------|-----------------------------------------------|
/// | 1      | format version, currently `1`                 |
/// | 1      | key id length `n` (1..=32)                    |
/// | n      | key id, ASCII `[a-z0-9_-]`                    |
/// | 12     | random nonce                                  |
/// | rest   | AES-256-GCM ciphertext followed by 16-byte tag |
///
/// The header (version, length, id) is authenticated as part of the
/// associated data, so it cannot be edited without decryption failing.
/// Constructing a `Sealed` from bytes checks the layout; it does not (and
/// cannot) check authenticity — only decryption does.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    bytes: Vec<u8>,
}

impl Sealed {
    /// Assembles a value from parts. `id` must already be a valid key id.
    pub(crate) fn assemble(id: &str, nonce: &[u8; NONCE_LEN], ciphertext: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(2 + id.len() + NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&header(id));
        bytes.extend_from_slice(nonce);
        bytes.extend_from_slice(ciphertext);
        Self { bytes }
    }

    /// Parses and validates the layout of a stored value (BYTEA form).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let malformed = |reason| CryptoError::MalformedCiphertext { reason };
        let (&version, rest) = bytes.split_first().ok_or(malformed("empty value"))?;
        if version != VERSION {
            return Err(malformed("unsupported format version"));
        }
        let (&id_len, rest) = rest.split_first().ok_or(malformed("truncated header"))?;
        let id_len = usize::from(id_len);
        let id = rest.get(..id_len).ok_or(malformed("truncated key id"))?;
        let id = std::str::from_utf8(id).map_err(|_| malformed("key id is not ASCII"))?;
        key_id::validate(id).map_err(|_| malformed("invalid key id"))?;
        if rest.len() - id_len < NONCE_LEN + TAG_LEN {
            return Err(malformed("too short for nonce and tag"));
        }
        Ok(Self {
            bytes: bytes.to_vec(),
        })
    }

    /// Parses the base64 (standard alphabet, padded) form used in TEXT columns.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| CryptoError::MalformedCiphertext {
                reason: "not valid standard base64",
            })?;
        Self::from_bytes(&bytes)
    }

    /// The stored byte form (BYTEA columns).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The stored byte form, owned.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// Consumes the value, returning the stored byte form.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The stored text form (TEXT columns): standard base64 of `to_bytes`.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.bytes)
    }

    /// Id of the key this value was sealed under; readable without any key,
    /// so storage can fill its `key_id` column and rotation can find work.
    pub fn key_id(&self) -> &str {
        // Validated as ASCII in `from_bytes`/`assemble`, so this cannot fail;
        // fall back to "" rather than panic if that invariant were broken.
        std::str::from_utf8(&self.bytes[2..self.nonce_start()]).unwrap_or_default()
    }

    /// Version byte, id length and id: authenticated alongside the caller's AAD.
    pub(crate) fn header(&self) -> &[u8] {
        &self.bytes[..self.nonce_start()]
    }

    pub(crate) fn nonce(&self) -> &[u8] {
        let start = self.nonce_start();
        &self.bytes[start..start + NONCE_LEN]
    }

    /// Ciphertext followed by the GCM tag.
    pub(crate) fn ciphertext(&self) -> &[u8] {
        &self.bytes[self.nonce_start() + NONCE_LEN..]
    }

    fn nonce_start(&self) -> usize {
        2 + usize::from(self.bytes[1])
    }
}

/// Header bytes for a value sealed under `id`.
pub(crate) fn header(id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + id.len());
    out.push(VERSION);
    // Key ids are at most 32 bytes (checked when the key ring is parsed).
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
    out
}

impl fmt::Debug for Sealed {
    // Ciphertext is not secret, but dumping it into logs is noise; the key
    // id and size are what an operator needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id())
            .field("len", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sealed {
        Sealed::assemble("k1", &[7; NONCE_LEN], &[9; TAG_LEN + 3])
    }

    #[test]
    fn layout_matches_the_documented_format() {
        let bytes = sample().into_bytes();
        assert_eq!(&bytes[..4], &[1, 2, b'k', b'1']);
        assert_eq!(&bytes[4..16], &[7; 12]);
        assert_eq!(&bytes[16..], &[9; 19]);
    }

    #[test]
    fn bytes_and_base64_round_trip() {
        let sealed = sample();
        assert_eq!(Sealed::from_bytes(sealed.as_bytes()).unwrap(), sealed);
        assert_eq!(Sealed::from_base64(&sealed.to_base64()).unwrap(), sealed);
        assert_eq!(sealed.key_id(), "k1");
        assert_eq!(sealed.nonce(), &[7; 12]);
        assert_eq!(sealed.ciphertext(), &[9; 19]);
    }

    #[test]
    fn rejects_malformed_layouts() {
        let good = sample().into_bytes();
        let mut wrong_version = good.clone();
        wrong_version[0] = 2;
        let mut id_too_long = good.clone();
        id_too_long[1] = 33;
        let mut bad_id = good.clone();
        bad_id[2] = b'K';
        let cases: [(&str, &[u8]); 6] = [
            ("empty", &[]),
            ("version only", &[1]),
            ("wrong version", &wrong_version),
            ("id length past end", &id_too_long),
            ("id outside alphabet", &bad_id),
            ("no room for tag", &good[..good.len() - 4]),
        ];
        for (name, bytes) in cases {
            assert!(
                matches!(
                    Sealed::from_bytes(bytes),
                    Err(CryptoError::MalformedCiphertext { .. })
                ),
                "{name} should be malformed"
            );
        }
        assert!(Sealed::from_base64("not base64!").is_err());
    }

    #[test]
    fn debug_shows_key_id_not_bytes() {
        let shown = format!("{:?}", sample());
        assert_eq!(shown, "Sealed { key_id: \"k1\", len: 35 }");
    }
}
