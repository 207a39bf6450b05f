//! The sandbox's own record models, written from the response schemas of the official files: each
//! field's JSON type, whether the file marks it `nullable`, whether a request may set it, and its
//! value when a create leaves it out. A null in a field the file does not mark nullable is left out
//! of responses, so every response validates against the published schema.

use serde::{Deserialize, Serialize};

/// JSON type a field accepts. v2 is strict (no string→number or 0/1→bool coercion); `Flag` is v1's
/// boolean that also accepts 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Num,
    Str,
    Bool,
    Flag,
    Arr,
    Obj,
}

/// Value of a field a create leaves out.
#[derive(Debug, Clone, Copy)]
pub enum Dflt {
    Null,
    Zero,
    False,
    True,
    Empty,
    Int(i64),
    Str(&'static str),
    /// The current time, in the entity's API format.
    Now,
    /// The calling user's id.
    User,
}

#[derive(Debug)]
pub struct FieldDef {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub writable: bool,
    pub default: Dflt,
}

const fn w(name: &'static str, kind: Kind, default: Dflt) -> FieldDef {
    FieldDef {
        name,
        kind,
        nullable: false,
        writable: true,
        default,
    }
}
const fn wn(name: &'static str, kind: Kind) -> FieldDef {
    FieldDef {
        name,
        kind,
        nullable: true,
        writable: true,
        default: Dflt::Null,
    }
}
const fn ro(name: &'static str, kind: Kind, default: Dflt) -> FieldDef {
    FieldDef {
        name,
        kind,
        nullable: false,
        writable: false,
        default,
    }
}
const fn ron(name: &'static str, kind: Kind) -> FieldDef {
    FieldDef {
        name,
        kind,
        nullable: true,
        writable: false,
        default: Dflt::Null,
    }
}

use Dflt as D;
use Kind as K;

/// The record types the sandbox stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Deal,
    Person,
    Organization,
    Activity,
    Pipeline,
    Stage,
    Note,
}

impl EntityKind {
    pub const ALL: [EntityKind; 7] = [
        EntityKind::Deal,
        EntityKind::Person,
        EntityKind::Organization,
        EntityKind::Activity,
        EntityKind::Pipeline,
        EntityKind::Stage,
        EntityKind::Note,
    ];

    /// Path segment of the collection, e.g. `deals`.
    pub fn plural(self) -> &'static str {
        match self {
            EntityKind::Deal => "deals",
            EntityKind::Person => "persons",
            EntityKind::Organization => "organizations",
            EntityKind::Activity => "activities",
            EntityKind::Pipeline => "pipelines",
            EntityKind::Stage => "stages",
            EntityKind::Note => "notes",
        }
    }

    /// Webhook `event_object` / `meta.entity` name.
    pub fn singular(self) -> &'static str {
        match self {
            EntityKind::Deal => "deal",
            EntityKind::Person => "person",
            EntityKind::Organization => "organization",
            EntityKind::Activity => "activity",
            EntityKind::Pipeline => "pipeline",
            EntityKind::Stage => "stage",
            EntityKind::Note => "note",
        }
    }

    pub fn from_plural(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.plural() == s)
    }

    pub fn from_singular(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.singular() == s)
    }

    /// Display name used in "not found" messages.
    pub fn title(self) -> &'static str {
        match self {
            EntityKind::Deal => "Deal",
            EntityKind::Person => "Person",
            EntityKind::Organization => "Organization",
            EntityKind::Activity => "Activity",
            EntityKind::Pipeline => "Pipeline",
            EntityKind::Stage => "Stage",
            EntityKind::Note => "Note",
        }
    }

    /// v1 records (notes) use `YYYY-MM-DD HH:MM:SS`; v2 records RFC 3339.
    pub fn is_v1(self) -> bool {
        self == EntityKind::Note
    }

    /// Whether records carry a v2 `custom_fields` object; these kinds also have a fields API.
    pub fn has_custom_fields(self) -> bool {
        matches!(
            self,
            EntityKind::Deal | EntityKind::Person | EntityKind::Organization
        )
    }

    /// Body fields a create must carry.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            EntityKind::Deal => &["title"],
            EntityKind::Person | EntityKind::Organization | EntityKind::Pipeline => &["name"],
            EntityKind::Stage => &["name", "pipeline_id"],
            EntityKind::Note => &["content"],
            EntityKind::Activity => &[],
        }
    }

    /// Fields the search endpoint matches `term` against, by `fields` name.
    pub fn search_fields(self) -> &'static [&'static str] {
        match self {
            EntityKind::Deal => &["title", "custom_fields"],
            EntityKind::Person => &["name", "email", "phone", "custom_fields"],
            EntityKind::Organization => &["name", "address", "custom_fields"],
            _ => &[],
        }
    }

    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            EntityKind::Deal => DEAL,
            EntityKind::Person => PERSON,
            EntityKind::Organization => ORGANIZATION,
            EntityKind::Activity => ACTIVITY,
            EntityKind::Pipeline => PIPELINE,
            EntityKind::Stage => STAGE,
            EntityKind::Note => NOTE,
        }
    }
}

#[rustfmt::skip]
static DEAL: &[FieldDef] = &[
    ro("id", K::Int, D::Zero), w("title", K::Str, D::Null), w("owner_id", K::Int, D::User),
    w("person_id", K::Int, D::Null), w("org_id", K::Int, D::Null), w("pipeline_id", K::Int, D::Int(1)),
    w("stage_id", K::Int, D::Int(1)), w("value", K::Num, D::Zero), w("currency", K::Str, D::Str("USD")),
    ro("add_time", K::Str, D::Now), ro("update_time", K::Str, D::Now), ro("stage_change_time", K::Str, D::Null),
    ro("is_deleted", K::Bool, D::False), w("is_archived", K::Bool, D::False), w("status", K::Str, D::Str("open")),
    wn("probability", K::Num), wn("lost_reason", K::Str), w("visible_to", K::Int, D::Int(3)),
    ron("close_time", K::Str), ro("won_time", K::Str, D::Null), ro("lost_time", K::Str, D::Null),
    w("expected_close_date", K::Str, D::Null), w("label_ids", K::Arr, D::Empty),
    ro("origin", K::Str, D::Str("API")), wn("origin_id", K::Str), wn("channel", K::Int), wn("channel_id", K::Str),
    ron("source_lead_id", K::Str), ron("arr", K::Num), ron("mrr", K::Num), ron("acv", K::Num),
];

#[rustfmt::skip]
static PERSON: &[FieldDef] = &[
    ro("id", K::Int, D::Zero), w("name", K::Str, D::Null), w("first_name", K::Str, D::Null),
    w("last_name", K::Str, D::Null), w("owner_id", K::Int, D::User), w("org_id", K::Int, D::Null),
    ro("add_time", K::Str, D::Now), ro("update_time", K::Str, D::Now), w("emails", K::Arr, D::Empty),
    w("phones", K::Arr, D::Empty), ro("is_deleted", K::Bool, D::False), w("visible_to", K::Int, D::Int(3)),
    w("label_ids", K::Arr, D::Empty), ro("picture_id", K::Int, D::Null), w("postal_address", K::Obj, D::Null),
    ro("notes", K::Str, D::Null), w("im", K::Arr, D::Empty), w("birthday", K::Str, D::Null),
    w("job_title", K::Str, D::Null),
];

#[rustfmt::skip]
static ORGANIZATION: &[FieldDef] = &[
    ro("id", K::Int, D::Zero), w("name", K::Str, D::Null), w("owner_id", K::Int, D::User),
    ro("add_time", K::Str, D::Now), ro("update_time", K::Str, D::Now), ro("is_deleted", K::Bool, D::False),
    w("visible_to", K::Int, D::Int(3)), w("address", K::Obj, D::Null), w("label_ids", K::Arr, D::Empty),
    wn("website", K::Str), wn("linkedin", K::Str), wn("industry", K::Int), wn("annual_revenue", K::Int),
    wn("employee_count", K::Int),
];

#[rustfmt::skip]
static ACTIVITY: &[FieldDef] = &[
    ro("id", K::Int, D::Zero), w("subject", K::Str, D::Str("Call")), w("type", K::Str, D::Str("call")),
    w("owner_id", K::Int, D::User), ro("creator_user_id", K::Int, D::User), ro("is_deleted", K::Bool, D::False),
    ro("add_time", K::Str, D::Now), ro("update_time", K::Str, D::Now), w("deal_id", K::Int, D::Null),
    w("lead_id", K::Str, D::Null), w("person_id", K::Int, D::Null), w("org_id", K::Int, D::Null),
    w("project_id", K::Int, D::Null), w("due_date", K::Str, D::Null), w("due_time", K::Str, D::Null),
    w("duration", K::Str, D::Null), w("busy", K::Bool, D::False), w("done", K::Bool, D::False),
    ro("marked_as_done_time", K::Str, D::Null), w("location", K::Obj, D::Null), w("participants", K::Arr, D::Empty),
    w("attendees", K::Arr, D::Empty), ro("conference_meeting_client", K::Str, D::Null),
    ro("conference_meeting_url", K::Str, D::Null), ro("conference_meeting_id", K::Str, D::Null),
    w("public_description", K::Str, D::Null), w("priority", K::Int, D::Null), w("note", K::Str, D::Null),
];

#[rustfmt::skip]
static PIPELINE: &[FieldDef] = &[
    ro("id", K::Int, D::Zero), w("name", K::Str, D::Null), w("order_nr", K::Int, D::Int(1)),
    ro("is_deleted", K::Bool, D::False), w("is_deal_probability_enabled", K::Bool, D::False),
    ro("add_time", K::Str, D::Now), ro("update_time", K::Str, D::Now),
];

#[rustfmt::skip]
static STAGE: &[FieldDef] = &[
    ro("id", K::Int, D::Zero), w("order_nr", K::Int, D::Int(1)), w("name", K::Str, D::Null),
    ro("is_deleted", K::Bool, D::False), w("deal_probability", K::Int, D::Int(100)),
    w("pipeline_id", K::Int, D::Null), w("is_deal_rot_enabled", K::Bool, D::False), wn("days_to_rotten", K::Int),
    ro("add_time", K::Str, D::Now), ro("update_time", K::Str, D::Now),
];

#[rustfmt::skip]
static NOTE: &[FieldDef] = &[
    ro("id", K::Int, D::Zero), ro("active_flag", K::Bool, D::True), ro("add_time", K::Str, D::Now),
    w("content", K::Str, D::Null), w("lead_id", K::Str, D::Null), w("deal_id", K::Int, D::Null),
    ro("last_update_user_id", K::Int, D::User), w("org_id", K::Int, D::Null), w("person_id", K::Int, D::Null),
    w("project_id", K::Int, D::Null), w("task_id", K::Int, D::Null),
    w("pinned_to_deal_flag", K::Flag, D::False), w("pinned_to_organization_flag", K::Flag, D::False),
    w("pinned_to_person_flag", K::Flag, D::False), w("pinned_to_project_flag", K::Flag, D::False),
    w("pinned_to_task_flag", K::Flag, D::False), ro("update_time", K::Str, D::Now), w("user_id", K::Int, D::User),
];
