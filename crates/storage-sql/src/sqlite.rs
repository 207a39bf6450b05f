//! SQLite: the embedded default, for one app instance. One writer at a time makes every statement
//! atomic, so nothing here needs row locks.

mod queue;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dealbridge_storage::{StoreError, StoreResult};
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteConnectOptions, SqliteJournalMode};
use sqlx::sqlite::{SqlitePoolOptions, SqliteSynchronous, SqliteTypeInfo};
use sqlx::Encode;
use sqlx::Pool;
use sqlx::Sqlite;
use uuid::Uuid;

use crate::backend::{sqlx_execution, Backend, Query};
use crate::statement::unique_constraint;
use crate::values::{column_via, Batch, Id, QueueTime, Scopes};
use crate::SqlStore;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The SQLite store.
pub type SqliteStore = SqlStore<Sqlite>;

column_via!(
    Id,
    Sqlite,
    String,
    |id: &Id| id.0.to_string(),
    |text: String| { Uuid::parse_str(&text).map(Id).map_err(Into::into) }
);
column_via!(
    Scopes,
    Sqlite,
    String,
    |s: &Scopes| s.0.join(","),
    |text: String| { Ok(Scopes(dealbridge_core::installation::parse_scopes(&text))) }
);
column_via!(
    QueueTime,
    Sqlite,
    i64,
    |t: &QueueTime| t.0.timestamp_millis(),
    |ms| {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .map(QueueTime)
            .ok_or_else(|| format!("job time {ms} out of range").into())
    }
);

/// A batch column is bound as the text of a JSON array of what SQLite stores for each value, by
/// the value's own encoding (uuids as text, queue times as milliseconds, JSON as its text).
impl<T> sqlx::Type<Sqlite> for Batch<T> {
    fn type_info() -> SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }
}

impl<'q, T: Encode<'q, Sqlite>> Encode<'q, Sqlite> for Batch<T> {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        let elements = self.0.iter().map(stored).collect::<Result<_, _>>()?;
        Encode::<Sqlite>::encode(Value::Array(elements).to_string(), buf)
    }
}

/// The JSON form of what SQLite stores for `value`.
fn stored<'q>(value: &impl Encode<'q, Sqlite>) -> Result<Value, BoxDynError> {
    let mut stored = Vec::new();
    if value.encode_by_ref(&mut stored)?.is_null() {
        return Ok(Value::Null);
    }
    match stored.pop() {
        Some(SqliteArgumentValue::Text(text)) => Ok(text.into()),
        Some(SqliteArgumentValue::Int(n)) => Ok(n.into()),
        Some(SqliteArgumentValue::Int64(n)) => Ok(n.into()),
        other => Err(format!("{other:?} cannot be a batch element").into()),
    }
}

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database at `url`, e.g. `sqlite://data/dealbridge.db`.
    /// Does not migrate; call `Maintenance::migrate`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Concurrent writers queue instead of failing.
            .busy_timeout(Duration::from_secs(10));
        create_private(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(StoreError::backend)?;
        Ok(Self { pool })
    }
}

/// Creates the database's folder (owner only) and file (owner read/write) when missing: it holds
/// sealed tokens, audit entries and staff password hashes, none of which other local users may
/// read. SQLite gives the WAL and shared-memory files the database file's permissions.
fn create_private(path: &std::path::Path) -> StoreResult<()> {
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(parent).map_err(StoreError::backend)?;
    }
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    let file = file.open(path).map_err(StoreError::backend)?;
    // A database created by an older release (world-readable) is narrowed too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = file.metadata().map_err(StoreError::backend)?;
        if metadata.permissions().mode() & 0o077 != 0 {
            let private = std::fs::Permissions::from_mode(0o600);
            file.set_permissions(private).map_err(StoreError::backend)?;
        }
    }
    Ok(())
}

impl Backend for Sqlite {
    const BACKEND_NAME: &'static str = "sqlite";
    const GREATEST: &'static str = "max";
    const LEAST: &'static str = "min";
    const SKIP_LOCKED: &'static str = "";
    const JSON_ELEMENTS: &'static str = "json_each";
    const ARRIVING_EVENTS: &'static str = "(select t.value as tenant_id, $2 ->> t.key as id,
            $3 ->> t.key as source, $4 ->> t.key as kind, $5 ->> t.key as dedupe_key,
            $6 ->> t.key as entity_key, $7 ->> t.key as occurred_at, $8 ->> t.key as payload,
            t.key as n
        from json_each($1) t) as a";
    const BEGIN_WRITE: &'static str = "begin immediate";
    const READY_QUEUES: &'static str = queue::READY_QUEUES;
    const HAS_MIGRATIONS_TABLE: &'static str = "select count(*) as n from sqlite_master
        where type = 'table' and name = '_sqlx_migrations'";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn migrate(pool: &Pool<Self>) -> BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>> {
        Box::pin(MIGRATOR.run(pool))
    }

    sqlx_execution!();

    /// SQLite names no constraint, only its columns: "UNIQUE constraint failed: t.a, t.b".
    fn unique_constraint(err: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
        let failed = err.message().strip_prefix("UNIQUE constraint failed: ")?;
        let columns: Vec<_> = failed
            .split(", ")
            .filter_map(|c| c.split_once('.'))
            .collect();
        let names: Vec<_> = columns.iter().map(|(_, column)| *column).collect();
        let on = format!("{} ({})", columns.first()?.0, names.join(", "));
        unique_constraint(|_, columns| columns == on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite names no constraint; its column list must lead to the name the migrations give.
    #[tokio::test]
    async fn unique_violations_are_named_like_on_postgres() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = SqliteStore::connect(&url, 1).await.expect("store");
        dealbridge_storage::Maintenance::migrate(&store)
            .await
            .expect("migrate");
        let insert = "insert into staff_accounts (email, password_hash, created_at)
            values ('ada@dealbridge.test', 'x', '2026-01-01T00:00:00Z')";
        store.execute(insert, ()).await.expect("first insert");
        match store.execute(insert, ()).await {
            Err(StoreError::StaffEmailTaken) => {}
            other => panic!("expected StaffEmailTaken, got {other:?}"),
        }
        let sqlx::Error::Database(err) = sqlx::query(insert)
            .execute(store.pool())
            .await
            .expect_err("duplicate")
        else {
            panic!("not a database error");
        };
        assert_eq!(
            Sqlite::unique_constraint(err.as_ref()),
            Some("staff_accounts_email_key")
        );
    }
}
