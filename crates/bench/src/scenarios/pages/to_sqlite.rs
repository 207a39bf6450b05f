//! `pages-sqlite`: the same data as `pages`, in the SQLite file the app runs on.
//!
//! The fill is written once, in `fill.rs`, as set-based statements that need Postgres
//! (`generate_series`, a seeded `random()`, `jsonb`). For SQLite it runs in a scratch Postgres
//! database migrated like the app's, and every filled table is then copied row by row into the
//! app's SQLite file, each value in the form the app's SQLite store writes it: a uuid as text, a
//! time as sqlx writes a `DateTime<Utc>` (or as milliseconds where the SQLite column is an
//! integer, as the queue's times are), JSON as text and scopes comma-separated. Rows the app has
//! already written (the busy tenant's own install) are kept, as the Postgres fill's
//! `on conflict do nothing` keeps them.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use dealbridge_core::tenant::Tenant;
use futures::TryStreamExt;
use sqlx::{Connection, Executor, PgConnection, Row, SqliteConnection};

use super::fill::{self, Filled};
use super::Size;

/// The tables `fill` writes, parents first.
const TABLES: [&str; 10] = [
    "tenants",
    "installations",
    "pipedrive_webhooks",
    "provisioned_fields",
    "budget_companies",
    "budget_figures",
    "budget_days",
    "audit_log",
    "jobs",
    "inbox_events",
];

/// Rows per insert statement: well under SQLite's 32,766 bound values at the widest table.
const ROWS_PER_INSERT: usize = 500;

/// One value on its way from Postgres to SQLite.
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Time(DateTime<Utc>),
}

/// How a column is read from Postgres and written to SQLite.
struct Column {
    name: String,
    /// The `select` expression on Postgres.
    read: String,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Real,
    Bool,
    Text,
    Bytes,
    Time,
}

/// Fills `scratch_url` (an empty Postgres database) around `busy`, then copies what it holds into
/// the SQLite database at `sqlite_url`, which the app has migrated and installed `busy` in.
pub async fn fill(
    scratch_url: &str,
    sqlite_url: &str,
    busy: &Tenant,
    size: Size,
) -> anyhow::Result<Filled> {
    let started = Instant::now();
    let schema = dealbridge_storage_sql::PgStore::connect(scratch_url, 1).await?;
    dealbridge_storage::Maintenance::migrate(&schema)
        .await
        .context("migrating the scratch database")?;
    drop(schema);
    let mut pg = PgConnection::connect(scratch_url).await?;
    // The fill reads the busy tenant from `tenants`; its other rows stay in the app's file.
    sqlx::query(
        "insert into tenants (id, company_id, company_name, company_domain, status, created_at,
             updated_at)
         values ($1, $2, $3, $4, 'active', $5, $5)",
    )
    .bind(busy.id.as_uuid())
    .bind(busy.company_id.get())
    .bind(&busy.company_name)
    .bind(&busy.company_domain)
    .bind(busy.created_at)
    .execute(&mut pg)
    .await?;
    let generated = fill::fill(scratch_url, busy.id, size.tenants, size.jobs, size.events).await?;

    let mut lite = SqliteConnection::connect(sqlite_url).await?;
    for table in TABLES {
        copy_table(&mut pg, &mut lite, table)
            .await
            .with_context(|| format!("copying {table}"))?;
    }
    let fill_time = started.elapsed();
    pg.close().await?;
    let mut filled = count(&mut lite, busy).await?;
    lite.close().await?;
    filled.fill_time = fill_time;
    // Nothing is vacuumed or analysed: the app leaves a SQLite file as it is.
    filled.vacuum_time = std::time::Duration::ZERO;
    anyhow::ensure!(
        filled.events == generated.events,
        "{} events filled, {} copied",
        generated.events,
        filled.events
    );
    Ok(filled)
}

/// The columns of `table` as SQLite declares them, each with how Postgres spells it.
async fn columns(
    pg: &mut PgConnection,
    lite: &mut SqliteConnection,
    table: &str,
) -> anyhow::Result<Vec<Column>> {
    let declared: Vec<(String, String)> =
        sqlx::query_as("select name, upper(type) from pragma_table_info(?) order by cid")
            .bind(table)
            .fetch_all(&mut *lite)
            .await?;
    let pg_types: std::collections::HashMap<String, String> = sqlx::query_as(
        "select column_name::text, data_type::text from information_schema.columns
         where table_schema = current_schema() and table_name = $1",
    )
    .bind(table)
    .fetch_all(&mut *pg)
    .await?
    .into_iter()
    .collect();
    let mut out = Vec::with_capacity(declared.len());
    for (name, lite_type) in declared {
        let pg_type = pg_types
            .get(&name)
            .with_context(|| format!("Postgres has no column {table}.{name}"))?;
        let quoted = format!("\"{name}\"");
        let (read, kind) = match pg_type.as_str() {
            "uuid" | "jsonb" | "json" | "date" => (format!("{quoted}::text"), Kind::Text),
            "ARRAY" => (format!("array_to_string({quoted}, ',')"), Kind::Text),
            "timestamp with time zone" if lite_type.contains("INT") => (
                format!("floor(extract(epoch from {quoted}) * 1000)::bigint"),
                Kind::Int,
            ),
            "timestamp with time zone" => (quoted, Kind::Time),
            "bigint" | "integer" | "smallint" => (format!("{quoted}::bigint"), Kind::Int),
            "double precision" | "real" | "numeric" => {
                (format!("{quoted}::double precision"), Kind::Real)
            }
            "boolean" => (quoted, Kind::Bool),
            "bytea" => (quoted, Kind::Bytes),
            "text" | "character varying" => (quoted, Kind::Text),
            other => anyhow::bail!("no copy for {table}.{name} of type {other}"),
        };
        out.push(Column { name, read, kind });
    }
    Ok(out)
}

fn cell(row: &sqlx::postgres::PgRow, i: usize, kind: Kind) -> Result<Cell, sqlx::Error> {
    fn or_null<T>(value: Option<T>, cell: impl FnOnce(T) -> Cell) -> Cell {
        value.map_or(Cell::Null, cell)
    }
    Ok(match kind {
        Kind::Int => or_null(row.try_get(i)?, Cell::Int),
        Kind::Real => or_null(row.try_get(i)?, Cell::Real),
        Kind::Bool => or_null(row.try_get(i)?, Cell::Bool),
        Kind::Text => or_null(row.try_get(i)?, Cell::Text),
        Kind::Bytes => or_null(row.try_get(i)?, Cell::Bytes),
        Kind::Time => or_null(row.try_get(i)?, Cell::Time),
    })
}

/// Streams `table` out of Postgres into SQLite in one transaction, `ROWS_PER_INSERT` rows a
/// statement; a row whose key SQLite already holds is kept as it is.
async fn copy_table(
    pg: &mut PgConnection,
    lite: &mut SqliteConnection,
    table: &str,
) -> anyhow::Result<()> {
    let columns = columns(pg, lite, table).await?;
    let reads: Vec<&str> = columns.iter().map(|c| c.read.as_str()).collect();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let select = format!("select {} from {table}", reads.join(", "));
    let one_row = format!("({})", vec!["?"; columns.len()].join(", "));
    let insert = |rows: usize| {
        format!(
            "insert or ignore into {table} ({}) values {}",
            names.join(", "),
            vec![one_row.as_str(); rows].join(", ")
        )
    };
    let full_insert = insert(ROWS_PER_INSERT);
    let mut tx = lite.begin().await?;
    let mut rows = pg.fetch(select.as_str());
    let mut pending: Vec<Cell> = Vec::with_capacity(ROWS_PER_INSERT * columns.len());
    while let Some(row) = rows.try_next().await? {
        for (i, column) in columns.iter().enumerate() {
            pending.push(cell(&row, i, column.kind)?);
        }
        if pending.len() == ROWS_PER_INSERT * columns.len() {
            write(&mut tx, &full_insert, std::mem::take(&mut pending)).await?;
        }
    }
    if !pending.is_empty() {
        let statement = insert(pending.len() / columns.len());
        write(&mut tx, &statement, pending).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn write(
    conn: &mut SqliteConnection,
    statement: &str,
    cells: Vec<Cell>,
) -> anyhow::Result<()> {
    let mut query = sqlx::query(statement);
    for cell in cells {
        query = match cell {
            Cell::Null => query.bind(None::<i64>),
            Cell::Int(n) => query.bind(n),
            Cell::Real(x) => query.bind(x),
            Cell::Bool(b) => query.bind(b),
            Cell::Text(s) => query.bind(s),
            Cell::Bytes(b) => query.bind(b),
            Cell::Time(t) => query.bind(t),
        };
    }
    query.execute(conn).await?;
    Ok(())
}

/// What the app's SQLite file holds, counted as `fill::count` counts Postgres.
async fn count(conn: &mut SqliteConnection, busy: &Tenant) -> anyhow::Result<Filled> {
    let counts: fill::Counts = sqlx::query_as(fill::COUNTS)
        .bind(busy.id.as_uuid().to_string())
        .fetch_one(conn)
        .await?;
    Ok(counts.into())
}
