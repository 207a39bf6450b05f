//! `GET/POST /dashboard/settings`: the tenant's workflow settings. The form is CSRF-checked,
//! validated against the company's own Pipedrive, and saved as a new version based on the one
//! it showed; a refused or stale form comes back as typed, with the reason.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::services::settings_choices;
use crate::services::settings_form::{FieldErrors, SettingsForm};
use crate::services::settings_page::{self, Embedding, Notices, Page};
use crate::services::settings_save::{self, Saved};
use crate::session::{check_csrf, DashboardUser};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(show))
        .route("/settings", web::post().to(save));
}

#[derive(Debug, Deserialize)]
struct ShowQuery {
    saved: Option<i64>,
    budget: Option<String>,
    /// Pipedrive's SDK runtime id, when the page is shown in its iframe.
    id: Option<String>,
}

async fn show(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let notices = Notices {
        saved: query.saved,
        budget_unapplied: query.budget.as_deref() == Some("unapplied"),
        ..Notices::default()
    };
    let embedding = Embedding::from_id(query.id.as_deref());
    settings_page::show_saved(&state, &user, &session, &notices, &embedding).await
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn save(
    state: web::Data<AppState>,
    user: DashboardUser,
    session: Session,
    posted: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&session, field(&posted, "csrf").unwrap_or_default())?;
    let form = SettingsForm::from_pairs(&posted);
    let embedding = Embedding::from_id(field(&posted, "sdk_id"));
    let refuse = Refusal {
        state: &state,
        user: &user,
        session: &session,
        form: &form,
        embedding: &embedding,
    };
    // The page shows why the choices could not be read; nothing is saved unchecked.
    let choices = match settings_choices::choices(&state, user.tenant_id, user.user_id).await {
        Ok(choices) => choices,
        Err(reason) => {
            let notices = Notices {
                choices_error: Some(reason),
                ..Notices::default()
            };
            let unavailable = StatusCode::SERVICE_UNAVAILABLE;
            return refuse.page(FieldErrors::new(), notices, unavailable).await;
        }
    };
    let Ok(based_on) = form.based_on() else {
        return refuse
            .page(FieldErrors::new(), conflict(None), StatusCode::CONFLICT)
            .await;
    };
    let settings = match form.validate(&choices) {
        Ok(settings) => settings,
        Err(errors) => {
            let notices = Notices {
                invalid: true,
                ..Notices::default()
            };
            return refuse
                .page(errors, notices, StatusCode::UNPROCESSABLE_ENTITY)
                .await;
        }
    };
    let actor = user.actor();
    let company = user.tenant.company_id;
    let saved = settings_save::save(
        &state,
        user.tenant_id,
        company,
        &actor,
        &settings,
        based_on,
        &choices,
    )
    .await?;
    match saved {
        Saved::Conflict { current } => {
            refuse
                .page(FieldErrors::new(), conflict(current), StatusCode::CONFLICT)
                .await
        }
        Saved::Version {
            version,
            budget_applied,
        } => Ok(see_saved(version, budget_applied, &embedding)),
    }
}

/// The form shown again as posted, with why it was not saved.
struct Refusal<'a> {
    state: &'a AppState,
    user: &'a DashboardUser,
    session: &'a Session,
    form: &'a SettingsForm,
    embedding: &'a Embedding,
}

impl Refusal<'_> {
    async fn page(
        &self,
        errors: FieldErrors,
        notices: Notices,
        status: StatusCode,
    ) -> Result<HttpResponse, AppError> {
        let page = Page {
            form: self.form,
            errors: &errors,
            notices: &notices,
            embedding: self.embedding,
            status,
        };
        settings_page::render(self.state, self.user, self.session, page).await
    }
}

fn conflict(current: Option<i64>) -> Notices {
    Notices {
        conflict: true,
        current_version: current,
        ..Notices::default()
    }
}

/// Back to the page (POST, redirect, GET), still inside Pipedrive's iframe when it came from one.
fn see_saved(version: i64, budget_applied: bool, embedding: &Embedding) -> HttpResponse {
    let mut location = format!("/dashboard/settings?saved={version}");
    if !budget_applied {
        location.push_str("&budget=unapplied");
    }
    if let Some(id) = &embedding.sdk_id {
        location.push_str("&id=");
        location.push_str(id);
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
