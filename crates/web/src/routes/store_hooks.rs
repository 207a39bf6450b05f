//! The connected stores' webhooks, one route per kind, each connection on its own unguessable
//! path: `POST /hooks/shopify/{path_token}`, `/hooks/woocommerce/{path_token}` and
//! `/hooks/api2cart/{path_token}?token=...` (API2Cart signs nothing, so its callback URL also
//! carries a sealed per-connection token, in the query string, which the request log leaves out).
//! The pipeline is `dealbridge_inbox::StoreReceiver`; a 2xx goes out only once what the delivery
//! asks for is committed.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use dealbridge_inbox::{StoreOutcome, StoreReceiver};
use dealbridge_storage::StoreKind;
use serde::Deserialize;

use crate::ingest::{headers, recorded_word, refusal};
use crate::AppError;

/// The largest body any store's parser accepts (their limits are equal).
pub const MAX_STORE_HOOK_BODY: usize = dealbridge_events::shopify::MAX_BODY_BYTES;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let limit = || web::PayloadConfig::new(MAX_STORE_HOOK_BODY);
    cfg.service(
        web::resource("/hooks/shopify/{path_token}")
            .app_data(limit())
            .route(web::post().to(shopify)),
    )
    .service(
        web::resource("/hooks/woocommerce/{path_token}")
            .app_data(limit())
            .route(web::post().to(woocommerce)),
    )
    .service(
        web::resource("/hooks/api2cart/{path_token}")
            .app_data(limit())
            .route(web::post().to(api2cart)),
    );
}

#[derive(Deserialize)]
struct CallbackToken {
    token: Option<String>,
}

async fn shopify(
    req: HttpRequest,
    receiver: web::Data<StoreReceiver>,
    path_token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    receive(StoreKind::Shopify, req, receiver, path_token, None, body).await
}

async fn woocommerce(
    req: HttpRequest,
    receiver: web::Data<StoreReceiver>,
    path_token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    receive(
        StoreKind::WooCommerce,
        req,
        receiver,
        path_token,
        None,
        body,
    )
    .await
}

async fn api2cart(
    req: HttpRequest,
    receiver: web::Data<StoreReceiver>,
    path_token: web::Path<String>,
    query: web::Query<CallbackToken>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let token = query.into_inner().token;
    receive(StoreKind::Api2Cart, req, receiver, path_token, token, body).await
}

async fn receive(
    kind: StoreKind,
    req: HttpRequest,
    receiver: web::Data<StoreReceiver>,
    path_token: web::Path<String>,
    callback_token: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let outcome = receiver
        .receive(
            kind,
            &path_token,
            callback_token.as_deref(),
            &headers(&req),
            &body,
            Utc::now(),
        )
        .await
        .map_err(refusal)?;
    let status = match outcome {
        StoreOutcome::Recorded(recorded) => recorded_word(recorded),
        StoreOutcome::Ignored => "ignored",
        StoreOutcome::ConnectionLost => "connection_lost",
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true, "status": status })))
}
