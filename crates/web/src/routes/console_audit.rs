//! `GET /console/audit`: the whole audit log, filtered by actor, tenant, action and dates (UTC
//! days, both ends included), newest first, in pages keyed by entry id.

use actix_session::Session;
use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, TimeZone, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::AuditQuery;
use serde::{Deserialize, Serialize};

use crate::services::console;
use crate::services::tenant_health::when;
use crate::staff_session::{staff_csrf_token, StaffUser};
use crate::{pages, AppError, AppState};

const PAGE: u32 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(show));
}

/// The filters as the form sends them: empty fields mean "any".
#[derive(Debug, Default, Deserialize, Serialize)]
struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

impl Filters {
    /// The filters as a query string, for the paging links to keep them.
    fn as_query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("actor", &self.actor)
            .append_pair("tenant", &self.tenant)
            .append_pair("action", &self.action)
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    #[serde(flatten)]
    filters: Filters,
    before: Option<i64>,
}

#[derive(Debug, Serialize)]
struct EntryView {
    id: i64,
    at: String,
    tenant: Option<String>,
    actor: String,
    action: String,
    detail: String,
}

fn given(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

fn day(text: &str, what: &str) -> Result<Option<NaiveDate>, AppError> {
    given(text)
        .map(|t| {
            NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| {
                AppError::BadRequest(format!("the {what} date {t:?} is not YYYY-MM-DD"))
            })
        })
        .transpose()
}

fn midnight(date: NaiveDate) -> chrono::DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
}

/// The store's query for the filters; a malformed tenant id or date is a clear 400.
fn to_query(filters: &Filters, before: Option<i64>) -> Result<AuditQuery, AppError> {
    let tenant_id = given(&filters.tenant)
        .map(|t| {
            t.parse::<TenantId>()
                .map_err(|_| AppError::BadRequest(format!("{t:?} is not a tenant id")))
        })
        .transpose()?;
    let from = day(&filters.from, "from")?;
    let to = day(&filters.to, "to")?;
    Ok(AuditQuery {
        before,
        tenant_id,
        actor: given(&filters.actor),
        action_prefix: given(&filters.action),
        from: from.map(midnight),
        // The `to` day is included: entries before the next midnight.
        until: to.and_then(|d| d.succ_opt()).map(midnight),
        limit: PAGE,
    })
}

async fn show(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let PageQuery { filters, before } = query.into_inner();
    let entries = state
        .store
        .search_audit(&to_query(&filters, before)?)
        .await?;
    let next = (entries.len() == PAGE as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let views: Vec<EntryView> = entries
        .into_iter()
        .map(|e| EntryView {
            id: e.id,
            at: when(e.created_at),
            tenant: e.tenant_id.map(|t| t.to_string()),
            actor: e.actor,
            action: e.action,
            detail: e.detail.to_string(),
        })
        .collect();
    let mut context = console::context(&staff, &staff_csrf_token(&session)?);
    context.insert("entries", &views);
    context.insert("next_before", &next);
    context.insert("paged", &before.is_some());
    context.insert("filter_query", &filters.as_query());
    context.insert("filters", &filters);
    pages::staff_html(&state, "console/audit.html", &context)
}
