//! CSV imports and their rows. An import is one uploaded file of one kind of record; each of its
//! rows is also the import's journal for that row: the intent recorded before a write to
//! Pipedrive and the Pipedrive id recorded after it, so a re-run never writes the same row twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::{TenantId, UserId};
use uuid::Uuid;

use crate::StoreResult;

/// Defines a string-backed enum with `ALL`, `as_str` and `parse` (the database stores the text).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

text_enum!(
    /// What the rows of an import become in Pipedrive.
    ImportKind { Persons => "persons", Organizations => "organizations", Deals => "deals" }
);

text_enum!(
    /// What a row whose record already exists (in Pipedrive or earlier in the file) does.
    DuplicatePolicy { Skip => "skip", Update => "update", Create => "create" }
);

text_enum!(
    /// Where an import is. `Uploaded` rows are stored; `Validated` has a mapping the dry run
    /// accepted; `Running` has chunk jobs queued; `Paused` and `Cancelled` stop them.
    ImportState {
        Uploaded => "uploaded",
        Validated => "validated",
        Running => "running",
        Paused => "paused",
        Cancelled => "cancelled",
        Done => "done",
    }
);

text_enum!(
    /// Where a row is: `Pending` until written (or given up), then one of the others.
    RowState { Pending => "pending", Done => "done", Failed => "failed", Skipped => "skipped" }
);

/// An import to create, in state `Uploaded` with no rows.
#[derive(Debug, Clone)]
pub struct NewImport {
    pub tenant_id: TenantId,
    pub id: Uuid,
    /// The user who uploaded it: the import writes to Pipedrive with their installation.
    pub user_id: UserId,
    pub kind: ImportKind,
    pub file_name: String,
    /// The file's header row, in column order.
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub user_id: UserId,
    pub kind: ImportKind,
    pub file_name: String,
    pub headers: Vec<String>,
    /// Column index (as text) → target field, as the user chose it; `{}` until then.
    pub mapping: serde_json::Value,
    pub policy: DuplicatePolicy,
    pub state: ImportState,
    pub total_rows: u64,
    pub done_rows: u64,
    pub failed_rows: u64,
    pub skipped_rows: u64,
    pub tokens_spent: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it first started running, and when it ended (done or cancelled).
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Import {
    /// Rows not finished yet.
    pub fn pending_rows(&self) -> u64 {
        self.total_rows
            .saturating_sub(self.done_rows + self.failed_rows + self.skipped_rows)
    }
}

/// One row to store: its number in the file (1 = the first row after the header) and its cells
/// in column order. Its key depends on the mapping, so it is set with the row's intent.
#[derive(Debug, Clone, PartialEq)]
pub struct NewImportRow {
    pub row_number: u64,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub import_id: Uuid,
    pub row_number: u64,
    /// What the row is found by, in the file and in Pipedrive (empty until its intent).
    pub row_key: String,
    pub values: Vec<String>,
    pub state: RowState,
    pub reason: Option<String>,
    /// What the row was about to write, recorded before the write (the journal's intent).
    pub intent: Option<serde_json::Value>,
    /// The Pipedrive id the row's write produced or found.
    pub pipedrive_id: Option<i64>,
}

/// How a row ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RowOutcome {
    pub state: RowState,
    pub reason: Option<String>,
    pub pipedrive_id: Option<i64>,
    /// Tokens the row's calls cost, added to the import's total.
    pub tokens: u64,
}

#[async_trait]
pub trait Imports: Send + Sync + 'static {
    async fn create_import(&self, new: &NewImport) -> StoreResult<Import>;

    async fn import(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<Option<Import>>;

    /// The tenant's newest imports first.
    async fn imports(&self, tenant_id: TenantId, limit: u32) -> StoreResult<Vec<Import>>;

    /// Adds rows (numbers chosen by the caller, unique per import) in one transaction and counts
    /// them into `total_rows`. `NotFound("import")` if the tenant has no such import.
    async fn add_import_rows(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        rows: &[NewImportRow],
    ) -> StoreResult<()>;

    /// Rows after `after_row`, in row order, at most `limit`; only those in `state` if given.
    async fn import_rows(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        state: Option<RowState>,
        after_row: u64,
        limit: u32,
    ) -> StoreResult<Vec<ImportRow>>;

    /// Saves the mapping and duplicate policy. `NotFound("import")` if there is no such import.
    async fn set_import_setup(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        mapping: &serde_json::Value,
        policy: DuplicatePolicy,
    ) -> StoreResult<()>;

    /// Moves the import to `to` if it is in one of `from`; false (nothing changed) otherwise.
    /// `Running` sets `started_at` the first time; `Done` and `Cancelled` set `finished_at`.
    async fn transition_import(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        from: &[ImportState],
        to: ImportState,
    ) -> StoreResult<bool>;

    /// Deletes the import with its rows (an upload that failed half-way). True if there was one.
    async fn delete_import(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<bool>;

    /// Records the row's key and its intent before its write. Only a pending row takes them
    /// (`NotFound` otherwise).
    async fn record_row_intent(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        row_number: u64,
        row_key: &str,
        intent: &serde_json::Value,
    ) -> StoreResult<()>;

    /// Ends a pending row and counts it into the import's counters and tokens, in one
    /// transaction. False (nothing changed) when the row was no longer pending: a second run of
    /// the same row never counts twice.
    async fn finish_import_row(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        row_number: u64,
        outcome: &RowOutcome,
    ) -> StoreResult<bool>;

    /// Records one intent for many pending rows in one statement, each row with its own key
    /// (`rows`: row number and key). Rows no longer pending (or of another tenant) are left
    /// alone; how many took it.
    async fn record_row_intents(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        rows: &[(u64, String)],
        intent: &serde_json::Value,
    ) -> StoreResult<u64>;

    /// Ends many pending rows (`rows`: row number and outcome) and counts them into the
    /// import's counters and tokens, in one transaction: one statement for the rows, one for the
    /// counters. Rows no longer pending change nothing and count nothing; how many ended.
    /// `Conflict` if an outcome is `Pending`.
    async fn finish_import_rows(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        rows: &[(u64, RowOutcome)],
    ) -> StoreResult<u64>;

    /// The first row before `before_row` with this key that has a Pipedrive id: the record an
    /// earlier row of the same file wrote or found (a duplicate inside the file).
    async fn earlier_row_with_key(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        row_key: &str,
        before_row: u64,
    ) -> StoreResult<Option<ImportRow>>;

    /// Which of `pipedrive_ids` rows of this import already hold (a recovered row must not
    /// adopt a record another row wrote).
    async fn claimed_pipedrive_ids(
        &self,
        tenant_id: TenantId,
        import_id: Uuid,
        pipedrive_ids: &[i64],
    ) -> StoreResult<Vec<i64>>;
}
