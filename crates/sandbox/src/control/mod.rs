//! The control API under `/_sandbox/` (JSON), documented in the crate README, and the demo page.

mod api;
mod page;

pub use api::{all_scopes, Budget, CompanyInfo, Control, DuplicateReport, WebhookStats};

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::config::{AppSpec, CompanySpec, UserSpec};
use crate::error::{Error, Result};
use crate::faults::FaultSpec;
use crate::server::Shared;
use crate::world::entities::EntityKind;

fn control(shared: &web::Data<Shared>) -> Control {
    Control {
        shared: shared.clone().into_inner(),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sandbox")
            .route("", web::get().to(page::index))
            .route("/", web::get().to(page::index))
            .route("/apps", web::post().to(create_app))
            .route("/apps", web::put().to(ensure_app))
            .route("/companies", web::get().to(companies))
            .route("/companies", web::post().to(create_company))
            .route("/companies", web::put().to(ensure_company))
            .route("/companies/{id}/users", web::post().to(add_user))
            .route("/companies/{id}/closed", web::put().to(set_closed))
            .route("/companies/{id}/budget", web::get().to(budget))
            .route("/companies/{id}/records/{kind}", web::get().to(records))
            .route(
                "/companies/{id}/duplicates/{kind}",
                web::get().to(duplicates),
            )
            .route("/companies/{id}/webhooks", web::get().to(webhooks))
            .route("/installs", web::post().to(approve))
            .route("/uninstall", web::post().to(uninstall))
            .route("/tokens", web::post().to(mint))
            .route("/api_tokens", web::post().to(api_token))
            .route("/clock", web::get().to(clock))
            .route("/clock/advance", web::post().to(advance))
            .route("/faults", web::put().to(set_faults))
            .route("/faults", web::delete().to(clear_faults))
            .route("/calls", web::get().to(calls))
            .route("/calls", web::delete().to(clear_calls))
            .route("/budgets/reset", web::post().to(reset_budgets))
            .route("/budgets/reset_time", web::put().to(reset_time))
            .configure(crate::api2cart::configure_control),
    );
}

async fn create_app(s: web::Data<Shared>, body: web::Json<AppSpec>) -> Result<HttpResponse> {
    let app = control(&s).create_app(body.into_inner())?;
    Ok(HttpResponse::Created().json(app))
}

async fn ensure_app(s: web::Data<Shared>, body: web::Json<AppSpec>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(control(&s).ensure_app(body.into_inner())?))
}

async fn ensure_company(
    s: web::Data<Shared>,
    body: web::Json<CompanySpec>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(control(&s).ensure_company(body.into_inner())?))
}

async fn companies(s: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(control(&s).companies())
}

async fn create_company(
    s: web::Data<Shared>,
    body: web::Json<CompanySpec>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Created().json(control(&s).create_company(body.into_inner())?))
}

async fn add_user(
    s: web::Data<Shared>,
    id: web::Path<u64>,
    body: web::Json<UserSpec>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Created().json(control(&s).add_user(*id, body.into_inner())?))
}

#[derive(Deserialize)]
struct Closed {
    closed: bool,
}

async fn set_closed(
    s: web::Data<Shared>,
    id: web::Path<u64>,
    body: web::Json<Closed>,
) -> Result<HttpResponse> {
    control(&s).set_closed(*id, body.closed)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn budget(s: web::Data<Shared>, id: web::Path<u64>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(control(&s).budget(*id)?))
}

fn kind(name: &str) -> Result<EntityKind> {
    EntityKind::from_plural(name)
        .ok_or_else(|| Error::Invalid(format!("unknown record kind {name}")))
}

async fn records(s: web::Data<Shared>, path: web::Path<(u64, String)>) -> Result<HttpResponse> {
    let (id, k) = path.into_inner();
    Ok(HttpResponse::Ok().json(control(&s).records(id, kind(&k)?)?))
}

#[derive(Deserialize)]
struct FieldQuery {
    field: String,
}

async fn duplicates(
    s: web::Data<Shared>,
    path: web::Path<(u64, String)>,
    q: web::Query<FieldQuery>,
) -> Result<HttpResponse> {
    let (id, k) = path.into_inner();
    Ok(HttpResponse::Ok().json(control(&s).duplicates(id, kind(&k)?, &q.field)?))
}

async fn webhooks(s: web::Data<Shared>, id: web::Path<u64>) -> Result<HttpResponse> {
    let (dropped, hooks) = control(&s).webhooks(*id)?;
    Ok(HttpResponse::Ok().json(json!({ "dropped_events": dropped, "webhooks": hooks })))
}

#[derive(Deserialize)]
struct InstallBody {
    client_id: String,
    company_id: u64,
    user_id: u64,
    state: Option<String>,
}

async fn approve(s: web::Data<Shared>, body: web::Json<InstallBody>) -> Result<HttpResponse> {
    let url = control(&s).approve_install(
        &body.client_id,
        body.company_id,
        body.user_id,
        body.state.as_deref(),
    )?;
    Ok(HttpResponse::Ok().json(json!({ "redirect_url": url })))
}

async fn uninstall(s: web::Data<Shared>, body: web::Json<InstallBody>) -> Result<HttpResponse> {
    control(&s)
        .uninstall(&body.client_id, body.company_id, body.user_id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct MintBody {
    company_id: u64,
    user_id: Option<u64>,
    #[serde(default)]
    scopes: Vec<String>,
}

async fn mint(s: web::Data<Shared>, body: web::Json<MintBody>) -> Result<HttpResponse> {
    let b = body.into_inner();
    Ok(HttpResponse::Ok().json(control(&s).mint_token(b.company_id, b.user_id, b.scopes)?))
}

#[derive(Deserialize)]
struct ApiTokenBody {
    company_id: u64,
    user_id: Option<u64>,
}

async fn api_token(s: web::Data<Shared>, body: web::Json<ApiTokenBody>) -> Result<HttpResponse> {
    let token = control(&s).api_token(body.company_id, body.user_id)?;
    Ok(HttpResponse::Ok().json(json!({ "api_token": token })))
}

async fn clock(s: web::Data<Shared>) -> HttpResponse {
    let now = control(&s).now_ms();
    HttpResponse::Ok().json(json!({ "now_ms": now, "now": crate::clock::rfc3339(now) }))
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

async fn advance(s: web::Data<Shared>, body: web::Json<Advance>) -> Result<HttpResponse> {
    if !(body.seconds.is_finite() && body.seconds >= 0.0) {
        return Err(Error::Invalid(
            "seconds must be a non-negative number".into(),
        ));
    }
    control(&s).advance(Duration::from_secs_f64(body.seconds));
    Ok(clock(s).await)
}

#[derive(Deserialize)]
struct FaultsBody {
    company_id: Option<u64>,
    #[serde(flatten)]
    spec: FaultSpec,
}

async fn set_faults(s: web::Data<Shared>, body: web::Json<FaultsBody>) -> HttpResponse {
    let b = body.into_inner();
    control(&s).set_faults(b.company_id, b.spec);
    HttpResponse::NoContent().finish()
}

async fn clear_faults(s: web::Data<Shared>) -> HttpResponse {
    control(&s).clear_faults();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct CallsQuery {
    company_id: Option<u64>,
}

async fn calls(s: web::Data<Shared>, q: web::Query<CallsQuery>) -> HttpResponse {
    HttpResponse::Ok().json(control(&s).calls(q.company_id))
}

async fn clear_calls(s: web::Data<Shared>) -> HttpResponse {
    control(&s).clear_calls();
    HttpResponse::NoContent().finish()
}

async fn reset_budgets(s: web::Data<Shared>) -> HttpResponse {
    control(&s).reset_budgets();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct ResetTime {
    seconds_after_midnight: u64,
}

async fn reset_time(s: web::Data<Shared>, body: web::Json<ResetTime>) -> HttpResponse {
    control(&s).set_daily_reset(body.seconds_after_midnight);
    HttpResponse::NoContent().finish()
}
