//! The downloadable file of an import's failed rows: the original columns, the row number and
//! the reason. Cells a spreadsheet would run as a formula are escaped.

use std::sync::Arc;

use dealbridge_core::TenantId;
use dealbridge_storage::{Import, RowState, Store, StoreError};

/// Rows read from the store at a time while writing the file.
const PAGE: u32 = 1_000;

/// A cell a spreadsheet opens as text: one starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return (what spreadsheets treat as the start of a formula) gets a leading apostrophe (OWASP's
/// advice against CSV injection). The quoting itself is the CSV writer's.
pub fn escape_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the failed rows could not be read")]
    Store(#[from] StoreError),
    #[error("the file could not be written")]
    Csv(#[from] csv::Error),
}

/// Writes the header (`row`, the file's columns, `reason`) and every failed row into `out`, a
/// page of rows at a time.
pub async fn write_failed_rows<W: std::io::Write>(
    store: Arc<dyn Store>,
    tenant_id: TenantId,
    import: &Import,
    out: W,
) -> Result<W, ExportError> {
    let mut writer = csv::Writer::from_writer(out);
    let mut header = vec!["row".to_owned()];
    header.extend(
        import
            .headers
            .iter()
            .map(|h| escape_formula(h).into_owned()),
    );
    header.push("reason".to_owned());
    writer.write_record(&header)?;
    let mut after = 0;
    loop {
        let rows = store
            .import_rows(tenant_id, import.id, Some(RowState::Failed), after, PAGE)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.row_number;
        for row in &rows {
            let mut record = vec![row.row_number.to_string()];
            record.extend(row.values.iter().map(|v| escape_formula(v).into_owned()));
            record.push(escape_formula(row.reason.as_deref().unwrap_or_default()).into_owned());
            writer.write_record(&record)?;
        }
    }
    writer
        .into_inner()
        .map_err(|e| ExportError::Csv(csv::Error::from(e.into_error())))
}

#[cfg(test)]
mod tests {
    use super::escape_formula;

    #[test]
    fn formula_starts_are_escaped_and_nothing_else() {
        for cell in [
            "=1+1",
            "+33 1 23",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "=HYPERLINK(\"http://x\")",
        ] {
            assert_eq!(escape_formula(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["Ada", "", "1=1", " =1", "ada@example.com", "'quoted"] {
            assert_eq!(escape_formula(cell), cell, "{cell:?}");
        }
    }
}
