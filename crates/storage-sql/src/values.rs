//! Column values whose storage differs between the backends. Each wrapper encodes natively on
//! Postgres and in the existing SQLite file format, so areas bind and read them the same way.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// A uuid column: `uuid` on Postgres, hyphenated text on SQLite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Id(pub Uuid);

/// An installation's scopes: `text[]` on Postgres, comma-separated text on SQLite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes(pub Vec<String>);

/// A time in the `jobs` table: `timestamptz` on Postgres, integer milliseconds on SQLite (where
/// text timestamps of varying precision would not compare in time order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueTime(pub DateTime<Utc>);

/// One column of a batch statement, a value per row: a native array on Postgres (read with
/// `unnest`), a JSON array on SQLite (read by position with `->>`), each element in the form its
/// column stores. A batch is then one statement on both databases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<T>(pub Vec<T>);

impl<T> Batch<T> {
    /// The column of `value` of every item.
    pub fn of<'a, I>(items: &'a [I], value: impl FnMut(&'a I) -> T) -> Self {
        Batch(items.iter().map(value).collect())
    }
}

impl From<Option<dealbridge_core::TenantId>> for Id {
    /// The `jobs.tenant_id` key: system jobs use the nil uuid.
    fn from(tenant: Option<dealbridge_core::TenantId>) -> Self {
        Id(dealbridge_storage::tenant_key(tenant))
    }
}

/// Implements sqlx's `Type`, `Encode` and `Decode` for a wrapper through a type the driver knows:
/// `$to` turns the wrapper into that type, `$from` parses it back.
macro_rules! column_via {
    ($wrapper:ty, $db:ty, $inner:ty, $to:expr, $from:expr) => {
        impl sqlx::Type<$db> for $wrapper {
            fn type_info() -> <$db as sqlx::Database>::TypeInfo {
                <$inner as sqlx::Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as sqlx::Database>::TypeInfo) -> bool {
                <$inner as sqlx::Type<$db>>::compatible(ty)
            }
        }
        impl<'q> sqlx::Encode<'q, $db> for $wrapper {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                let inner: $inner = ($to)(self);
                <$inner as sqlx::Encode<'q, $db>>::encode(inner, buf)
            }
        }
        impl<'r> sqlx::Decode<'r, $db> for $wrapper {
            fn decode(
                value: <$db as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let inner = <$inner as sqlx::Decode<'r, $db>>::decode(value)?;
                ($from)(inner)
            }
        }
    };
}
pub(crate) use column_via;

/// A day column (`budget_days`, `event_days`): ISO text, `YYYY-MM-DD`, on both backends, which
/// compares in the same order as the days.
pub(crate) fn iso_day(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// A day column's text back as a day; `None` when it is not one.
pub(crate) fn day_from_iso(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}
