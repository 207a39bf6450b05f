//! Pipedrive opens the app's settings page in an iframe with a `token` JWT (HS256, signed with the
//! extension's JWT secret or else the app's client secret) naming the user and company. We accept
//! only HS256, require `exp`, and require the ids to match both the query and an installation.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::pipedrive_ids::pipedrive_id;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IframeTokenError {
    #[error("the Pipedrive token is missing or invalid")]
    Invalid,
    #[error("the Pipedrive token has expired; reload the page in Pipedrive")]
    Expired,
    #[error("the Pipedrive token names another company or user")]
    Mismatch,
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(rename = "companyId", alias = "company_id")]
    company_id: serde_json::Value,
    #[serde(rename = "userId", alias = "user_id")]
    user_id: serde_json::Value,
    exp: i64,
}

/// Who Pipedrive says is looking at the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IframeUser {
    pub company_id: i64,
    pub user_id: i64,
}

/// Verifies `token` and checks it against the `companyId`/`userId` query parameters.
pub fn verify(
    token: &str,
    secret: &[u8],
    query_company: i64,
    query_user: i64,
    now: i64,
) -> Result<IframeUser, IframeTokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false; // checked below against the caller's clock
    validation.validate_aud = false; // Pipedrive documents no audience
    validation.set_required_spec_claims(&["exp"]);
    let claims =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|_| IframeTokenError::Invalid)?
            .claims;
    if claims.exp <= now {
        return Err(IframeTokenError::Expired);
    }
    let user = IframeUser {
        company_id: pipedrive_id(&claims.company_id).ok_or(IframeTokenError::Invalid)?,
        user_id: pipedrive_id(&claims.user_id).ok_or(IframeTokenError::Invalid)?,
    };
    if user.company_id != query_company || user.user_id != query_user {
        return Err(IframeTokenError::Mismatch);
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const NOW: i64 = 1_900_000_000;
    const SECRET: &[u8] = b"client-secret-of-the-app";

    fn token(alg: Algorithm, secret: &[u8], claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn good() -> serde_json::Value {
        json!({"companyId": 77, "userId": "9", "exp": NOW + 300, "iat": NOW})
    }

    #[test]
    fn a_valid_token_names_the_user() {
        let user = verify(&token(Algorithm::HS256, SECRET, good()), SECRET, 77, 9, NOW).unwrap();
        assert_eq!(
            user,
            IframeUser {
                company_id: 77,
                user_id: 9
            }
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let wrong_secret = token(Algorithm::HS256, b"someone else", good());
        assert_eq!(
            verify(&wrong_secret, SECRET, 77, 9, NOW),
            Err(IframeTokenError::Invalid)
        );

        let hs512 = token(Algorithm::HS512, SECRET, good());
        assert_eq!(
            verify(&hs512, SECRET, 77, 9, NOW),
            Err(IframeTokenError::Invalid)
        );

        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(good().to_string())
        );
        assert_eq!(
            verify(&none, SECRET, 77, 9, NOW),
            Err(IframeTokenError::Invalid)
        );

        let expired = token(
            Algorithm::HS256,
            SECRET,
            json!({"companyId": 77, "userId": 9, "exp": NOW}),
        );
        assert_eq!(
            verify(&expired, SECRET, 77, 9, NOW),
            Err(IframeTokenError::Expired)
        );

        let no_exp = token(
            Algorithm::HS256,
            SECRET,
            json!({"companyId": 77, "userId": 9}),
        );
        assert_eq!(
            verify(&no_exp, SECRET, 77, 9, NOW),
            Err(IframeTokenError::Invalid)
        );

        let valid = token(Algorithm::HS256, SECRET, good());
        assert_eq!(
            verify(&valid, SECRET, 78, 9, NOW),
            Err(IframeTokenError::Mismatch)
        );
        assert_eq!(
            verify(&valid, SECRET, 77, 10, NOW),
            Err(IframeTokenError::Mismatch)
        );
        assert_eq!(
            verify("not.a.jwt", SECRET, 77, 9, NOW),
            Err(IframeTokenError::Invalid)
        );
    }
}
