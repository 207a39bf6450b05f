//! Every route, assembled from one module per resource.

mod health;
mod not_found;
mod pages;
mod static_files;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    pages::configure(cfg);
    static_files::configure(cfg);
    cfg.default_service(web::to(not_found::not_found));
}
