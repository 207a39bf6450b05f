//! The tenant admin's dashboard: the installation's state, a reconnect banner when Pipedrive
//! refused our tokens, the company's jobs and API budget, its webhooks' health and recent events,
//! recent activity, Disconnect and sign-out.
//! The tenant and installation come from the scope's guard, loaded once for the request.

use actix_session::Session;
use actix_web::{http::header, web, HttpResponse};
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::tenant::TenantStatus;
use tera::Context;

use crate::services::{
    budget_chart, event_chart, events_view, installer_name, tenant_health, uninstall,
};
use crate::session::{
    check_csrf, csrf_token, sign_out, sign_out_everywhere, CsrfForm, DashboardUser,
};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(show))
        .route("/disconnect", web::post().to(disconnect))
        .route("/logout", web::post().to(logout));
}

async fn show(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let DashboardUser {
        tenant,
        installation,
        ..
    } = &user;
    let state: &AppState = &state;
    let (tenant_id, company) = (user.tenant_id, tenant.company_id);
    // Every part of the page is an independent read (the budget chart needs the budget's limit,
    // so those two go in turn): they run at once, so the page waits for the slowest, not the sum.
    let installer = async {
        // Private mode acts as the token's own user, whose id is all the page needs to say.
        Ok::<_, AppError>(match state.private {
            Some(_) => None,
            None => Some(installer_name::installer_name(state, tenant_id, user.user_id).await),
        })
    };
    let budget = async {
        let budget = tenant_health::budget(state, company).await;
        let limit = budget.as_ref().and_then(|b| b.daily_limit);
        Ok::<_, AppError>((budget, budget_chart::week(state, company, limit).await?))
    };
    let sources = async {
        let mut sources = Context::new();
        super::dashboard_sources::context(state, &user, &mut sources).await?;
        Ok::<_, AppError>(sources)
    };
    let activity = async { Ok::<_, AppError>(state.store.audit_log(Some(tenant_id), 10).await?) };
    let (
        activity,
        installer,
        counts,
        (budget, budget_chart),
        figures,
        dead_jobs,
        fields,
        sources,
        event_sources,
        webhooks,
        event_chart,
    ) = futures::try_join!(
        activity,
        installer,
        tenant_health::counts(state, Some(tenant_id)),
        budget,
        tenant_health::figures(state, company),
        tenant_health::dead_jobs(state, Some(tenant_id), 20),
        tenant_health::fields(state, tenant_id),
        sources,
        events_view::recent_events(state, tenant_id, &tenant.company_domain),
        events_view::webhook_health(state, tenant_id),
        event_chart::week(state, tenant_id),
    )?;
    let mut context = Context::new();
    context.insert("tenant", tenant);
    // Support paused the company's jobs: say so, since nothing else would explain the wait.
    context.insert("paused", &(tenant.status == TenantStatus::Paused));
    context.insert("status", installation.status.as_str());
    context.insert(
        "needs_reauth",
        &(installation.status == InstallationStatus::NeedsReauth),
    );
    context.insert("scopes", &installation.scopes);
    context.insert("api_domain", &installation.api_domain);
    context.insert("user_id", &user.user_id);
    if let Some(name) = installer {
        context.insert("installer_name", &name);
    }
    context.insert("activity", &activity);
    context.insert("csrf", &csrf_token(&session));
    context.insert("private", &state.private.is_some());
    context.insert("counts", &counts);
    context.insert("budget_chart", &budget_chart);
    context.insert("budget", &budget);
    context.insert("figures", &figures);
    context.insert("dead_jobs", &dead_jobs);
    context.insert("retry_base", "/dashboard/jobs");
    context.insert("fields", &fields);
    context.extend(sources);
    context.insert("event_sources", &event_sources);
    context.insert("webhooks", &webhooks);
    context.insert("event_chart", &event_chart);
    let html = state.templates.render("dashboard.html", &context)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

async fn disconnect(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    // Private mode has no app to disconnect: removing the API token setting stops it.
    state.marketplace_only()?;
    check_csrf(&session, &form.csrf)?;
    // Retiring the installation bumps its session epoch: every copy of the cookie ends with it.
    uninstall::disconnect(&state, user.tenant_id, user.user_id).await?;
    sign_out(&session);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/?disconnected=1"))
        .finish())
}

/// Signs the user out of the dashboard in every browser: a copied cookie ends too.
async fn logout(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    sign_out_everywhere(state.store.as_ref(), &session, &user).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .finish())
}
