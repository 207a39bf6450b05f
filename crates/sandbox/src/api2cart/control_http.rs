//! The API2Cart stand-in's control routes, under `/_sandbox/api2cart` (JSON; same behaviour as
//! [`super::Api2Cart`]).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{Api2Cart, CustomerChanges, OrderSpec, StoreSpec};
use crate::error::Result;
use crate::server::Shared;

fn control(shared: &web::Data<Shared>) -> Api2Cart {
    Api2Cart {
        shared: shared.clone().into_inner(),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api2cart/stores", web::post().to(create_store))
        .route("/api2cart/stores/{key}", web::get().to(store))
        .route("/api2cart/stores/{key}/orders", web::post().to(place_order))
        .route(
            "/api2cart/stores/{key}/orders/{id}/status",
            web::put().to(order_status),
        )
        .route(
            "/api2cart/stores/{key}/customers/{id}",
            web::patch().to(update_customer),
        )
        .route(
            "/api2cart/stores/{key}/connection",
            web::delete().to(break_connection),
        )
        .route(
            "/api2cart/stores/{key}/connection",
            web::put().to(restore_connection),
        );
}

async fn create_store(s: web::Data<Shared>, body: web::Json<StoreSpec>) -> Result<HttpResponse> {
    Ok(HttpResponse::Created().json(control(&s).create_store(body.into_inner())?))
}

async fn store(s: web::Data<Shared>, key: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(control(&s).store(&key)?))
}

async fn place_order(
    s: web::Data<Shared>,
    key: web::Path<String>,
    body: web::Json<OrderSpec>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Created().json(control(&s).place_order(&key, body.into_inner())?))
}

#[derive(Deserialize)]
struct Status {
    status: String,
}

async fn order_status(
    s: web::Data<Shared>,
    path: web::Path<(String, String)>,
    body: web::Json<Status>,
) -> Result<HttpResponse> {
    let (key, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(control(&s).update_order_status(&key, &id, &body.status)?))
}

async fn update_customer(
    s: web::Data<Shared>,
    path: web::Path<(String, String)>,
    body: web::Json<CustomerChanges>,
) -> Result<HttpResponse> {
    let (key, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(control(&s).update_customer(&key, &id, body.into_inner())?))
}

#[derive(Deserialize)]
struct Loss {
    #[serde(default = "default_reason")]
    reason: String,
}

fn default_reason() -> String {
    "incorrect store key".to_owned()
}

async fn break_connection(
    s: web::Data<Shared>,
    key: web::Path<String>,
    body: Option<web::Json<Loss>>,
) -> Result<HttpResponse> {
    let reason = body.map_or_else(default_reason, |b| b.into_inner().reason);
    control(&s).break_connection(&key, &reason)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn restore_connection(s: web::Data<Shared>, key: web::Path<String>) -> Result<HttpResponse> {
    control(&s).restore_connection(&key)?;
    Ok(HttpResponse::NoContent().finish())
}
