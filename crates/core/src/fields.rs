//! The custom fields Dealbridge keeps in each customer's Pipedrive. They are created once per
//! company after install (the provisioning job) and remembered by purpose, so workflows write to
//! a field by what it means, whatever code Pipedrive gave it in that company.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a provisioned field is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldPurpose {
    /// The order's id in the system it came from: how an order update finds its deal again.
    DealOrderId,
    /// The order's current status there (paid, fulfilled, refunded...).
    DealOrderStatus,
    /// Which system the order came from (shopify, woocommerce, api2cart, or an event API source).
    DealOrderSource,
}

/// The Pipedrive entity a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldEntity {
    Deal,
}

/// How Dealbridge wants a field to look in Pipedrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub purpose: FieldPurpose,
    pub entity: FieldEntity,
    /// The name shown in Pipedrive; also how an existing field is recognised on reinstall.
    pub name: &'static str,
    /// Pipedrive's field type (`varchar`, `enum`...).
    pub field_type: &'static str,
    pub description: &'static str,
}

impl FieldPurpose {
    pub const ALL: [FieldPurpose; 3] = [
        FieldPurpose::DealOrderId,
        FieldPurpose::DealOrderStatus,
        FieldPurpose::DealOrderSource,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DealOrderId => "deal_order_id",
            Self::DealOrderStatus => "deal_order_status",
            Self::DealOrderSource => "deal_order_source",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn spec(self) -> FieldSpec {
        // Free text rather than enums: order statuses differ per shop system, and an enum would
        // need its options kept in step with every one of them.
        let (name, description) = match self {
            Self::DealOrderId => (
                "Order ID",
                "The order's id in the shop it came from. Set by Dealbridge.",
            ),
            Self::DealOrderStatus => (
                "Order status",
                "The order's current status in its shop. Kept up to date by Dealbridge.",
            ),
            Self::DealOrderSource => (
                "Order source",
                "The shop or system the order came from. Set by Dealbridge.",
            ),
        };
        FieldSpec {
            purpose: self,
            entity: FieldEntity::Deal,
            name,
            field_type: "varchar",
            description,
        }
    }
}

impl FieldEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deal => "deal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "deal" => Some(Self::Deal),
            _ => None,
        }
    }
}

/// A field provisioned in one tenant's Pipedrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedField {
    pub purpose: FieldPurpose,
    pub entity: FieldEntity,
    /// Pipedrive's key for the field (the key under `custom_fields`).
    pub field_code: String,
    pub recorded_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_through_their_names() {
        for purpose in FieldPurpose::ALL {
            assert_eq!(FieldPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(FieldPurpose::parse("deal_price"), None);
    }

    #[test]
    fn every_purpose_has_a_distinct_name_in_pipedrive() {
        let mut names: Vec<_> = FieldPurpose::ALL.iter().map(|p| p.spec().name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FieldPurpose::ALL.len());
    }
}
