//! `POST /oauth/token` (authorization_code and refresh_token grants) and `POST /oauth/revoke`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::delivery;
use crate::error::ApiError;
use crate::server::Shared;
use crate::world::{CallRecord, TokenGrant, World};

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Client credentials from `Authorization: Basic`, or (discouraged but accepted) the body.
fn client_credentials(
    req: &HttpRequest,
    body: (Option<&str>, Option<&str>),
) -> Option<(String, String)> {
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    basic.or_else(|| Some((body.0?.to_owned(), body.1?.to_owned())))
}

fn reply<T: serde::Serialize>(result: Result<T, ApiError>) -> HttpResponse {
    match result {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => HttpResponse::build(e.status).json(e.body),
    }
}

fn oauth_error(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({ "success": false, "error": message }),
    }
}

pub async fn token(
    req: HttpRequest,
    form: web::Form<TokenForm>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let creds = client_credentials(
        &req,
        (form.client_id.as_deref(), form.client_secret.as_deref()),
    );
    let Some((client_id, secret)) = creds else {
        let e = oauth_error(
            StatusCode::UNAUTHORIZED,
            "Invalid client: cannot retrieve client credentials",
        );
        return reply::<()>(Err(e));
    };
    let now = shared.clock.now_ms();
    let mut world = shared.world();
    if let Err(e) = world.client(&client_id, &secret) {
        return reply::<()>(Err(e));
    }
    let result = match form.grant_type.as_deref() {
        None => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "Missing parameter: grant_type",
        )),
        Some("authorization_code") => match form.code.as_deref() {
            Some(code) => world.exchange_code(&client_id, code, form.redirect_uri.as_deref(), now),
            None => Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "Missing parameter: code",
            )),
        },
        Some("refresh_token") => match form.refresh_token.as_deref() {
            Some(rt) => world.refresh_grant(&client_id, rt, now),
            None => Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "Missing parameter: refresh_token",
            )),
        },
        Some(_) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "Unsupported grant type",
        )),
    };
    log_token_call(&mut world, &result, now);
    reply(result)
}

/// Token calls cost nothing but are logged, so tests and benches can count exchanges and refreshes.
fn log_token_call(world: &mut World, result: &Result<TokenGrant, ApiError>, now_ms: i64) {
    let issued = result
        .as_ref()
        .ok()
        .and_then(|g| world.access.get(&g.access_token));
    let record = CallRecord {
        method: "POST".into(),
        path: "/oauth/token".into(),
        company_id: issued.map(|t| t.company_id),
        token_id: issued.map(|t| t.token_id),
        cost: 0,
        status: result.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200),
        time_ms: now_ms,
        limited_by: None,
    };
    world.log_call(record);
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7009: 200 for valid and unknown tokens alike; a refresh token uninstalls the app, and the
/// uninstall `DELETE` is sent to the callback before this answers, so tests can assert on it.
pub async fn revoke(
    req: HttpRequest,
    form: web::Form<RevokeForm>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let creds = client_credentials(
        &req,
        (form.client_id.as_deref(), form.client_secret.as_deref()),
    );
    let Some((client_id, secret)) = creds else {
        return reply::<()>(Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "Invalid client: cannot retrieve client credentials",
        )));
    };
    let now = shared.clock.now_ms();
    let notice = {
        let mut world = shared.world();
        if let Err(e) = world.client(&client_id, &secret) {
            return reply::<()>(Err(e));
        }
        form.token
            .as_deref()
            .and_then(|t| world.revoke(&client_id, t, now))
    };
    if let Some(notice) = notice {
        delivery::send_uninstall(shared.into_inner(), notice).await;
    }
    HttpResponse::Ok().json(json!({ "success": true }))
}
