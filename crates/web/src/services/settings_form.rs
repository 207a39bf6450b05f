//! The settings form: what the page shows (every value as text, so a refused form comes back
//! exactly as typed) and its validation against the company's choices into
//! [`WorkflowSettings`]. Pure: no I/O, so every rule is tested here.

use std::collections::{BTreeMap, HashMap};

use dealbridge_core::workflow_settings::{Plan, SourceSwitches, StatusTarget, WorkflowSettings};
use serde::Serialize;

use super::settings_choices::Choices;

/// Longest title template accepted: Pipedrive cuts deal titles at 255 characters, and the
/// placeholders' values need room.
pub const MAX_TEMPLATE_CHARS: usize = 200;
/// Longest order status name (they come from stores: `processing`, `on-hold`, ...).
pub const MAX_STATUS_CHARS: usize = 60;
pub const MAX_DUE_DAYS: u32 = 365;
pub const SEATS_RANGE: std::ops::RangeInclusive<u32> = 1..=10_000;
/// Status rows a form can carry; the page shows the saved ones and [`BLANK_ROWS`] empty ones.
pub const MAX_ROWS: usize = 100;
pub const BLANK_ROWS: usize = 3;

pub const SIGNUP_PLACEHOLDERS: &[&str] = &["name", "email", "company", "plan"];
pub const ORDER_PLACEHOLDERS: &[&str] = &["order", "store", "customer", "total", "currency"];

/// One order-status row: the status as the store names it, and `won`, `lost` or `stage:ID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusRow {
    pub status: String,
    pub target: String,
}

/// The form as text. `version` is the version the form was based on (empty: never saved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SettingsForm {
    pub version: String,
    pub pipeline_id: String,
    pub stage_id: String,
    pub owner_id: String,
    pub activity_type: String,
    pub activity_due_days: String,
    pub signup_deal_title: String,
    pub order_deal_title: String,
    pub rows: Vec<StatusRow>,
    pub source_event_api: bool,
    pub source_shopify: bool,
    pub source_woocommerce: bool,
    pub source_api2cart: bool,
    pub plan: String,
    pub seats: String,
}

/// Field name → what is wrong with it, in a sentence shown next to the field. Rows are
/// `row_{index}`.
pub type FieldErrors = BTreeMap<String, String>;

fn id_text(id: Option<u64>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

pub fn target_text(target: StatusTarget) -> String {
    match target {
        StatusTarget::Stage { stage_id } => format!("stage:{stage_id}"),
        StatusTarget::Won => "won".into(),
        StatusTarget::Lost => "lost".into(),
    }
}

pub fn plan_text(plan: Option<Plan>) -> &'static str {
    match plan {
        None => "",
        Some(Plan::Lite) => "lite",
        Some(Plan::Growth) => "growth",
        Some(Plan::Premium) => "premium",
        Some(Plan::Ultimate) => "ultimate",
    }
}

pub fn parse_plan(text: &str) -> Result<Option<Plan>, ()> {
    match text {
        "" => Ok(None),
        "lite" => Ok(Some(Plan::Lite)),
        "growth" => Ok(Some(Plan::Growth)),
        "premium" => Ok(Some(Plan::Premium)),
        "ultimate" => Ok(Some(Plan::Ultimate)),
        _ => Err(()),
    }
}

impl SettingsForm {
    /// The form showing saved settings (or the defaults) at `version`.
    pub fn from_settings(settings: &WorkflowSettings, version: Option<i64>) -> Self {
        Self {
            version: version.map(|v| v.to_string()).unwrap_or_default(),
            pipeline_id: id_text(settings.pipeline_id),
            stage_id: id_text(settings.stage_id),
            owner_id: id_text(settings.owner_id),
            activity_type: settings.activity_type.clone(),
            activity_due_days: settings.activity_due_days.to_string(),
            signup_deal_title: settings.signup_deal_title.clone(),
            order_deal_title: settings.order_deal_title.clone(),
            rows: settings
                .order_status_targets
                .iter()
                .map(|(status, target)| StatusRow {
                    status: status.clone(),
                    target: target_text(*target),
                })
                .collect(),
            source_event_api: settings.sources.event_api,
            source_shopify: settings.sources.shopify,
            source_woocommerce: settings.sources.woocommerce,
            source_api2cart: settings.sources.api2cart,
            plan: plan_text(settings.plan).into(),
            seats: settings.seats.map(|s| s.to_string()).unwrap_or_default(),
        }
    }

    /// The form as posted (`application/x-www-form-urlencoded` pairs). Unknown names are
    /// ignored; an unticked checkbox is absent, so absent means off. A row with its `remove_N`
    /// box ticked, or with neither a status nor a target, is dropped.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let fields: HashMap<&str, &str> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let text = |name: &str| fields.get(name).map(|v| v.trim().to_owned());
        let on = |name: &str| fields.contains_key(name);
        let rows = (0..MAX_ROWS)
            .filter(|i| !on(&format!("remove_{i}")))
            .filter_map(|i| {
                let status = text(&format!("status_{i}")).unwrap_or_default();
                let target = text(&format!("target_{i}")).unwrap_or_default();
                (!status.is_empty() || !target.is_empty()).then_some(StatusRow { status, target })
            })
            .collect();
        Self {
            version: text("version").unwrap_or_default(),
            pipeline_id: text("pipeline_id").unwrap_or_default(),
            stage_id: text("stage_id").unwrap_or_default(),
            owner_id: text("owner_id").unwrap_or_default(),
            activity_type: text("activity_type").unwrap_or_default(),
            activity_due_days: text("activity_due_days").unwrap_or_default(),
            // Titles keep inner spacing as typed; only the ends are trimmed.
            signup_deal_title: text("signup_deal_title").unwrap_or_default(),
            order_deal_title: text("order_deal_title").unwrap_or_default(),
            rows,
            source_event_api: on("source_event_api"),
            source_shopify: on("source_shopify"),
            source_woocommerce: on("source_woocommerce"),
            source_api2cart: on("source_api2cart"),
            plan: text("plan").unwrap_or_default(),
            seats: text("seats").unwrap_or_default(),
        }
    }

    /// The version the form was based on: `Ok(None)` for a form of never-saved settings.
    pub fn based_on(&self) -> Result<Option<i64>, ()> {
        match self.version.as_str() {
            "" => Ok(None),
            v => v.parse().map(Some).map_err(drop),
        }
    }

    /// The settings the form says, or every field that is wrong.
    pub fn validate(&self, choices: &Choices) -> Result<WorkflowSettings, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut note = |field: &str, message: String| {
            errors.entry(field.to_owned()).or_insert(message);
        };
        let (pipeline_id, stage_id) = self.pipeline_and_stage(choices, &mut note);
        let owner_id = match optional_id(&self.owner_id) {
            Ok(Some(id)) if !choices.has_user(id) => {
                note(
                    "owner_id",
                    format!("User {id} is not an active user of your Pipedrive."),
                );
                None
            }
            Ok(id) => id,
            Err(()) => {
                note("owner_id", "Choose a user from the list.".into());
                None
            }
        };
        if !choices.has_activity_type(&self.activity_type) {
            let message = if self.activity_type.is_empty() {
                "Choose an activity type.".to_owned()
            } else {
                format!(
                    "\u{201c}{}\u{201d} is not an active activity type of your Pipedrive.",
                    self.activity_type
                )
            };
            note("activity_type", message);
        }
        let activity_due_days = match self.activity_due_days.parse::<u32>() {
            Ok(days) if days <= MAX_DUE_DAYS => days,
            _ => {
                note(
                    "activity_due_days",
                    format!("Enter a whole number of days from 0 to {MAX_DUE_DAYS}."),
                );
                0
            }
        };
        for (field, template, allowed) in [
            (
                "signup_deal_title",
                &self.signup_deal_title,
                SIGNUP_PLACEHOLDERS,
            ),
            (
                "order_deal_title",
                &self.order_deal_title,
                ORDER_PLACEHOLDERS,
            ),
        ] {
            if let Err(message) = check_template(template, allowed) {
                note(field, message);
            }
        }
        let order_status_targets = self.status_targets(choices, &mut note);
        let plan = parse_plan(&self.plan).unwrap_or_else(|()| {
            note("plan", "Choose one of the listed plans.".into());
            None
        });
        let seats = match self.seats.as_str() {
            "" => None,
            text => match text.parse::<u32>() {
                Ok(n) if SEATS_RANGE.contains(&n) => Some(n),
                _ => {
                    note(
                        "seats",
                        format!(
                            "Enter a whole number of seats from {} to {}, or leave it empty to count your users.",
                            SEATS_RANGE.start(),
                            SEATS_RANGE.end()
                        ),
                    );
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(WorkflowSettings {
            pipeline_id,
            stage_id,
            owner_id,
            activity_type: self.activity_type.clone(),
            activity_due_days,
            signup_deal_title: self.signup_deal_title.clone(),
            order_deal_title: self.order_deal_title.clone(),
            order_status_targets,
            sources: SourceSwitches {
                event_api: self.source_event_api,
                shopify: self.source_shopify,
                woocommerce: self.source_woocommerce,
                api2cart: self.source_api2cart,
            },
            plan,
            seats,
        })
    }

    fn pipeline_and_stage(
        &self,
        choices: &Choices,
        note: &mut impl FnMut(&str, String),
    ) -> (Option<u64>, Option<u64>) {
        let pipeline = match optional_id(&self.pipeline_id) {
            Ok(Some(id)) if choices.pipeline(id).is_none() => {
                note(
                    "pipeline_id",
                    format!("Pipeline {id} does not exist in your Pipedrive."),
                );
                return (None, None);
            }
            Ok(id) => id,
            Err(()) => {
                note("pipeline_id", "Choose a pipeline from the list.".into());
                return (None, None);
            }
        };
        let stage = match optional_id(&self.stage_id) {
            Ok(stage) => stage,
            Err(()) => {
                note("stage_id", "Choose a stage from the list.".into());
                return (pipeline, None);
            }
        };
        let Some(stage) = stage else {
            return (pipeline, None);
        };
        match (choices.pipeline_of_stage(stage), pipeline) {
            (None, _) => note(
                "stage_id",
                format!("Stage {stage} does not exist in your Pipedrive."),
            ),
            (Some(_), None) => note(
                "stage_id",
                "Choose the pipeline of this stage too (a stage belongs to one pipeline).".into(),
            ),
            (Some(owner), Some(chosen)) if owner.id != chosen => {
                let chosen_name = choices
                    .pipeline(chosen)
                    .map(|p| p.name.as_str())
                    .unwrap_or("");
                note(
                    "stage_id",
                    format!(
                        "This stage belongs to the pipeline \u{201c}{}\u{201d}, not to \u{201c}{chosen_name}\u{201d}: choose a stage of the chosen pipeline.",
                        owner.name
                    ),
                );
            }
            _ => {}
        }
        (pipeline, Some(stage))
    }

    fn status_targets(
        &self,
        choices: &Choices,
        note: &mut impl FnMut(&str, String),
    ) -> BTreeMap<String, StatusTarget> {
        let mut targets = BTreeMap::new();
        for (i, row) in self.rows.iter().enumerate() {
            let field = format!("row_{i}");
            let status = row.status.to_lowercase();
            if status.is_empty() || status.chars().count() > MAX_STATUS_CHARS {
                note(
                    &field,
                    format!("Name the order status (1 to {MAX_STATUS_CHARS} characters), or tick Remove."),
                );
                continue;
            }
            if targets.contains_key(&status) {
                note(&field, format!("\u{201c}{status}\u{201d} is listed twice."));
                continue;
            }
            match parse_target(&row.target) {
                Some(StatusTarget::Stage { stage_id })
                    if choices.pipeline_of_stage(stage_id).is_none() =>
                {
                    note(
                        &field,
                        format!("Stage {stage_id} does not exist in your Pipedrive."),
                    );
                }
                Some(target) => {
                    targets.insert(status, target);
                }
                None => note(
                    &field,
                    "Choose what this status does: a stage, won or lost.".into(),
                ),
            }
        }
        targets
    }
}

fn optional_id(text: &str) -> Result<Option<u64>, ()> {
    match text {
        "" => Ok(None),
        text => text.parse().map(Some).map_err(drop),
    }
}

fn parse_target(text: &str) -> Option<StatusTarget> {
    match text {
        "won" => Some(StatusTarget::Won),
        "lost" => Some(StatusTarget::Lost),
        other => other
            .strip_prefix("stage:")
            .and_then(|id| id.parse().ok())
            .map(|stage_id| StatusTarget::Stage { stage_id }),
    }
}

/// A title template is non-empty, not over-long, and names only placeholders its workflow
/// fills (an unknown one would show in every title as typed).
fn check_template(template: &str, allowed: &[&str]) -> Result<(), String> {
    if template.is_empty() {
        return Err("Enter a title; it may use the placeholders listed.".into());
    }
    if template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(format!(
            "Keep the title to {MAX_TEMPLATE_CHARS} characters (it has {}).",
            template.chars().count()
        ));
    }
    let unknown: Vec<&str> = placeholders(template)
        .filter(|name| !allowed.contains(name))
        .collect();
    if let Some(first) = unknown.first() {
        let listed: Vec<String> = allowed.iter().map(|p| format!("{{{p}}}")).collect();
        return Err(format!(
            "{{{first}}} is not a placeholder this title knows; use {}.",
            listed.join(", ")
        ));
    }
    Ok(())
}

/// The `{word}` names of a template, as `render_title` would look them up.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|part| {
        let name = &part[..part.find('}')?];
        let word = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        word.then_some(name)
    })
}

#[cfg(test)]
#[path = "settings_form_tests.rs"]
mod tests;
