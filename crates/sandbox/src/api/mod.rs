//! The REST API gate: authentication, company routing, scopes, faults, burst and daily limits,
//! cost charging and the call log, in that order, then the operation itself.

mod respond;
pub mod router;
mod v1;
mod v2;
mod v2_fields;

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::delivery;
use crate::error::ApiError;
use crate::faults::Outcome;
use crate::limits::{budget_day, Window, SEARCH_BURST};
use crate::server::Shared;
use crate::spec::Api;
use crate::world::{CallRecord, World};
use router::{Op, Route};

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

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The single entry point of `/api/v1`, `/v1`, `/api/v2` and their `/c/{domain}` forms.
pub async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let path = req.path().to_owned();
    let Some((domain, api, rest)) = split_rest(&path) else {
        return respond::error(&ApiError::unknown_route(), None);
    };
    let now_ms = shared.clock.now_ms();
    let (result, window, outcome, delay, deliveries) = {
        let mut world = shared.world();
        let mut gate = Gate {
            world: &mut world,
            shared: &shared,
            now_ms,
            window: None,
            cost: 0,
        };
        let out = gate.run(&req, domain, api, rest, &body);
        let window = gate.window;
        let cost = gate.cost;
        let (result, token, company, outcome, delay) = out;
        let status = match &result {
            Ok((s, _)) => s.as_u16(),
            Err(e) => e.status.as_u16(),
        };
        world.log_call(CallRecord {
            method: req.method().to_string(),
            path: path.clone(),
            company_id: company,
            token_id: token,
            cost,
            status,
            time_ms: now_ms,
        });
        let deliveries = std::mem::take(&mut world.outbox);
        (result, window, outcome, delay, deliveries)
    };
    if !deliveries.is_empty() {
        delivery::spawn_all(shared.clone().into_inner(), deliveries);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match (outcome, result) {
        (Outcome::Reset | Outcome::DropAfterWrite, _) => respond::dropped(),
        (_, Ok((status, value))) => respond::ok(status, &value, window),
        (_, Err(e)) => respond::error(&e, window),
    }
}

/// Splits `/c/{domain}/api/v2/deals` into the company domain, the API and the rest.
fn split_rest(path: &str) -> Option<(Option<&str>, Api, &str)> {
    match path.strip_prefix("/c/") {
        Some(tail) => {
            let (domain, rest) = tail.split_at(tail.find('/')?);
            split_api(rest).map(|(api, r)| (Some(domain), api, r))
        }
        None => split_api(path).map(|(api, r)| (None, api, r)),
    }
}

struct Gate<'w, 's> {
    world: &'w mut World,
    shared: &'s Shared,
    now_ms: i64,
    window: Option<Window>,
    cost: u32,
}

type GateOut = (
    Reply,
    Option<u64>,
    Option<u64>,
    Outcome,
    std::time::Duration,
);

impl Gate<'_, '_> {
    fn run(
        &mut self,
        req: &HttpRequest,
        domain: Option<&str>,
        api: Api,
        rest: &str,
        body: &[u8],
    ) -> GateOut {
        let none = std::time::Duration::ZERO;
        let token = match bearer(req).map(|t| self.world.authenticate(t, self.now_ms)) {
            Some(Ok(t)) => t.clone(),
            Some(Err(e)) => return (Err(e), None, None, Outcome::Normal, none),
            None => {
                return (
                    Err(ApiError::unauthorized()),
                    None,
                    None,
                    Outcome::Normal,
                    none,
                )
            }
        };
        let ids = (Some(token.token_id), Some(token.company_id));
        let fail = |e: ApiError| (Err(e), ids.0, ids.1, Outcome::Normal, none);
        let Some(company) = self.world.companies.get(&token.company_id) else {
            return fail(ApiError::unauthorized());
        };
        if domain.is_some_and(|d| d != company.domain) {
            return fail(ApiError::unauthorized());
        }
        let faults = self.world.faults.for_company(company.id).clone();
        if faults.revoke_tokens {
            return fail(ApiError::unauthorized());
        }
        if company.closed || faults.account_closed {
            return fail(ApiError::payment_required());
        }
        let router = &self.shared.router;
        let Some((route, params)) = router.find(api, req.method(), rest) else {
            return fail(ApiError::unknown_route());
        };
        if !scope_ok(route, &token.scopes, &faults.deny_scopes) {
            return fail(ApiError::forbidden_scope());
        }
        let world = &mut *self.world;
        let (outcome, delay) = faults.decide(route.is_write(), || world.chance());
        if let Err(e) = self.limits(&token, route, outcome) {
            return (Err(e), ids.0, ids.1, Outcome::Normal, delay);
        }
        if let Outcome::Status(s) = outcome {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (
                Err(ApiError::server(status)),
                ids.0,
                ids.1,
                Outcome::Normal,
                delay,
            );
        }
        if outcome == Outcome::Reset {
            return (
                Err(ApiError::server(StatusCode::BAD_GATEWAY)),
                ids.0,
                ids.1,
                outcome,
                delay,
            );
        }
        let call = match parse_call(req, api, params, body, &token, self.now_ms) {
            Ok(c) => c,
            Err(e) => return (Err(e), ids.0, ids.1, Outcome::Normal, delay),
        };
        self.cost = route.spec.cost;
        if let Some(c) = self.world.companies.get_mut(&token.company_id) {
            c.charge(route.spec.cost);
        }
        (
            execute(self.world, route.op, &call),
            ids.0,
            ids.1,
            outcome,
            delay,
        )
    }

    /// Burst window first (it is what a well-behaved client hits), then the daily budget.
    fn limits(
        &mut self,
        token: &crate::world::AccessToken,
        route: &Route,
        outcome: Outcome,
    ) -> Result<(), ApiError> {
        let company = self.world.companies.get(&token.company_id);
        let plan_limit = company.map_or(80, |c| c.burst_limit());
        let search = route.is_search();
        let limit = if search { SEARCH_BURST } else { plan_limit };
        let burst = self
            .world
            .bursts
            .entry((token.token_id, search))
            .or_default();
        let (allowed, window) = burst.hit(limit, self.now_ms);
        self.window = Some(window);
        if outcome == Outcome::Status(429) {
            return Err(ApiError::too_many("Request over limit"));
        }
        if !allowed {
            return Err(ApiError::too_many("Request over limit"));
        }
        let day = budget_day(self.now_ms, self.world.daily_reset_at_secs);
        let Some(company) = self.world.companies.get_mut(&token.company_id) else {
            return Err(ApiError::unauthorized());
        };
        if !company.budget_allows(route.spec.cost, day) {
            return Err(ApiError::too_many(
                "Daily API token budget exhausted; it resets at the daily reset time",
            ));
        }
        Ok(())
    }
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
    token: &crate::world::AccessToken,
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
