//! OAuth grants (FACTS §1): authorization codes, access and refresh tokens, revoke and
//! uninstall.

use serde::Serialize;
use serde_json::json;

use super::{App, Install, UninstallNotice, World};
use crate::error::{ApiError, Error, Result};

/// Authorization codes live 5 minutes (FACTS §1.3).
const CODE_TTL_MS: i64 = 5 * 60 * 1000;
/// Refresh tokens expire after 60 days unused (FACTS §1.6).
const REFRESH_IDLE_MS: i64 = 60 * 24 * 3600 * 1000;
/// Client id of installs minted by the control API for tests and benchmarks.
pub const CONTROL_CLIENT: &str = "_sandbox";

#[derive(Debug, Clone)]
pub struct AuthCode {
    client_id: String,
    redirect_uri: String,
    company_id: u64,
    user_id: u64,
    expires_ms: i64,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    client_id: String,
    company_id: u64,
    user_id: u64,
    last_used_ms: i64,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token_id: u64,
    pub client_id: String,
    pub company_id: u64,
    pub user_id: u64,
    pub scopes: Vec<String>,
    pub expires_ms: i64,
    pub revoked: bool,
}

/// The token response of FACTS §1.5.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub token_type: String,
    pub refresh_token: String,
    pub scope: String,
    pub expires_in: u64,
    pub api_domain: String,
}

fn oauth_error(message: &str) -> ApiError {
    ApiError {
        status: actix_web::http::StatusCode::BAD_REQUEST,
        body: json!({ "success": false, "error": message }),
    }
}

impl World {
    /// The user pressed Allow: records the install and returns a fresh authorization code.
    pub fn approve(
        &mut self,
        client_id: &str,
        company_id: u64,
        user_id: u64,
        now_ms: i64,
    ) -> Result<(String, String)> {
        let app = self
            .apps
            .get(client_id)
            .ok_or_else(|| Error::NotFound(format!("app {client_id}")))?
            .clone();
        self.check_member(company_id, user_id)?;
        let key = (client_id.to_owned(), company_id, user_id);
        let install = Install {
            scopes: app.scopes.clone(),
            installed_ms: now_ms,
        };
        self.installs.insert(key, install);
        let code = format!("{}.{}", self.hex(8), self.hex(32));
        let auth = AuthCode {
            client_id: client_id.to_owned(),
            redirect_uri: app.callback_url.clone(),
            company_id,
            user_id,
            expires_ms: now_ms + CODE_TTL_MS,
        };
        self.codes.insert(code.clone(), auth);
        Ok((code, app.callback_url))
    }

    /// Checks Basic client credentials; the message is Pipedrive's (FACTS §1.6).
    pub fn client(&self, client_id: &str, secret: &str) -> Result<&App, ApiError> {
        match self.apps.get(client_id) {
            Some(app) if app.client_secret == secret => Ok(app),
            _ => Err(ApiError {
                status: actix_web::http::StatusCode::UNAUTHORIZED,
                body: json!({ "success": false, "error": "Invalid client: client is invalid" }),
            }),
        }
    }

    pub fn exchange_code(
        &mut self,
        client_id: &str,
        code: &str,
        redirect_uri: Option<&str>,
        now_ms: i64,
    ) -> Result<TokenGrant, ApiError> {
        // Removing first makes codes single-use even when the exchange then fails.
        let auth = self
            .codes
            .remove(code)
            .filter(|a| a.client_id == client_id)
            .ok_or_else(|| oauth_error("Invalid grant: authorization_code is invalid"))?;
        if now_ms > auth.expires_ms {
            return Err(oauth_error("Invalid grant: authorization_code has expired"));
        }
        if redirect_uri.is_some_and(|r| r != auth.redirect_uri) {
            return Err(oauth_error("Invalid request: redirect_uri is invalid"));
        }
        Ok(self.grant(client_id, auth.company_id, auth.user_id, None, now_ms))
    }

    pub fn refresh_grant(
        &mut self,
        client_id: &str,
        refresh_token: &str,
        now_ms: i64,
    ) -> Result<TokenGrant, ApiError> {
        let invalid = || oauth_error("Invalid grant: refresh_token is invalid");
        let rt = self.refresh.get(refresh_token).ok_or_else(invalid)?.clone();
        if rt.client_id != client_id {
            return Err(invalid());
        }
        if now_ms - rt.last_used_ms > REFRESH_IDLE_MS {
            self.refresh.remove(refresh_token);
            return Err(invalid());
        }
        let keep = if self.rotate_refresh_tokens {
            self.refresh.remove(refresh_token);
            None
        } else {
            Some(refresh_token.to_owned())
        };
        Ok(self.grant(client_id, rt.company_id, rt.user_id, keep, now_ms))
    }

    /// Issues an access token (and a refresh token unless `keep_refresh` is reused).
    pub fn grant(
        &mut self,
        client_id: &str,
        company_id: u64,
        user_id: u64,
        keep_refresh: Option<String>,
        now_ms: i64,
    ) -> TokenGrant {
        let scopes = self
            .installs
            .get(&(client_id.to_owned(), company_id, user_id))
            .map(|i| i.scopes.clone())
            .unwrap_or_else(|| vec!["base".into()]);
        let token_id = self.next_token_id;
        self.next_token_id += 1;
        let refresh_token = match keep_refresh {
            Some(t) => t,
            None => format!("{company_id}:{user_id}:{}", self.hex(40)),
        };
        self.refresh.insert(
            refresh_token.clone(),
            RefreshToken {
                client_id: client_id.to_owned(),
                company_id,
                user_id,
                last_used_ms: now_ms,
            },
        );
        let access_token = format!("v1u:{token_id}:{}", self.hex(96));
        let expires_ms = now_ms + i64::try_from(self.expires_in).unwrap_or(i64::MAX / 4) * 1000;
        let access = AccessToken {
            token_id,
            client_id: client_id.to_owned(),
            company_id,
            user_id,
            scopes: scopes.clone(),
            expires_ms,
            revoked: false,
        };
        self.access.insert(access_token.clone(), access);
        TokenGrant {
            access_token,
            token_type: "Bearer".into(),
            refresh_token,
            scope: scopes.join(","),
            expires_in: self.expires_in,
            api_domain: self.api_domain(company_id),
        }
    }

    /// Every access and refresh token the sandbox holds for a company (expired and revoked access
    /// tokens included), in clear: what an app must never store or log as such.
    pub fn issued_tokens(&self, company_id: u64) -> Vec<String> {
        let access = self
            .access
            .iter()
            .filter(|(_, t)| t.company_id == company_id)
            .map(|(token, _)| token.clone());
        let refresh = self
            .refresh
            .iter()
            .filter(|(_, t)| t.company_id == company_id)
            .map(|(token, _)| token.clone());
        let api = self
            .api_tokens
            .iter()
            .filter(|(_, t)| t.company_id == company_id)
            .map(|(token, _)| token.clone());
        access.chain(refresh).chain(api).collect()
    }

    /// Mints a token for a company without the OAuth dance, for tests and benchmarks.
    pub fn mint(
        &mut self,
        company_id: u64,
        user_id: Option<u64>,
        scopes: Vec<String>,
        now_ms: i64,
    ) -> Result<TokenGrant> {
        let company = self
            .companies
            .get(&company_id)
            .ok_or_else(|| Error::NotFound(format!("company {company_id}")))?;
        let user_id = match user_id {
            Some(u) => u,
            None => *company
                .user_ids
                .first()
                .ok_or_else(|| Error::Invalid("company has no users".into()))?,
        };
        self.check_member(company_id, user_id)?;
        let key = (CONTROL_CLIENT.to_owned(), company_id, user_id);
        self.installs.insert(
            key,
            Install {
                scopes,
                installed_ms: now_ms,
            },
        );
        Ok(self.grant(CONTROL_CLIENT, company_id, user_id, None, now_ms))
    }

    /// RFC 7009 revoke (FACTS §1.8). A refresh token uninstalls the app for that user.
    pub fn revoke(&mut self, client_id: &str, token: &str, now_ms: i64) -> Option<UninstallNotice> {
        if let Some(at) = self.access.get_mut(token) {
            if at.client_id == client_id {
                at.revoked = true;
            }
            return None;
        }
        let rt = self.refresh.get(token)?.clone();
        if rt.client_id != client_id {
            return None;
        }
        self.uninstall(client_id, rt.company_id, rt.user_id, now_ms)
    }

    /// Removes an install: its tokens stop working, its app webhooks go away, and the app's
    /// callback gets the uninstall notice.
    pub fn uninstall(
        &mut self,
        client_id: &str,
        company_id: u64,
        user_id: u64,
        now_ms: i64,
    ) -> Option<UninstallNotice> {
        let key = (client_id.to_owned(), company_id, user_id);
        self.installs.remove(&key)?;
        let ours = |c: &str, co: u64, u: u64| c == client_id && co == company_id && u == user_id;
        self.refresh
            .retain(|_, r| !ours(&r.client_id, r.company_id, r.user_id));
        for at in self.access.values_mut() {
            if ours(&at.client_id, at.company_id, at.user_id) {
                at.revoked = true;
            }
        }
        if let Some(company) = self.companies.get_mut(&company_id) {
            company
                .webhooks
                .retain(|_, w| !(w.client_id == client_id && w.user_id == user_id));
        }
        let app = self.apps.get(client_id)?;
        Some(UninstallNotice {
            callback_url: app.callback_url.clone(),
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.clone(),
            body: json!({
                "client_id": client_id,
                "company_id": company_id,
                "user_id": user_id,
                "timestamp": crate::clock::rfc3339(now_ms),
            }),
        })
    }

    /// Resolves a bearer token to the install it speaks for.
    pub fn authenticate(&self, token: &str, now_ms: i64) -> Result<&AccessToken, ApiError> {
        match self.access.get(token) {
            Some(at) if !at.revoked && now_ms < at.expires_ms => Ok(at),
            _ => Err(ApiError::unauthorized()),
        }
    }
}
