//! `/dashboard/imports`: upload a CSV, map its columns, check it (dry run), see the estimate,
//! start, pause, resume or cancel it, watch its progress and download its failed rows. Forms carry
//! the session's CSRF token; every import is looked up within the signed-in tenant.

use std::collections::BTreeMap;

use actix_multipart::Multipart;
use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use dealbridge_import::control::{self, DryRun};
use dealbridge_import::{suggest_mapping, write_failed_rows, Mapping};
use dealbridge_storage::{DuplicatePolicy, Import, ImportState};
use tera::Context;

use crate::services::imports::{self as service, fields, load};
use crate::session::{check_csrf, csrf_token, CsrfForm, DashboardUser};
use crate::{AppError, AppState};

/// Rows shown in the preview.
const PREVIEW_ROWS: u32 = 10;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/imports", web::get().to(list))
        .route("/imports", web::post().to(upload))
        .route("/imports/{id}", web::get().to(show))
        .route("/imports/{id}/mapping", web::post().to(save_mapping))
        .route(
            "/imports/{id}/{action:start|pause|resume|cancel}",
            web::post().to(act),
        )
        .route("/imports/{id}/progress", web::get().to(progress))
        .route("/imports/{id}/failed.csv", web::get().to(failed_rows));
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn to_import(import: &Import) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/dashboard/imports/{}", import.id),
        ))
        .finish()
}

async fn list(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let imports = state.store.imports(user.tenant_id, 50).await?;
    let mut context = Context::new();
    context.insert("tenant", &user.tenant);
    context.insert("csrf", &csrf_token(&session));
    context.insert("imports", &imports.iter().map(summary).collect::<Vec<_>>());
    context.insert("max_mb", &(service::MAX_UPLOAD_BYTES / (1024 * 1024)));
    Ok(html(state.templates.render("imports.html", &context)?))
}

async fn upload(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    form: Multipart,
) -> Result<HttpResponse, AppError> {
    let import = service::upload(&state, &user, &session, form).await?;
    Ok(to_import(&import))
}

/// An import as the pages show it.
fn summary(import: &Import) -> serde_json::Value {
    serde_json::json!({
        "id": import.id,
        "file_name": import.file_name,
        "kind": import.kind.as_str(),
        "state": import.state.as_str(),
        "policy": import.policy.as_str(),
        "rows": import.total_rows,
        "created_at": import.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        "progress": control::progress(import, Utc::now()),
    })
}

async fn show(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let import = load(&state, user.tenant_id, &path).await?;
    render(&state, &user, &session, &import, None).await
}

/// The import's page: the mapping (saved, else suggested), the preview, the estimate and the
/// controls that fit its state; with `dry_run`, that check's report.
async fn render(
    state: &AppState,
    user: &DashboardUser,
    session: &Session,
    import: &Import,
    dry_run: Option<&DryRun>,
) -> Result<HttpResponse, AppError> {
    let (fields, fields_note) = fields(state, user, import.kind).await;
    let saved = Mapping::from_json(&import.mapping);
    let mapping = match saved.0.is_empty() {
        true => Mapping(suggest_mapping(import.kind, &import.headers, &fields)),
        false => saved,
    };
    let preview = control::preview(
        state.store.as_ref(),
        import,
        &mapping,
        &fields,
        PREVIEW_ROWS,
    )
    .await?;
    let columns: Vec<_> = import
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| serde_json::json!({"index": i, "header": h, "field": mapping.0.get(&i)}))
        .collect();
    let mut context = Context::new();
    context.insert("tenant", &user.tenant);
    context.insert("csrf", &csrf_token(session));
    context.insert("import", &summary(import));
    context.insert("columns", &columns);
    context.insert("fields", &fields);
    context.insert("fields_note", &fields_note);
    context.insert("preview", &preview);
    context.insert("dry_run", &dry_run);
    context.insert(
        "editable",
        &matches!(import.state, ImportState::Uploaded | ImportState::Validated),
    );
    if matches!(
        import.state,
        ImportState::Validated | ImportState::Running | ImportState::Paused
    ) {
        match service::estimate_for(state, user, import).await {
            Ok((estimate, likely)) => {
                context.insert("estimate", &estimate);
                context.insert("likely", &likely);
            }
            Err(why) => context.insert("estimate_note", &why),
        }
    }
    Ok(html(state.templates.render("import.html", &context)?))
}

/// `col_N` = field id (empty: not imported), `policy`, `csrf`.
async fn save_mapping(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    path: web::Path<String>,
    form: web::Form<BTreeMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, form.get("csrf").map_or("", String::as_str))?;
    let import = load(&state, user.tenant_id, &path).await?;
    let policy = form
        .get("policy")
        .and_then(|p| DuplicatePolicy::parse(p))
        .ok_or_else(|| AppError::BadRequest("Choose what to do with duplicates.".into()))?;
    let mapping = Mapping(
        form.iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("col_")?.parse().ok()?, v.clone())))
            .filter(|(_, v): &(usize, String)| !v.is_empty())
            .collect(),
    );
    let (fields, _) = fields(&state, &user, import.kind).await;
    let report = control::dry_run(state.store.as_ref(), &import, &mapping, policy, &fields).await?;
    let import = load(&state, user.tenant_id, &path).await?;
    render(&state, &user, &session, &import, Some(&report)).await
}

async fn act(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, &form.csrf)?;
    let (id, action) = path.into_inner();
    let import = load(&state, user.tenant_id, &id).await?;
    let (store, actor) = (state.store.as_ref(), user.actor());
    match action.as_str() {
        "start" => control::start(store, &import, &actor).await?,
        "pause" => control::pause(store, &import).await?,
        "resume" => control::resume(store, &import).await?,
        _ => control::cancel(store, &import, &actor).await?,
    }
    Ok(to_import(&import))
}

async fn progress(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let import = load(&state, user.tenant_id, &path).await?;
    Ok(HttpResponse::Ok().json(control::progress(&import, Utc::now())))
}

async fn failed_rows(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let import = load(&state, user.tenant_id, &path).await?;
    let body = write_failed_rows(state.store.clone(), user.tenant_id, &import, Vec::new())
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    let stem: String = import
        .file_name
        .trim_end_matches(".csv")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{stem}-failed.csv\""),
        ))
        .body(body))
}
