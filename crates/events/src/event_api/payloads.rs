//! The event API's payload types: the `data` of each event `type`, with its checks and schema.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::records::{Customer, Order};
use crate::validate::Checks;

/// `signup`: someone created an account in the customer's product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    /// The account's id in the customer's product.
    pub user_id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    /// The plan chosen at sign-up, in the product's own words.
    #[serde(default)]
    pub plan: Option<String>,
}

/// `usage.reported`: how much of something an account used over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// The account (or user) id in the customer's product.
    pub account_id: String,
    /// What was measured, e.g. `api_calls` or `seats`.
    pub metric: String,
    /// How much, zero or more.
    pub quantity: f64,
    #[serde(default)]
    pub period_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub period_end: Option<DateTime<Utc>>,
}

/// `ticket.created`: a support ticket was opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ticket {
    pub ticket_id: String,
    /// Who opened it.
    pub email: String,
    pub subject: String,
    #[serde(default)]
    pub priority: Option<TicketPriority>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketPriority {
    Low,
    Normal,
    High,
    Urgent,
}

/// `deal.stage_changed`: move a Pipedrive deal to another stage, saying why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealStageChange {
    /// The Pipedrive deal id.
    pub deal_id: u64,
    /// The Pipedrive stage id to move it to.
    pub stage_id: u64,
    /// The explanatory note added to the deal with the move.
    pub note: String,
}

impl Signup {
    pub(crate) fn check(&self, checks: &mut Checks) {
        checks.required_text("data.user_id", &self.user_id);
        checks.email("data.email", &self.email);
        checks.optional_text("data.name", self.name.as_deref());
        checks.optional_text("data.company", self.company.as_deref());
        checks.optional_text("data.plan", self.plan.as_deref());
    }
}

impl UsageReport {
    pub(crate) fn check(&self, checks: &mut Checks) {
        checks.required_text("data.account_id", &self.account_id);
        checks.required_text("data.metric", &self.metric);
        if !self.quantity.is_finite() || self.quantity < 0.0 {
            checks.fail("data.quantity", "must be a number, zero or more");
        }
        if let (Some(start), Some(end)) = (self.period_start, self.period_end) {
            if end < start {
                checks.fail("data.period_end", "must not be before period_start");
            }
        }
    }
}

impl Ticket {
    pub(crate) fn check(&self, checks: &mut Checks) {
        checks.required_text("data.ticket_id", &self.ticket_id);
        checks.email("data.email", &self.email);
        checks.required_text("data.subject", &self.subject);
        checks.optional_text("data.description", self.description.as_deref());
    }
}

impl DealStageChange {
    pub(crate) fn check(&self, checks: &mut Checks) {
        if self.deal_id == 0 {
            checks.fail("data.deal_id", "must be a Pipedrive deal id (1 or more)");
        }
        if self.stage_id == 0 {
            checks.fail("data.stage_id", "must be a Pipedrive stage id (1 or more)");
        }
        checks.required_text("data.note", &self.note);
    }
}

/// Checks an order sent through the event API.
pub(crate) fn check_order(order: &Order, checks: &mut Checks) {
    order.check("data.", checks);
}

/// Checks a customer sent through the event API: it must carry an id or an email.
pub(crate) fn check_customer(customer: &Customer, checks: &mut Checks) {
    customer.check_identified("data.", checks);
}
