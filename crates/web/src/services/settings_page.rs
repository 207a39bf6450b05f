//! The settings page, shared by the dashboard (`/dashboard/settings`) and Pipedrive's settings
//! iframe (`/pipedrive/settings`): the form with the company's choices as selects, each field's
//! error beside it, the versions saved so far and the daily budget the plan and seats give.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;
use tera::Context;

use super::settings_choices::{self, Choices};
use super::settings_form::{
    FieldErrors, SettingsForm, StatusRow, BLANK_ROWS, MAX_TEMPLATE_CHARS, ORDER_PLACEHOLDERS,
    SEATS_RANGE, SIGNUP_PLACEHOLDERS,
};
use super::{settings_save, tenant_health};
use crate::session::{csrf_token, DashboardUser};
use crate::{AppError, AppState};

/// What the page says above the form.
#[derive(Debug, Default, Serialize)]
pub struct Notices {
    /// The version just saved.
    pub saved: Option<i64>,
    /// The save worked but the daily limit could not be handed to the budget ledger.
    pub budget_unapplied: bool,
    /// A stale form: someone else saved since it was opened.
    pub conflict: bool,
    /// The version in force after such a save.
    pub current_version: Option<i64>,
    pub invalid: bool,
    /// Why the choices could not be read just now (a save that failed on it), so the page
    /// says so without asking Pipedrive again.
    pub choices_error: Option<String>,
}

/// How the page was reached: from Pipedrive's iframe, with the runtime id its SDK needs.
#[derive(Debug, Clone, Default)]
pub struct Embedding {
    pub sdk_id: Option<String>,
}

impl Embedding {
    /// Pipedrive's runtime id for the SDK, when it looks like one (it is put into the page and
    /// into a redirect, so anything else is dropped).
    pub fn from_id(id: Option<&str>) -> Self {
        let valid = |id: &&str| {
            (1..=128).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        Self {
            sdk_id: id.filter(valid).map(str::to_owned),
        }
    }
}

#[derive(Debug, Serialize)]
struct Opt {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug, Serialize)]
struct Group {
    /// Empty for options outside any group.
    label: String,
    options: Vec<Opt>,
}

/// Options grouped for a `<select>`; a value the choices do not hold (a refused form's) is kept
/// as an extra option marked as not found, so re-showing the form loses nothing.
fn select(groups: Vec<(String, Vec<(String, String)>)>, current: &str) -> Vec<Group> {
    let mut found = false;
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|(label, options)| Group {
            label,
            options: options
                .into_iter()
                .map(|(value, label)| {
                    let selected = value == current;
                    found |= selected;
                    Opt {
                        value,
                        label,
                        selected,
                    }
                })
                .collect(),
        })
        .collect();
    if !found && !current.is_empty() {
        out.push(Group {
            label: String::new(),
            options: vec![Opt {
                value: current.to_owned(),
                label: format!("{current} (not found in your Pipedrive)"),
                selected: true,
            }],
        });
    }
    out
}

fn flat(
    first: (&str, &str),
    rest: impl IntoIterator<Item = (String, String)>,
) -> (String, Vec<(String, String)>) {
    let mut options = vec![(first.0.to_owned(), first.1.to_owned())];
    options.extend(rest);
    (String::new(), options)
}

fn stage_groups(choices: &Choices) -> Vec<(String, Vec<(String, String)>)> {
    choices
        .pipelines
        .iter()
        .map(|p| {
            let stages = p.stages.iter();
            (
                p.name.clone(),
                stages.map(|s| (s.id.to_string(), s.name.clone())).collect(),
            )
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct RowView {
    index: usize,
    status: String,
    targets: Vec<Group>,
    error: Option<String>,
}

/// Every select of the form, built from the choices and the form's current values.
fn selects(form: &SettingsForm, choices: &Choices, errors: &FieldErrors, context: &mut Context) {
    let pipelines = choices
        .pipelines
        .iter()
        .map(|p| (p.id.to_string(), p.name.clone()));
    context.insert(
        "pipelines",
        &select(
            vec![flat(("", "The company's first pipeline"), pipelines)],
            &form.pipeline_id,
        ),
    );
    let mut stages = vec![flat(("", "The pipeline's first stage"), [])];
    stages.extend(stage_groups(choices));
    context.insert("stages", &select(stages, &form.stage_id));
    let users = choices
        .users
        .iter()
        .map(|u| (u.id.to_string(), u.name.clone()));
    context.insert(
        "owners",
        &select(
            vec![flat(("", "The user who installed Dealbridge"), users)],
            &form.owner_id,
        ),
    );
    let types = choices
        .activity_types
        .iter()
        .map(|t| (t.key.clone(), t.name.clone()));
    let types: Vec<(String, String)> = types.collect();
    context.insert(
        "activity_types",
        &select(vec![(String::new(), types)], &form.activity_type),
    );
    let blank = std::iter::repeat_with(StatusRow::default).take(BLANK_ROWS);
    let rows: Vec<RowView> = form
        .rows
        .iter()
        .cloned()
        .chain(blank)
        .enumerate()
        .map(|(index, row)| {
            let mut targets = vec![flat(
                ("", "Choose…"),
                [
                    ("won".into(), "Mark the deal won".into()),
                    ("lost".into(), "Mark the deal lost".into()),
                ],
            )];
            targets.extend(stage_groups(choices).into_iter().map(|(pipeline, stages)| {
                let stages = stages
                    .into_iter()
                    .map(|(id, name)| (format!("stage:{id}"), format!("Move to {name}")));
                (pipeline, stages.collect())
            }));
            RowView {
                index,
                status: row.status,
                targets: select(targets, &row.target),
                error: errors.get(&format!("row_{index}")).cloned(),
            }
        })
        .collect();
    context.insert("rows", &rows);
    let plans = [
        ("lite", "Lite"),
        ("growth", "Growth"),
        ("premium", "Premium"),
        ("ultimate", "Ultimate"),
    ];
    let plans = plans
        .iter()
        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()));
    context.insert(
        "plans",
        &select(
            vec![flat(("", "Not given: learn it from Pipedrive"), plans)],
            &form.plan,
        ),
    );
}

#[derive(Debug, Serialize)]
struct VersionView {
    version: i64,
    saved_by: String,
    saved_at: String,
}

/// One rendering of the page: the saved settings' form, or a refused form as posted.
pub struct Page<'a> {
    pub form: &'a SettingsForm,
    pub errors: &'a FieldErrors,
    pub notices: &'a Notices,
    pub embedding: &'a Embedding,
    pub status: StatusCode,
}

pub async fn render(
    state: &AppState,
    user: &DashboardUser,
    session: &Session,
    page: Page<'_>,
) -> Result<HttpResponse, AppError> {
    let Page {
        form,
        errors,
        notices,
        embedding,
        status,
    } = page;
    let mut context = Context::new();
    context.insert("tenant", &user.tenant);
    context.insert("csrf", &csrf_token(session));
    context.insert("form", form);
    context.insert("errors", errors);
    context.insert("notices", notices);
    context.insert("sdk_id", &embedding.sdk_id);
    context.insert("signup_placeholders", SIGNUP_PLACEHOLDERS);
    context.insert("order_placeholders", ORDER_PLACEHOLDERS);
    context.insert("max_template_chars", &MAX_TEMPLATE_CHARS);
    context.insert("seats_min", SEATS_RANGE.start());
    context.insert("seats_max", SEATS_RANGE.end());
    let choices = match &notices.choices_error {
        Some(reason) => Err(reason.clone()),
        None => settings_choices::choices(state, user.tenant_id, user.user_id).await,
    };
    match choices {
        Ok(choices) => {
            selects(form, &choices, errors, &mut context);
            let (saved, _) = settings_save::current(state, user.tenant_id).await?;
            context.insert(
                "daily_budget",
                &settings_save::daily_budget(&saved, &choices),
            );
            context.insert("choices_error", &None::<String>);
        }
        Err(reason) => context.insert("choices_error", &Some(reason)),
    }
    context.insert(
        "ledger",
        &tenant_health::budget(state, user.tenant.company_id).await,
    );
    let history = state.store.settings_history(user.tenant_id, 5).await?;
    let history: Vec<VersionView> = history
        .into_iter()
        .map(|v| VersionView {
            version: v.version,
            saved_by: v.saved_by.unwrap_or_default(),
            saved_at: tenant_health::when(v.saved_at),
        })
        .collect();
    context.insert("history", &history);
    let html = state.templates.render("settings.html", &context)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// The page as saved (or the defaults), for a plain view.
pub async fn show_saved(
    state: &AppState,
    user: &DashboardUser,
    session: &Session,
    notices: &Notices,
    embedding: &Embedding,
) -> Result<HttpResponse, AppError> {
    let (settings, version) = settings_save::current(state, user.tenant_id).await?;
    let form = SettingsForm::from_settings(&settings, version);
    let page = Page {
        form: &form,
        errors: &FieldErrors::new(),
        notices,
        embedding,
        status: StatusCode::OK,
    };
    render(state, user, session, page).await
}
