//! Cross-cutting response headers, and error pages for browsers.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use tracing_actix_web::RequestId;

use crate::{AppError, AppState};

/// The dashboard is also opened inside Pipedrive as the app's settings page, so framing is allowed
/// for Pipedrive's hosts and nobody else (no X-Frame-Options: it cannot express that list).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; \
     frame-ancestors 'self' https://*.pipedrive.com";

/// The support console is never shown inside Pipedrive: nobody may frame it (clickjacking).
pub const CONSOLE_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; \
     frame-ancestors 'none'";

/// Two years, the preload list's minimum; only sent when the public URL is https (a browser
/// told this over plain HTTP in a local run would refuse to load the app afterwards).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";

/// Headers every answer gets unless a scope set its own (`DefaultHeaders` never overwrites).
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "strict-origin-when-cross-origin"));
    if https {
        headers.add(("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY))
    } else {
        headers
    }
}

/// Pages of one company's or of every company's data: no browser or proxy may keep a copy.
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The support console: `no-store`, and framed by no one.
pub fn console_headers(headers: &mut HeaderMap) {
    no_store(headers);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CONTENT_SECURITY_POLICY),
    );
}

/// Echoes the request id that `TracingLogger` put in the request span, so a user can quote it and
/// support can find the matching log lines. Must be wrapped inside `TracingLogger`.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let mut response = next.call(req).await?;
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// Error answers as a page for browsers (whose `Accept` names `text/html`) and as JSON for
/// everything else. Either way the client reads only the error's safe message (`AppError`'s
/// `Display`); the cause was logged where the error was turned into a response.
pub async fn html_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Guards answer refusals as responses (not `Err`), so every refusal arrives here as one.
    let wants_html = accepts_html(req.request());
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status();
    if !wants_html || !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let message = match response.response().error() {
        Some(err) => match err.as_error::<AppError>() {
            Some(app_error) => app_error.page_message(),
            None => status.canonical_reason().unwrap_or("error").to_string(),
        },
        None if is_json(response.headers()) => status.canonical_reason().unwrap_or("error").into(),
        // A page already (the sign-in form's refusals, install problems): keep it.
        None => return Ok(response),
    };
    let (request, old) = response.into_parts();
    let Some(page) = error_page(&request, status.as_u16(), &message) else {
        return Ok(ServiceResponse::new(request, old));
    };
    let mut page = page;
    // The session's cookie, the request id and any scope headers stay; only the body changes.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            page.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(request, page))
}

fn error_page(req: &HttpRequest, status: u16, message: &str) -> Option<HttpResponse> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let mut context = tera::Context::new();
    context.insert("status", &status);
    context.insert("message", message);
    // The id to quote to support, which finds the cause in the logs.
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    context.insert("request_id", &request_id);
    match state.templates.render("error.html", &context) {
        Ok(html) => Some(
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
                .content_type("text/html; charset=utf-8")
                .body(html),
        ),
        Err(err) => {
            tracing::error!(error.cause = ?err, "the error page could not be rendered");
            None
        }
    }
}

fn accepts_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
