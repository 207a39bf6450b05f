//! Typed identifiers. A `TenantId` is ours; `CompanyId` and `UserId` are Pipedrive's.
//! Keeping them apart in the type system stops a Pipedrive company id from being used where our
//! tenant key is expected (they are both numbers-or-uuids that look alike in logs).

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Our key for one Pipedrive company that installed Dealbridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(Uuid);

impl TenantId {
    /// A new, time-ordered id (UUIDv7), so inserts land at the end of indexes.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for TenantId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

macro_rules! pipedrive_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub fn new(id: i64) -> Self {
                Self(id)
            }

            pub fn get(&self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pipedrive_id!(
    /// Pipedrive's `company_id`: one customer account.
    CompanyId
);
pipedrive_id!(
    /// Pipedrive's user `id` within a company.
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_time_ordered_and_round_trip_through_text() {
        let first = TenantId::new();
        let second = TenantId::new();
        assert!(first < second, "UUIDv7 ids must sort by creation");
        let parsed: TenantId = first.to_string().parse().unwrap();
        assert_eq!(parsed, first);
        assert!("not-a-uuid".parse::<TenantId>().is_err());
    }
}
