//! `GET /_sandbox/`: what a person trying the demo sees — companies and the records in them.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use crate::oauth::escape;
use crate::server::Shared;
use crate::world::entities::EntityKind;

const SHOWN: [EntityKind; 5] = [
    EntityKind::Person,
    EntityKind::Organization,
    EntityKind::Deal,
    EntityKind::Activity,
    EntityKind::Note,
];

fn label(r: &Value) -> String {
    ["name", "title", "subject", "content"]
        .iter()
        .find_map(|k| r.get(*k).and_then(Value::as_str))
        .unwrap_or("")
        .to_owned()
}

pub async fn index(shared: web::Data<Shared>) -> HttpResponse {
    let world = shared.world();
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Pipedrive sandbox</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>\
         <h1>Pipedrive sandbox</h1>",
    );
    for c in world.companies.values() {
        html.push_str(&format!(
            "<h2>{} <small>({}, {:?}, {} seats, {} of {} tokens used today)</small></h2>",
            escape(&c.name),
            escape(&c.domain),
            c.plan,
            c.seats,
            c.budget_used,
            c.daily_budget()
        ));
        let installs: Vec<String> = world
            .installs
            .keys()
            .filter(|(_, company, _)| *company == c.id)
            .map(|(app, _, user)| {
                let who = world.users.get(user).map_or("?", |u| u.name.as_str());
                format!("{} (by {})", escape(app), escape(who))
            })
            .collect();
        if !installs.is_empty() {
            html.push_str(&format!(
                "<p>Installed apps: {}. Webhooks: {}.</p>",
                installs.join(", "),
                c.webhooks.len()
            ));
        }
        for kind in SHOWN {
            let rows: Vec<_> = c.store.rows(kind).collect();
            if rows.is_empty() {
                continue;
            }
            html.push_str(&format!(
                "<h3>{} ({})</h3><table><tr><th>id</th><th>name</th><th>updated</th></tr>",
                kind.plural(),
                rows.len()
            ));
            for r in rows.iter().rev().take(50) {
                html.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    r.get("id").cloned().unwrap_or(Value::Null),
                    escape(&label(&Value::Object((*r).clone()))),
                    escape(r.get("update_time").and_then(Value::as_str).unwrap_or(""))
                ));
            }
            html.push_str("</table>");
        }
    }
    if world.companies.is_empty() {
        html.push_str(
            "<p>No companies yet. Create one with <code>POST /_sandbox/companies</code>.</p>",
        );
    }
    html.push_str("</body></html>");
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}
