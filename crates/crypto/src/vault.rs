//! Sealing and opening values with the key ring.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::Nonce;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::aad::Aad;
use crate::error::CryptoError;
use crate::keyring::KeyRing;
use crate::sealed::{self, Sealed, NONCE_LEN};

/// Largest plaintext accepted. Tokens and API secrets are a few KiB at most;
/// the cap keeps stored values bounded and sits far below AES-GCM's own
/// limit, which is therefore never hit.
pub const MAX_PLAINTEXT_LEN: usize = 64 * 1024;

impl KeyRing {
    /// Encrypts text under the active key, bound to `aad`.
    pub fn encrypt(&self, plaintext: &SecretString, aad: &Aad) -> Result<Sealed, CryptoError> {
        self.encrypt_bytes(plaintext.expose_secret().as_bytes(), aad)
    }

    /// Encrypts bytes under the active key, bound to `aad`, with a fresh
    /// random 96-bit nonce.
    ///
    /// Random nonces are safe for about 2^32 encryptions per key; rotating
    /// keys (which this ring supports) keeps any one key far below that.
    pub fn encrypt_bytes(&self, plaintext: &[u8], aad: &Aad) -> Result<Sealed, CryptoError> {
        let too_large = CryptoError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        };
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(too_large);
        }
        let key = self.active();
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let header = sealed::header(&key.id);
        let ciphertext = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &full_aad(&header, aad),
                },
            )
            // aes-gcm only refuses inputs over its length limit, which the
            // check above already rules out.
            .map_err(|_| too_large)?;
        Ok(Sealed::assemble(&key.id, &nonce, &ciphertext))
    }

    /// Decrypts a value sealed by [`KeyRing::encrypt`] into text.
    pub fn decrypt(&self, sealed: &Sealed, aad: &Aad) -> Result<SecretString, CryptoError> {
        let plaintext = self.open(sealed, aad)?;
        // `to_vec` allocates exactly `len`, so the conversion into a boxed
        // secret does not reallocate and leave an unwiped copy behind.
        let text = String::from_utf8(plaintext.to_vec()).map_err(|err| {
            // Wipe the rejected bytes before dropping them.
            drop(Zeroizing::new(err.into_bytes()));
            CryptoError::NotUtf8
        })?;
        Ok(SecretString::from(text))
    }

    /// Decrypts a value into bytes.
    pub fn decrypt_bytes(
        &self,
        sealed: &Sealed,
        aad: &Aad,
    ) -> Result<SecretSlice<u8>, CryptoError> {
        let plaintext = self.open(sealed, aad)?;
        // Exact-size copy: see `decrypt`.
        Ok(SecretSlice::from(plaintext.to_vec()))
    }

    /// Decrypts under whichever key sealed the value and seals it again
    /// under the active key with a fresh nonce: one step of a rotation.
    pub fn reencrypt(&self, sealed: &Sealed, aad: &Aad) -> Result<Sealed, CryptoError> {
        let plaintext = self.open(sealed, aad)?;
        self.encrypt_bytes(&plaintext, aad)
    }

    /// Id of the key `sealed` was encrypted under (same as [`Sealed::key_id`]).
    pub fn key_id_of<'a>(&self, sealed: &'a Sealed) -> &'a str {
        sealed.key_id()
    }

    /// True when `sealed` is not under the active key and should be
    /// re-encrypted before its key is retired.
    pub fn needs_reencrypt(&self, sealed: &Sealed) -> bool {
        sealed.key_id() != self.active_key_id()
    }

    /// The plaintext buffer is wiped when dropped. Its capacity still
    /// includes the tag, hence the exact-size copies in the callers.
    fn open(&self, sealed: &Sealed, aad: &Aad) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let key = self
            .find(sealed.key_id())
            .ok_or_else(|| CryptoError::UnknownKeyId {
                id: sealed.key_id().to_owned(),
            })?;
        key.cipher
            .decrypt(
                Nonce::from_slice(sealed.nonce()),
                Payload {
                    msg: sealed.ciphertext(),
                    aad: &full_aad(sealed.header(), aad),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::DecryptionFailed)
    }

    fn active(&self) -> &crate::keyring::Key {
        // Constructors guarantee at least one key; index 0 is the active one.
        &self.keys[0]
    }
}

/// Header then caller AAD. The header is length-framed, so the
/// concatenation is unambiguous, and authenticating it means the version
/// and key id cannot be edited undetected.
fn full_aad(header: &[u8], aad: &Aad) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + aad.as_bytes().len());
    out.extend_from_slice(header);
    out.extend_from_slice(aad.as_bytes());
    out
}
