//! Pipedrive opens the app's settings page in an iframe with a `token` JWT (HS256, signed with the
//! extension's JWT secret or else the app's client secret) naming the user and company. We accept
//! only HS256, require `exp`, and require the ids to match both the query and an installation.
//!
//! A token is a sign-in, so it must be fresh and work once: `exp` may lie at most
//! [`MAX_LIFETIME_SECS`] ahead (Pipedrive's tokens live 5 minutes; a 10-year token is refused), an
//! `iat`, when present, must be within [`MAX_AGE_SECS`] and not in the future, and the caller
//! consumes [`IframeUser::single_use_id`] in the store so a replayed token (from a log, a proxy,
//! the browser's history) signs no one in.

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

/// The furthest ahead a token's `exp` may be.
pub const MAX_LIFETIME_SECS: i64 = 15 * 60;
/// The oldest a token's `iat` may be.
pub const MAX_AGE_SECS: i64 = 10 * 60;
/// Clocks differ a little between Pipedrive and us.
const CLOCK_SKEW_SECS: i64 = 60;

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(rename = "companyId", alias = "company_id")]
    company_id: serde_json::Value,
    #[serde(rename = "userId", alias = "user_id")]
    user_id: serde_json::Value,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
}

/// Who Pipedrive says is looking at the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IframeUser {
    pub company_id: i64,
    pub user_id: i64,
    /// Until when the token would be accepted (how long its single use must be remembered).
    pub exp: i64,
    /// What makes this token single use: its `jti`, or else its signature (an HMAC, unique per
    /// token; a recorded one is useless, since the token it belongs to is then spent).
    pub single_use_id: String,
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
    if claims.exp <= now || claims.iat.is_some_and(|iat| iat < now - MAX_AGE_SECS) {
        return Err(IframeTokenError::Expired);
    }
    if claims.exp > now + MAX_LIFETIME_SECS
        || claims.iat.is_some_and(|iat| iat > now + CLOCK_SKEW_SECS)
    {
        return Err(IframeTokenError::Invalid);
    }
    let signature = token.rsplit('.').next().unwrap_or_default();
    let user = IframeUser {
        company_id: pipedrive_id(&claims.company_id).ok_or(IframeTokenError::Invalid)?,
        user_id: pipedrive_id(&claims.user_id).ok_or(IframeTokenError::Invalid)?,
        exp: claims.exp,
        single_use_id: match claims.jti.filter(|j| !j.is_empty()) {
            Some(jti) => format!("jti:{jti}"),
            None => format!("sig:{signature}"),
        },
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
        let token = token(Algorithm::HS256, SECRET, good());
        let user = verify(&token, SECRET, 77, 9, NOW).unwrap();
        assert_eq!(
            (user.company_id, user.user_id, user.exp),
            (77, 9, NOW + 300)
        );
        let signature = token.rsplit('.').next().unwrap();
        assert_eq!(user.single_use_id, format!("sig:{signature}"));
        let with_jti = json!({"companyId": 77, "userId": 9, "exp": NOW + 300, "jti": "abc"});
        let user = verify(
            &self::token(Algorithm::HS256, SECRET, with_jti),
            SECRET,
            77,
            9,
            NOW,
        );
        assert_eq!(user.unwrap().single_use_id, "jti:abc");
    }

    #[test]
    fn long_lived_stale_and_future_tokens_are_refused() {
        let ten_years = json!({"companyId": 77, "userId": 9, "exp": NOW + 10 * 365 * 86400});
        assert_eq!(
            verify(
                &token(Algorithm::HS256, SECRET, ten_years),
                SECRET,
                77,
                9,
                NOW
            ),
            Err(IframeTokenError::Invalid)
        );
        let stale =
            json!({"companyId": 77, "userId": 9, "exp": NOW + 60, "iat": NOW - MAX_AGE_SECS - 1});
        assert_eq!(
            verify(&token(Algorithm::HS256, SECRET, stale), SECRET, 77, 9, NOW),
            Err(IframeTokenError::Expired)
        );
        let future = json!({"companyId": 77, "userId": 9, "exp": NOW + 600, "iat": NOW + 3600});
        assert_eq!(
            verify(&token(Algorithm::HS256, SECRET, future), SECRET, 77, 9, NOW),
            Err(IframeTokenError::Invalid)
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
