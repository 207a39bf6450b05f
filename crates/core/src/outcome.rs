//! What an inbox event became: the Pipedrive records a workflow created or changed for it, or why
//! it did not become anything (failed, or skipped by the tenant's settings). The reason names the
//! problem, never the event's content, so the dashboard may show it.

use serde::{Deserialize, Serialize};

/// The kinds of Pipedrive record a workflow writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Deal,
    Person,
    Organization,
    Activity,
    Note,
}

impl RecordKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Deal => "deal",
            Self::Person => "person",
            Self::Organization => "organization",
            Self::Activity => "activity",
            Self::Note => "note",
        }
    }

    /// The record's page in the company's Pipedrive, for kinds that have one of their own
    /// (activities and notes are shown on the record they belong to).
    pub fn web_path(&self, id: u64) -> Option<String> {
        match self {
            Self::Deal | Self::Person | Self::Organization => {
                Some(format!("/{}/{id}", self.as_str()))
            }
            Self::Activity | Self::Note => None,
        }
    }
}

/// One Pipedrive record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    pub kind: RecordKind,
    pub id: u64,
}

/// What an event became.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventOutcome {
    /// The records written or found for it, in the order the workflow reached them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordRef>,
    /// Why nothing (more) happened: `skipped: source off`, or a failure's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EventOutcome {
    pub fn records(records: Vec<RecordRef>) -> Self {
        Self {
            records,
            reason: None,
        }
    }

    pub fn reason(reason: impl Into<String>) -> Self {
        Self {
            records: Vec::new(),
            reason: Some(reason.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deals_persons_and_organizations_have_pages() {
        assert_eq!(RecordKind::Deal.web_path(8).as_deref(), Some("/deal/8"));
        assert_eq!(
            RecordKind::Organization.web_path(3).as_deref(),
            Some("/organization/3")
        );
        assert_eq!(RecordKind::Note.web_path(1), None);
    }

    #[test]
    fn an_outcome_round_trips_through_json() {
        let outcome = EventOutcome::records(vec![RecordRef {
            kind: RecordKind::Person,
            id: 4,
        }]);
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"records": [{"kind": "person", "id": 4}]})
        );
        assert_eq!(
            serde_json::from_value::<EventOutcome>(json).unwrap(),
            outcome
        );
    }
}
