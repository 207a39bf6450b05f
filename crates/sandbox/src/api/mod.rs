//! The REST API gate: authentication, company routing, scopes, faults, burst and daily limits,
//! cost charging and the call log, in that order, then the operation itself.

mod respond;
pub mod router;
mod v1;
mod v2;
mod v2_fields;

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::delivery;
use crate::error::ApiError;
use crate::faults::{FaultSpec, Outcome};
use crate::limits::{budget_day, Window, SEARCH_BURST};
use crate::server::Shared;
use crate::spec::Api;
use crate::world::api_tokens::is_api_token;
use crate::world::{AccessToken, CallRecord, RateLimit, World};
use router::{Op, Route, Router};

/// What an operation gets to work with.
pub struct Call<'a> {
    pub company_id: u64,
    pub user_id: u64,
    pub client_id: String,
    pub params: Vec<&'a str>,
    pub query: HashMap<String, String>,
    pub body: Option<Value>,
    pub now_ms: i64,
}

pub type Reply = Result<(StatusCode, Value), ApiError>;

/// Splits `/api/v2/deals` into the API and the rest of the path.
fn split_api(path: &str) -> Option<(Api, &str)> {
    let prefixes = [("/api/v1", Api::V1), ("/v1", Api::V1), ("/api/v2", Api::V2)];
    prefixes.iter().find_map(|(p, api)| {
        let tail = path.strip_prefix(p)?;
        (tail.is_empty() || tail.starts_with('/')).then_some((*api, tail))
    })
}

/// How a request authenticates: an OAuth access token, or a personal API token in the
/// `x-api-token` header or the `api_token` query parameter (FACTS §5).
enum Credential<'r> {
    Bearer(&'r str),
    ApiToken(String),
}

fn credential(req: &HttpRequest) -> Option<Credential<'_>> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(token) = header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(Credential::Bearer(token));
    }
    if let Some(token) = header("x-api-token") {
        return Some(Credential::ApiToken(token.to_owned()));
    }
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "api_token")
        .map(|(_, v)| Credential::ApiToken(v.into_owned()))
}

/// Per-request facts the gate learns, for the call log and the response.
#[derive(Debug, Default)]
struct Trace {
    token_id: Option<u64>,
    company_id: Option<u64>,
    limited_by: Option<RateLimit>,
    cost: u32,
    window: Option<Window>,
    outcome: Outcome,
    delay: Duration,
    /// `x-daily-requests-left`, for API-token calls only.
    daily_left: Option<u64>,
}

/// Where a request is going: the company domain (when addressed by `/c/{domain}`), the API
/// file, and the path below `/api/v1`, `/v1` or `/api/v2`.
struct Target<'p> {
    domain: Option<&'p str>,
    api: Api,
    rest: &'p str,
}

/// Splits `/c/{domain}/api/v2/deals` into its target.
fn target(path: &str) -> Option<Target<'_>> {
    let (domain, api_path) = match path.strip_prefix("/c/") {
        Some(tail) => {
            let (domain, rest) = tail.split_at(tail.find('/')?);
            (Some(domain), rest)
        }
        None => (None, path),
    };
    let (api, rest) = split_api(api_path)?;
    Some(Target { domain, api, rest })
}

/// The single entry point of `/api/v1`, `/v1`, `/api/v2` and their `/c/{domain}` forms. The world
/// is locked once, for the gate and the operation; sleeping and sending happen after unlocking.
pub async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let Some(target) = target(req.path()) else {
        return respond::error(&ApiError::unknown_route(), None);
    };
    let now_ms = shared.clock.now_ms();
    let mut trace = Trace::default();
    let (result, deliveries) = {
        let mut world = shared.world();
        let result = gate(
            &mut world,
            &shared.router,
            &req,
            &target,
            &body,
            now_ms,
            &mut trace,
        );
        world.log_call(CallRecord {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            company_id: trace.company_id,
            token_id: trace.token_id,
            cost: trace.cost,
            status: result
                .as_ref()
                .map_or_else(|e| e.status, |(s, _)| *s)
                .as_u16(),
            time_ms: now_ms,
            limited_by: trace.limited_by,
        });
        (result, std::mem::take(&mut world.outbox))
    };
    if !deliveries.is_empty() {
        delivery::spawn_all(shared.clone().into_inner(), deliveries);
    }
    if !trace.delay.is_zero() {
        tokio::time::sleep(trace.delay).await;
    }
    let mut response = match (trace.outcome, result) {
        (Outcome::Reset | Outcome::DropAfterWrite, _) => return respond::dropped(),
        (_, Ok((status, value))) => respond::ok(status, &value, trace.window),
        (_, Err(e)) => respond::error(&e, trace.window),
    };
    if let Some(left) = trace.daily_left {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-daily-requests-left"),
            left.into(),
        );
    }
    response
}

/// Authentication, company, route, scopes, faults, limits, charging, then the operation.
fn gate(
    world: &mut World,
    router: &Router,
    req: &HttpRequest,
    target: &Target<'_>,
    body: &[u8],
    now_ms: i64,
    trace: &mut Trace,
) -> Reply {
    let token = match credential(req) {
        Some(Credential::Bearer(t)) => world.authenticate(t, now_ms)?.clone(),
        Some(Credential::ApiToken(t)) => world.authenticate_api_token(&t)?.clone(),
        None => return Err(ApiError::unauthorized()),
    };
    let api_token = is_api_token(&token);
    trace.token_id = Some(token.token_id);
    trace.company_id = Some(token.company_id);
    if let Some(limit) = world
        .companies
        .get(&token.company_id)
        .map(|c| c.burst_limit_for(api_token))
    {
        // Answers that stop before the limiter (401, 402, 403, 404) still carry the headers.
        let burst = world.bursts.entry((token.token_id, false)).or_default();
        trace.window = Some(burst.peek(limit, now_ms));
    }
    let faults = company_gate(world, &token, target.domain)?;
    let (route, params) = router
        .find(target.api, req.method(), target.rest)
        .ok_or_else(ApiError::unknown_route)?;
    if !scope_ok(route, &token.scopes, &faults.deny_scopes) {
        return Err(ApiError::forbidden_scope());
    }
    let (outcome, delay) = faults.decide(route.is_write(), || world.chance());
    trace.delay = delay;
    limits(world, &token, route, outcome, now_ms, trace)?;
    if api_token {
        let write = matches!(req.method().as_str(), "POST" | "PUT" | "PATCH");
        let (allowed, left) = world.api_token_write(token.token_id, write, now_ms);
        trace.daily_left = Some(left);
        if !allowed {
            trace.limited_by = Some(RateLimit::Daily);
            return Err(ApiError::too_many("Daily POST/PUT request limit reached"));
        }
    }
    match outcome {
        Outcome::Status(s) => {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(ApiError::server(status));
        }
        Outcome::Reset => {
            trace.outcome = outcome;
            return Err(ApiError::server(StatusCode::BAD_GATEWAY));
        }
        Outcome::Normal | Outcome::DropAfterWrite => trace.outcome = outcome,
    }
    let call = parse_call(req, target.api, params, body, &token, now_ms)?;
    if let Some(c) = world.companies.get_mut(&token.company_id) {
        c.charge(route.spec.cost);
        trace.cost = route.spec.cost;
    }
    execute(world, route.op, &call)
}

/// The token's company must match the addressed domain, be open, and not be faulted into 401.
fn company_gate(
    world: &World,
    token: &AccessToken,
    domain: Option<&str>,
) -> Result<FaultSpec, ApiError> {
    let company = world
        .companies
        .get(&token.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let faults = world.faults.for_company(company.id);
    if domain.is_some_and(|d| d != company.domain) || faults.revoke_tokens {
        return Err(ApiError::unauthorized());
    }
    if company.closed || faults.account_closed {
        return Err(ApiError::payment_required());
    }
    Ok(faults.clone())
}

/// Burst window first (it is what a well-behaved client hits), then the daily budget.
fn limits(
    world: &mut World,
    token: &AccessToken,
    route: &Route,
    outcome: Outcome,
    now_ms: i64,
    trace: &mut Trace,
) -> Result<(), ApiError> {
    let search = route.is_search();
    let limit = match world.companies.get(&token.company_id) {
        _ if search => SEARCH_BURST,
        Some(c) => c.burst_limit_for(is_api_token(token)),
        None => return Err(ApiError::unauthorized()),
    };
    let burst = world.bursts.entry((token.token_id, search)).or_default();
    let (allowed, window) = burst.hit(limit, now_ms);
    trace.window = Some(window);
    if !allowed || outcome == Outcome::Status(429) {
        trace.limited_by = Some(match (allowed, search) {
            (true, _) => RateLimit::Fault,
            (false, true) => RateLimit::Search,
            (false, false) => RateLimit::Burst,
        });
        return Err(ApiError::too_many("Request over limit"));
    }
    let day = budget_day(now_ms, world.daily_reset_at_secs);
    let company = world
        .companies
        .get_mut(&token.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    if !company.budget_allows(route.spec.cost, day) {
        trace.limited_by = Some(RateLimit::Daily);
        return Err(ApiError::too_many(
            "Daily API token budget exhausted; it resets at the daily reset time",
        ));
    }
    Ok(())
}

fn scope_ok(route: &Route, granted: &[String], denied: &[String]) -> bool {
    let mut accepted: Vec<&str> = route.spec.scopes.to_vec();
    if matches!(
        route.op,
        Op::WebhooksList | Op::WebhooksCreate | Op::WebhooksDelete
    ) {
        // FACTS §1.10: webhooks:read/full also open the webhook endpoints since 2024-01-26.
        accepted.push("webhooks:full");
        if route.op == Op::WebhooksList {
            accepted.push("webhooks:read");
        }
    }
    accepted.is_empty()
        || granted
            .iter()
            .any(|g| !denied.contains(g) && accepted.contains(&g.as_str()))
}

/// Reads the query and body: JSON for both APIs, form-encoded also for v1 (FACTS §3.1).
fn parse_call<'a>(
    req: &HttpRequest,
    api: Api,
    params: Vec<&'a str>,
    body: &[u8],
    token: &AccessToken,
    now_ms: i64,
) -> Result<Call<'a>, ApiError> {
    let query = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = if body.is_empty() {
        None
    } else if form && api == Api::V1 {
        Some(v1::form_to_json(body))
    } else {
        let value = serde_json::from_slice(body)
            .map_err(|_| ApiError::bad_request("Request body is not valid JSON"))?;
        Some(value)
    };
    Ok(Call {
        company_id: token.company_id,
        user_id: token.user_id,
        client_id: token.client_id.clone(),
        params,
        query,
        body,
        now_ms,
    })
}

fn execute(world: &mut World, op: Op, call: &Call<'_>) -> Reply {
    match op {
        Op::List(k) if k.is_v1() => v1::list_notes(world, call),
        Op::List(k) => v2::list(world, k, call),
        Op::Get(k) => v2::get(world, k, call),
        Op::Create(k) => v2::create(world, k, call),
        Op::Update(k) => v2::update(world, k, call),
        Op::Delete(k) => v2::delete(world, k, call),
        Op::Search(k) => v2_fields::search(world, k, call),
        Op::FieldsList(k) => v2_fields::list(world, k, call),
        Op::FieldsGet(k) => v2_fields::get(world, k, call),
        Op::FieldsCreate(k) => v2_fields::create(world, k, call),
        Op::UsersMe => v1::users_me(world, call),
        Op::UsersList => v1::users_list(world, call),
        Op::UsersGet => v1::users_get(world, call),
        Op::ActivityTypesList => v1::activity_types(world, call),
        Op::WebhooksList => v1::webhooks_list(world, call),
        Op::WebhooksCreate => v1::webhooks_create(world, call),
        Op::WebhooksDelete => v1::webhooks_delete(world, call),
    }
}

/// Renders a stored record as the API does, for the control API.
pub fn render_record(
    world: &World,
    company_id: u64,
    kind: crate::world::entities::EntityKind,
    row: &serde_json::Map<String, Value>,
) -> Value {
    v2::render(world, company_id, kind, row)
}
