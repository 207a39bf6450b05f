//! The support console's tenants: the list (`GET /console`), one tenant (`GET
//! /console/tenants/{id}`, with its timeline: `?kind=` filters it, the sources' cursors page it)
//! and retrying its dead jobs. Every read and write is scoped by the tenant id in the path.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::tenant::TenantStatus;
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{TenantListQuery, TenantState};
use serde::{Deserialize, Serialize};

use crate::services::tenant_actions::{reason, ReasonForm};
use crate::services::tenant_health::{self, when};
use crate::services::timeline::{self, TimelineQuery};
use crate::services::{console, job_retry, tenant_actions};
use crate::staff_session::{check_staff_csrf, staff_csrf_token, StaffUser};
use crate::{pages, AppError, AppState};

/// Fifty tenants a page: each row's counts walk up to `LIST_COUNT_CAP` index entries per kind.
const PAGE: u32 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(list))
        .route("/tenants/{id}", web::get().to(show))
        .route("/tenants/{id}/jobs/{job_id}/retry", web::post().to(retry));
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    q: Option<String>,
    after: Option<i64>,
    state: Option<String>,
}

/// A filter link of the list: its `?state=` value, its label, and whether it is the one shown.
#[derive(Debug, Serialize)]
struct StateFilter {
    value: &'static str,
    label: &'static str,
    current: bool,
}

fn state_filters(current: Option<TenantState>) -> Vec<StateFilter> {
    let label = |s: TenantState| match s {
        TenantState::Active => "Active",
        TenantState::NeedsReauth => "Needs reauth",
        TenantState::Paused => "Paused",
        TenantState::Uninstalled => "Uninstalled",
    };
    TenantState::ALL
        .into_iter()
        .map(|s| StateFilter {
            value: s.as_str(),
            label: label(s),
            current: current == Some(s),
        })
        .collect()
}

/// An unknown `?state=` is refused rather than ignored: a list that silently shows everything
/// would read as "all tenants are in this state".
fn parse_state(text: Option<&str>) -> Result<Option<TenantState>, AppError> {
    match text.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => TenantState::parse(text).map(Some).ok_or_else(|| {
            AppError::BadRequest(format!(
                "unknown state {text:?}: use active, needs-reauth, paused or uninstalled"
            ))
        }),
    }
}

async fn list(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let search = query.q.filter(|q| !q.trim().is_empty());
    let filter = parse_state(query.state.as_deref())?;
    let list = TenantListQuery {
        after: query.after.map(CompanyId::new),
        search: search.clone(),
        state: filter,
        limit: PAGE,
        now: chrono::Utc::now(),
    };
    // The list and the queue's header are independent reads of several milliseconds each.
    let (rows, queue) = futures::try_join!(
        console::tenant_rows(&state, &list),
        console::queue_rows(&state)
    )?;
    let next = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| r.company_id))
        .flatten();
    let mut context = console::context(&staff, &staff_csrf_token(&session)?);
    context.insert("tenants", &rows);
    context.insert("queue", &queue);
    let q = search.unwrap_or_default();
    // Tera here has no `urlencode` filter: the search goes into links already encoded.
    let q_encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    context.insert("q_encoded", &q_encoded);
    context.insert("q", &q);
    context.insert("state", filter.map_or("", TenantState::as_str));
    context.insert("state_filters", &state_filters(filter));
    context.insert("next_after", &next);
    pages::staff_html(&state, "console/tenants.html", &context)
}

#[derive(Debug, Serialize)]
struct InstallationView {
    user_id: i64,
    api_domain: String,
    status: &'static str,
    needs_reauth: bool,
    updated_at: String,
}

async fn show(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    path: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, AppError> {
    let id = tenant_id(&path)?;
    let tenant = state.store.tenant(id).await?.ok_or(AppError::NotFound)?;
    let installations = installation_views(&state, id).await?;
    let mut context = console::context(&staff, &staff_csrf_token(&session)?);
    context.insert("tenant", &tenant);
    context.insert("installations", &installations);
    context.insert(
        "needs_reauth",
        &installations.iter().any(|i| i.needs_reauth),
    );
    context.insert("counts", &tenant_health::counts(&state, Some(id)).await?);
    tenant_health::insert_budget(&state, tenant.company_id, &mut context).await?;
    context.insert(
        "dead_jobs",
        &tenant_health::dead_jobs(&state, Some(id), 50).await?,
    );
    context.insert("retry_base", &format!("/console/tenants/{id}/jobs"));
    context.insert("reason_required", &true);
    context.insert("timeline", &timeline::page(&state, &tenant, &query).await?);
    context.insert("tenant_actions", &action_forms(tenant.status));
    context.insert("max_reason", &tenant_actions::MAX_REASON_CHARS);
    context.insert("fields", &tenant_health::fields(&state, id).await?);
    context.insert(
        "uninstalled_at",
        &state.store.uninstalled_at(id).await?.map(when),
    );
    pages::staff_html(&state, "console/tenant.html", &context)
}

/// One form of the tenant page's actions (`routes/console_tenant_actions.rs`).
#[derive(Debug, Serialize)]
struct ActionView {
    id: &'static str,
    path: &'static str,
    label: &'static str,
}

/// The actions that make sense in the tenant's status: pause or resume, the two requests and a
/// token refresh.
fn action_forms(status: TenantStatus) -> Vec<ActionView> {
    let toggle = match status {
        TenantStatus::Paused => ActionView {
            id: "resume",
            path: "resume",
            label: "Resume its jobs",
        },
        _ => ActionView {
            id: "pause",
            path: "pause",
            label: "Pause its jobs",
        },
    };
    vec![
        toggle,
        ActionView {
            id: "webhooks",
            path: "webhooks/check",
            label: "Check and re-register webhooks",
        },
        ActionView {
            id: "reconcile",
            path: "reconcile",
            label: "Reconcile with Pipedrive now",
        },
        ActionView {
            id: "tokens",
            path: "tokens/refresh",
            label: "Force a token refresh",
        },
    ]
}

async fn installation_views(
    state: &AppState,
    id: TenantId,
) -> Result<Vec<InstallationView>, AppError> {
    Ok(state
        .store
        .installations(id)
        .await?
        .iter()
        .map(|i| InstallationView {
            user_id: i.user_id.get(),
            api_domain: i.api_domain.clone(),
            status: i.status.as_str(),
            needs_reauth: i.status == InstallationStatus::NeedsReauth,
            updated_at: when(i.updated_at),
        })
        .collect())
}

async fn retry(
    state: web::Data<AppState>,
    staff: StaffUser,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    check_staff_csrf(&session, &form.csrf)?;
    let (tenant, job) = path.into_inner();
    let tenant = tenant_id(&tenant)?;
    let why = reason(&form.reason)?;
    // The audit entry belongs to the tenant, so it must exist before anything changes.
    state
        .store
        .tenant(tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    let job = tenant_health::job_id(&job)?;
    job_retry::retry(&state, Some(tenant), job, &staff.actor(), Some(&why)).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/console/tenants/{tenant}")))
        .finish())
}

fn tenant_id(text: &str) -> Result<TenantId, AppError> {
    text.parse().map_err(|_| AppError::NotFound)
}
