//! The OAuth server of FACTS §1: consent page, token endpoint and revoke.

mod authorize;
pub use authorize::callback_with_code;
mod token;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/authorize", web::get().to(authorize::page))
        .route("/oauth/authorize", web::post().to(authorize::decide))
        .route("/oauth/token", web::post().to(token::token))
        .route("/oauth/revoke", web::post().to(token::revoke));
}

/// Minimal HTML escaping for server-rendered pages.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
