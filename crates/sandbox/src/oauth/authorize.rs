//! `GET /oauth/authorize` shows the consent page; its form posts back here, and the answer is a
//! 302 to the app's callback with `code` and `state`, or `error=user_denied`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::escape;
use crate::server::Shared;

#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
}

fn bad(message: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><title>Error</title><p>{}</p>",
            escape(message)
        ))
}

pub async fn page(q: web::Query<AuthorizeQuery>, shared: web::Data<Shared>) -> HttpResponse {
    let world = shared.world();
    let Some(app) = q.client_id.as_ref().and_then(|c| world.apps.get(c)) else {
        return bad("Invalid client: client is invalid");
    };
    // The code or error goes to the registered callback only; anything else is refused here.
    if q.redirect_uri
        .as_ref()
        .is_some_and(|r| *r != app.callback_url)
    {
        return bad("Invalid request: redirect_uri does not match the app's callback URL");
    }
    let mut options = String::new();
    for company in world.companies.values() {
        for user in company.user_ids.iter().filter_map(|u| world.users.get(u)) {
            options.push_str(&format!(
                "<option value=\"{}:{}\">{} — {} ({})</option>",
                company.id,
                user.id,
                escape(&user.name),
                escape(&company.name),
                escape(&company.domain)
            ));
        }
    }
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorize {client}</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:3em auto\">\
         <h1>Pipedrive sandbox</h1><p><b>{client}</b> asks for access: {scopes}.</p>\
         <form method=\"post\" action=\"/oauth/authorize\">\
         <input type=\"hidden\" name=\"client_id\" value=\"{client}\">\
         <input type=\"hidden\" name=\"state\" value=\"{state}\">\
         <label>Install as <select name=\"account\">{options}</select></label><p>\
         <button name=\"decision\" value=\"allow\">Allow and install</button> \
         <button name=\"decision\" value=\"deny\">Deny</button></p></form></body></html>",
        client = escape(&app.client_id),
        scopes = escape(&app.scopes.join(", ")),
        state = escape(q.state.as_deref().unwrap_or("")),
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

#[derive(Debug, Deserialize)]
pub struct Decision {
    client_id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    account: String,
    decision: String,
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(base) {
        Ok(u) => u,
        Err(_) => return base.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

pub async fn decide(form: web::Form<Decision>, shared: web::Data<Shared>) -> HttpResponse {
    let now = shared.clock.now_ms();
    let mut world = shared.world();
    let Some(callback) = world
        .apps
        .get(&form.client_id)
        .map(|a| a.callback_url.clone())
    else {
        return bad("Invalid client: client is invalid");
    };
    let location = if form.decision == "allow" {
        let parsed = form
            .account
            .split_once(':')
            .and_then(|(c, u)| Some((c.parse().ok()?, u.parse().ok()?)));
        let Some((company_id, user_id)) = parsed else {
            return bad("Choose a company and user");
        };
        match world.approve(&form.client_id, company_id, user_id, now) {
            Ok((code, _)) => with_query(&callback, &[("code", &code), ("state", &form.state)]),
            Err(e) => return bad(&e.to_string()),
        }
    } else {
        with_query(
            &callback,
            &[("error", "user_denied"), ("state", &form.state)],
        )
    };
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Builds the callback URL an Allow produces, for the control API's browserless install.
pub fn callback_with_code(callback: &str, code: &str, state: Option<&str>) -> String {
    with_query(callback, &[("code", code), ("state", state.unwrap_or(""))])
}
