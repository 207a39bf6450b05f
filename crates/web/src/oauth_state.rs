//! The OAuth `state`: a signed, expiring value naming a nonce that the same browser also holds in its
//! session cookie. Signing stops forgery, the expiry bounds how long a link works, the cookie binds it
//! to the browser that started the install, and the store makes each nonce usable once, across every
//! instance.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How long an install link works.
pub const STATE_TTL_SECS: i64 = 10 * 60;
const AUDIENCE: &str = "dealbridge:oauth-state";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the install request was not started here")]
    Missing,
    #[error("the install request could not be verified")]
    Forged,
    #[error("the install request expired; please start again")]
    Expired,
    #[error("the install was started in another browser")]
    WrongBrowser,
    #[error("this install link was already used")]
    Replayed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateClaims {
    pub nonce: String,
    pub exp: i64,
    aud: String,
}

#[derive(Clone)]
pub struct StateSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl StateSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A new state and its nonce (the nonce goes into the browser's session).
    pub fn issue(&self, now: i64) -> Result<(String, StateClaims), StateError> {
        let claims = StateClaims {
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            exp: now + STATE_TTL_SECS,
            aud: AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| StateError::Forged)?;
        Ok((token, claims))
    }

    /// Checks signature, expiry and browser binding. Single use is checked by the caller against
    /// the store, after this succeeds.
    pub fn verify(
        &self,
        state: Option<&str>,
        browser_nonce: Option<&str>,
        now: i64,
    ) -> Result<StateClaims, StateError> {
        let state = state.filter(|s| !s.is_empty()).ok_or(StateError::Missing)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_exp = false; // checked below against the caller's clock
        validation.set_required_spec_claims(&["exp", "aud"]);
        let claims = jsonwebtoken::decode::<StateClaims>(state, &self.decoding, &validation)
            .map_err(|_| StateError::Forged)?
            .claims;
        if claims.exp <= now {
            return Err(StateError::Expired);
        }
        if browser_nonce != Some(claims.nonce.as_str()) {
            return Err(StateError::WrongBrowser);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000;

    #[test]
    fn a_fresh_state_verifies_in_its_browser() {
        let signer = StateSigner::new(b"0123456789abcdef0123456789abcdef");
        let (state, claims) = signer.issue(NOW).unwrap();
        let verified = signer
            .verify(Some(&state), Some(&claims.nonce), NOW + 60)
            .unwrap();
        assert_eq!(verified.nonce, claims.nonce);
    }

    #[test]
    fn missing_forged_expired_and_foreign_states_are_refused() {
        let signer = StateSigner::new(b"0123456789abcdef0123456789abcdef");
        let other = StateSigner::new(b"another secret, another install!");
        let (state, claims) = signer.issue(NOW).unwrap();
        let nonce = Some(claims.nonce.as_str());

        assert_eq!(
            signer.verify(None, nonce, NOW).unwrap_err(),
            StateError::Missing
        );
        assert_eq!(
            signer.verify(Some(""), nonce, NOW).unwrap_err(),
            StateError::Missing
        );
        let (forged, _) = other.issue(NOW).unwrap();
        assert_eq!(
            signer.verify(Some(&forged), nonce, NOW).unwrap_err(),
            StateError::Forged
        );
        let mut tampered = state.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert_eq!(
            signer.verify(Some(&tampered), nonce, NOW).unwrap_err(),
            StateError::Forged
        );
        let expired = signer.verify(Some(&state), nonce, NOW + STATE_TTL_SECS);
        assert_eq!(expired.unwrap_err(), StateError::Expired);
        assert_eq!(
            signer.verify(Some(&state), None, NOW).unwrap_err(),
            StateError::WrongBrowser
        );
        let wrong = signer.verify(Some(&state), Some("another-nonce"), NOW);
        assert_eq!(wrong.unwrap_err(), StateError::WrongBrowser);
    }

    #[test]
    fn an_unsigned_state_is_refused() {
        let signer = StateSigner::new(b"0123456789abcdef0123456789abcdef");
        let (_, claims) = signer.issue(NOW).unwrap();
        // alg "none": header {"alg":"none"}, the claims, and no signature.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(serde_json::to_vec(&claims).unwrap());
        let unsigned = format!("{header}.{body}.");
        let result = signer.verify(Some(&unsigned), Some(&claims.nonce), NOW);
        assert_eq!(result.unwrap_err(), StateError::Forged);
    }
}
