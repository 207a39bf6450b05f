//! Every route, assembled from one module per resource.

mod console_jobs;
mod console_login;
mod console_tenants;
mod dashboard;
mod dashboard_jobs;
mod health;
mod install;
mod not_found;
mod oauth_callback;
mod pages;
pub(crate) mod pipedrive_hooks;
mod pipedrive_settings;
mod static_files;
mod uninstall;

use actix_web::web;

pub use pipedrive_hooks::{configure as configure_pipedrive_hooks, MAX_HOOK_BODY};

pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    pages::configure(cfg);
    static_files::configure(cfg);
    install::configure(cfg);
    oauth_callback::configure(cfg);
    uninstall::configure(cfg);
    dashboard::configure(cfg);
    dashboard_jobs::configure(cfg);
    console_login::configure(cfg);
    console_tenants::configure(cfg);
    console_jobs::configure(cfg);
    pipedrive_settings::configure(cfg);
    pipedrive_hooks::configure(cfg);
    cfg.default_service(web::to(not_found::not_found));
}
