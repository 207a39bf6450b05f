//! The body signature Shopify and WooCommerce share, `base64(HMAC-SHA256(secret, raw body))`, and
//! a constant-time comparison for secrets carried in URLs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::IngestError;

type HmacSha256 = Hmac<Sha256>;

/// `base64(HMAC-SHA256(secret, body))`: what Shopify and WooCommerce put in their signature header.
/// Receivers need it only in tests and stand-ins; [`verify_body`] is the check.
pub fn sign_body(secret: &SecretString, body: &[u8]) -> String {
    STANDARD.encode(mac(secret, body).finalize().into_bytes())
}

fn mac(secret: &SecretString, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

/// Accepts `signature` (the header's base64 text) when it is the body's HMAC under any of
/// `secrets` (several during a rotation). The comparison is constant-time.
pub fn verify_body(
    secrets: &[SecretString],
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), IngestError> {
    let presented = signature
        .and_then(|text| STANDARD.decode(text.trim()).ok())
        .ok_or(IngestError::BadSignature)?;
    let matches = secrets
        .iter()
        .any(|secret| mac(secret, body).verify_slice(&presented).is_ok());
    if matches {
        Ok(())
    } else {
        Err(IngestError::BadSignature)
    }
}

/// Whether a secret presented in a request (an API2Cart callback URL's token) equals the expected
/// one, in time that does not depend on where they differ.
pub fn token_matches(presented: &str, expected: &SecretString) -> bool {
    let expected = expected.expose_secret().as_bytes();
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn a_signature_verifies_under_its_own_secret_only() {
        let body = br#"{"id":1}"#;
        let signature = sign_body(&secret("one"), body);
        assert!(verify_body(&[secret("one")], body, Some(&signature)).is_ok());
        assert!(verify_body(&[secret("old"), secret("one")], body, Some(&signature)).is_ok());
        assert_eq!(
            verify_body(&[secret("two")], body, Some(&signature)),
            Err(IngestError::BadSignature)
        );
        assert_eq!(
            verify_body(&[secret("one")], br#"{"id":2}"#, Some(&signature)),
            Err(IngestError::BadSignature)
        );
        assert_eq!(
            verify_body(&[secret("one")], body, None),
            Err(IngestError::BadSignature)
        );
        assert_eq!(
            verify_body(&[secret("one")], body, Some("not base64!")),
            Err(IngestError::BadSignature)
        );
    }

    #[test]
    fn a_known_vector_matches() {
        // RFC 4231 test case 2.
        let signature = sign_body(&secret("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            STANDARD.decode(signature).ok(),
            Some(vec![
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
                0x64, 0xec, 0x38, 0x43
            ])
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(token_matches("abc", &secret("abc")));
        assert!(!token_matches("abd", &secret("abc")));
        assert!(!token_matches("ab", &secret("abc")));
        assert!(!token_matches("", &secret("")));
    }
}
