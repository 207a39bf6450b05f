//! Every route, assembled from one module per resource.

mod console_audit;
mod console_jobs;
mod console_login;
mod console_tenant_actions;
mod console_tenants;
mod dashboard;
mod dashboard_activity;
mod dashboard_imports;
mod dashboard_jobs;
mod dashboard_settings;
mod dashboard_sources;
mod event_api;
mod health;
mod install;
mod not_found;
mod oauth_callback;
mod openapi;
mod pages;
pub(crate) mod pipedrive_hooks;
mod pipedrive_settings;
mod private_login;
mod static_files;
mod store_hooks;
mod uninstall;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::session::require_dashboard;
use crate::staff_session::require_staff;

pub use pipedrive_hooks::{configure as configure_pipedrive_hooks, MAX_HOOK_BODY};
pub use store_hooks::MAX_STORE_HOOK_BODY;

/// The routes other systems send events to, and the document describing them: the signed event
/// API, the store webhooks and `/api/v1/openapi.json` (their receivers are app data).
pub fn configure_event_sources(cfg: &mut web::ServiceConfig) {
    event_api::configure(cfg);
    store_hooks::configure(cfg);
    openapi::configure(cfg);
}

/// Public routes, then one scope per audience with its guard: every `/dashboard` route sits behind
/// `require_dashboard` and every `/console` route behind `require_staff`, so a route added to a
/// scope cannot forget its authorisation. Routes inside a scope are relative to it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    pages::configure(cfg);
    static_files::configure(cfg);
    install::configure(cfg);
    oauth_callback::configure(cfg);
    uninstall::configure(cfg);
    pipedrive_settings::configure(cfg);
    private_login::configure(cfg);
    cfg.service(
        web::scope("/dashboard")
            .wrap(from_fn(require_dashboard))
            .configure(dashboard::configure)
            .configure(dashboard_activity::configure)
            .configure(dashboard_jobs::configure)
            .configure(dashboard_settings::configure)
            .configure(dashboard_sources::configure)
            .configure(dashboard_imports::configure),
    );
    cfg.service(
        web::scope("/console")
            .wrap(from_fn(require_staff))
            .configure(console_login::configure)
            .configure(console_tenants::configure)
            .configure(console_tenant_actions::configure)
            .configure(console_jobs::configure)
            .configure(console_audit::configure),
    );
    pipedrive_hooks::configure(cfg);
    configure_event_sources(cfg);
    cfg.default_service(web::to(not_found::not_found));
}
