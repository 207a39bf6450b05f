//! How a tenant's admin wants events to become Pipedrive records. Stored as the body of the
//! tenant's versioned settings (`VersionedSettings::body`); every field has a default, so a tenant
//! that never saved anything still gets working workflows, and a body saved by an older version
//! (missing fields) still reads.
//!
//! Ids are Pipedrive's. `None` means "what the company has by default", resolved when a workflow
//! runs: the company's first pipeline, that pipeline's first stage, the installing user.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The workflow settings of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkflowSettings {
    /// The pipeline new deals go to.
    pub pipeline_id: Option<u64>,
    /// The stage new deals start in; must belong to `pipeline_id`.
    pub stage_id: Option<u64>,
    /// The Pipedrive user who owns what Dealbridge creates.
    pub owner_id: Option<u64>,
    /// The follow-up activity a sign-up gets: its type's `key_string` (`call`, `task`, ...).
    pub activity_type: String,
    /// Days from the sign-up to the follow-up activity's due date.
    pub activity_due_days: u32,
    /// Title of a sign-up's deal; see [`render_title`] for the placeholders.
    pub signup_deal_title: String,
    /// Title of an order's deal.
    pub order_deal_title: String,
    /// What an order status (lower case, as the event carries it) does to the order's deal.
    pub order_status_targets: BTreeMap<String, StatusTarget>,
    /// Which sources' events become records; a source switched off still has its events
    /// recorded (and shown), but its workflows skip them.
    pub sources: SourceSwitches,
    /// The company's plan and seats, when the admin knows them better than the counted users, so
    /// the daily budget is known before the first 429.
    pub plan: Option<Plan>,
    pub seats: Option<u32>,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        let mut order_status_targets = BTreeMap::new();
        for status in ["completed", "paid", "fulfilled"] {
            order_status_targets.insert(status.to_owned(), StatusTarget::Won);
        }
        for status in ["cancelled", "refunded", "failed"] {
            order_status_targets.insert(status.to_owned(), StatusTarget::Lost);
        }
        Self {
            pipeline_id: None,
            stage_id: None,
            owner_id: None,
            activity_type: "call".to_owned(),
            activity_due_days: 1,
            signup_deal_title: "{name} signed up".to_owned(),
            order_deal_title: "Order {order} from {store}".to_owned(),
            order_status_targets,
            sources: SourceSwitches::default(),
            plan: None,
            seats: None,
        }
    }
}

impl WorkflowSettings {
    /// Reads a stored body; `None` (never saved) gives the defaults.
    pub fn from_body(body: Option<&serde_json::Value>) -> Result<Self, serde_json::Error> {
        match body {
            None => Ok(Self::default()),
            Some(body) => serde_json::from_value(body.clone()),
        }
    }

    pub fn to_body(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("workflow settings serialise")
    }
}

/// What an order status moves the deal to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum StatusTarget {
    /// Into this stage (of the deal's pipeline), still open.
    Stage {
        stage_id: u64,
    },
    Won,
    Lost,
}

/// Per source: do its events become records?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceSwitches {
    pub event_api: bool,
    pub shopify: bool,
    pub woocommerce: bool,
    pub api2cart: bool,
}

impl Default for SourceSwitches {
    fn default() -> Self {
        Self {
            event_api: true,
            shopify: true,
            woocommerce: true,
            api2cart: true,
        }
    }
}

/// Pipedrive's plans, which set the daily budget's multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Lite,
    Growth,
    Premium,
    Ultimate,
}

/// Fills a title template: each `{name}` whose name is a key of `values` is replaced by its value;
/// any other text, unknown placeholders included, is kept as written (so a typo shows in the title
/// rather than failing the workflow). Placeholders the workflows give: sign-ups `{name}`,
/// `{email}`, `{company}`, `{plan}`; orders `{order}`, `{store}`, `{customer}`, `{total}`,
/// `{currency}`.
pub fn render_title(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if values.contains_key(&after[..close]) => {
                out.push_str(&values[&after[..close]]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_body_and_a_partial_body_read_as_defaults() {
        assert_eq!(
            WorkflowSettings::from_body(None).unwrap(),
            WorkflowSettings::default()
        );
        let partial = serde_json::json!({"stage_id": 3});
        let read = WorkflowSettings::from_body(Some(&partial)).unwrap();
        assert_eq!(read.stage_id, Some(3));
        assert_eq!(read.activity_type, "call");
    }

    #[test]
    fn settings_survive_a_round_trip() {
        let mut settings = WorkflowSettings::default();
        settings
            .order_status_targets
            .insert("shipped".into(), StatusTarget::Stage { stage_id: 4 });
        settings.plan = Some(Plan::Growth);
        let back = WorkflowSettings::from_body(Some(&settings.to_body())).unwrap();
        assert_eq!(back, settings);
    }

    #[test]
    fn titles_fill_known_placeholders_and_keep_the_rest() {
        let values = BTreeMap::from([("name", "Ada".to_owned()), ("store", "Shop".to_owned())]);
        assert_eq!(
            render_title("{name} at {store} {unknown} {", &values),
            "Ada at Shop {unknown} {"
        );
    }
}
