//! `DELETE /oauth/callback`: Pipedrive's uninstall notice, authenticated with Basic
//! `client_id:client_secret` (compared in constant time; the scheme name is case-insensitive, RFC
//! 7617). Wrong credentials change nothing and are audited in aggregate (see
//! `services::rejections`); an unknown installation is acknowledged (the notice is
//! fire-and-forget).

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use dealbridge_core::{CompanyId, UserId};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::pipedrive_ids::pipedrive_id;
use subtle::ConstantTimeEq;

use crate::client_address::client_network;
use crate::services::rejections::audit_refusal;
use crate::services::uninstall;
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/callback", web::delete().to(uninstall_notice));
}

#[derive(Debug, Deserialize)]
struct Notice {
    company_id: serde_json::Value,
    user_id: serde_json::Value,
}

async fn uninstall_notice(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    state.marketplace_only()?;
    if !has_client_credentials(&req, &state) {
        let detail = serde_json::json!({ "reason": "bad client credentials" });
        audit_refusal(&state, "uninstall.rejected", &client_network(&req), detail).await?;
        return Err(AppError::Unauthorized("bad client credentials"));
    }
    let notice: Notice = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("uninstall body: {e}")))?;
    let (Some(company), Some(user)) = (
        pipedrive_id(&notice.company_id),
        pipedrive_id(&notice.user_id),
    ) else {
        return Err(AppError::BadRequest(
            "company_id and user_id must be ids".into(),
        ));
    };
    let Some(tenant) = state
        .store
        .tenant_by_company(CompanyId::new(company))
        .await?
    else {
        tracing::info!(
            company.id = company,
            "uninstall notice for an unknown company"
        );
        return Ok(HttpResponse::Ok().finish());
    };
    match uninstall::retire(
        &state,
        tenant.id,
        UserId::new(user),
        "pipedrive",
        "uninstall",
    )
    .await
    {
        Ok(_) | Err(AppError::NotFound) => Ok(HttpResponse::Ok().finish()),
        Err(err) => Err(err),
    }
}

fn has_client_credentials(req: &HttpRequest, state: &AppState) -> bool {
    let expected = format!(
        "{}:{}",
        state.app.client_id,
        state.app.client_secret.expose_secret()
    );
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials)
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .unwrap_or_default();
    bool::from(given.as_slice().ct_eq(expected.as_bytes()))
}

/// The credentials of a `Basic` authorization; the scheme name is case-insensitive (RFC 7617).
fn basic_credentials(header: &str) -> Option<&str> {
    let (scheme, credentials) = header.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("basic").then_some(credentials)
}

#[cfg(test)]
mod tests {
    use super::basic_credentials;

    #[test]
    fn the_basic_scheme_is_case_insensitive() {
        for header in ["Basic abc=", "basic abc=", "BASIC abc="] {
            assert_eq!(basic_credentials(header), Some("abc="), "{header}");
        }
        assert_eq!(basic_credentials("Bearer abc="), None);
        assert_eq!(basic_credentials("Basicabc="), None);
    }
}
