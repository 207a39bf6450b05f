//! CSV imports for the dashboard: the upload streamed to a temporary file and from there into the
//! store, the tenant's fields for the mapping (custom ones read through the budgeted client), the
//! estimate from the company's budget, and the import's controls. Every read and change is
//! scoped to the signed-in tenant.

use std::io::Write;

use super::pipedrive_access::workflows;
use actix_multipart::Multipart;
use chrono::Utc;
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::TenantId;
use dealbridge_import::control::{self, ControlError};
use dealbridge_import::{
    estimate, ingest_file, likely_row_cost, row_cost, target_fields, CustomField, Estimate,
    FileError, IngestError, Mapping, MirrorAnswers, Pace, TargetField, Upload,
};
use dealbridge_pipedrive::ledger::LedgerConfig;
use dealbridge_pipedrive::Lane;
use dealbridge_storage::{Import, ImportKind};
use futures::TryStreamExt;
use uuid::Uuid;

use crate::session::{check_csrf, DashboardUser};
use crate::{AppError, AppState};

/// The largest file accepted: 50 MB (well over 100,000 rows of contacts). Bounded while streaming
/// for this route only; other routes keep their own limits.
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

impl From<ControlError> for AppError {
    fn from(err: ControlError) -> Self {
        match err {
            ControlError::Mapping(err) => Self::BadRequest(err.to_string()),
            ControlError::WrongState(_) => Self::BadRequest(err.to_string()),
            ControlError::NotFound => Self::NotFound,
            ControlError::Store(err) => err.into(),
        }
    }
}

fn file_error(err: IngestError) -> AppError {
    match err {
        IngestError::File(FileError::Io(io)) => AppError::Internal(anyhow::Error::new(io)),
        IngestError::File(file) => AppError::BadRequest(file.to_string()),
        IngestError::Store(err) => err.into(),
        IngestError::ReaderGone => AppError::Internal(anyhow::anyhow!("the CSV reader stopped")),
    }
}

fn bad(message: &str) -> AppError {
    AppError::BadRequest(message.to_owned())
}

/// The form's text field, bounded (a CSRF token or a kind is short).
async fn text_field(field: &mut actix_multipart::Field) -> Result<String, AppError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .try_next()
        .await
        .map_err(|_| bad("The upload was cut off."))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > 1024 {
            return Err(bad("A form field is too long."));
        }
    }
    String::from_utf8(bytes).map_err(|_| bad("A form field is not text."))
}

/// Reads the upload form: `csrf` and `kind` must come before `file` (the browser sends fields in
/// form order), so the token is checked before a byte of the file is stored. The file goes to a
/// temporary file, never whole into memory.
pub async fn upload(
    state: &AppState,
    user: &DashboardUser,
    session: &actix_session::Session,
    mut form: Multipart,
) -> Result<Import, AppError> {
    let (mut csrf_ok, mut kind) = (false, None);
    while let Some(mut field) = form
        .try_next()
        .await
        .map_err(|_| bad("The upload was cut off."))?
    {
        match field.name().unwrap_or_default() {
            "csrf" => {
                check_csrf(session, &text_field(&mut field).await?)?;
                csrf_ok = true;
            }
            "kind" => kind = ImportKind::parse(&text_field(&mut field).await?),
            "file" if csrf_ok => {
                let kind = kind.ok_or_else(|| bad("Choose what the file holds."))?;
                let file_name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or("upload.csv")
                    .chars()
                    .take(200)
                    .collect::<String>();
                let temp = spool(&mut field).await?;
                let upload = Upload {
                    tenant_id: user.tenant_id,
                    user_id: user.user_id,
                    kind,
                    file_name,
                };
                let path = temp.path().to_owned();
                let import = ingest_file(state.store.clone(), upload, path)
                    .await
                    .map_err(file_error)?;
                drop(temp);
                return Ok(import);
            }
            "file" => {
                return Err(AppError::Forbidden(
                    "the form expired; reload the page and try again",
                ))
            }
            _ => {}
        }
    }
    Err(bad("Choose a CSV file to upload."))
}

/// The file field into a temporary file, refused past `MAX_UPLOAD_BYTES`.
async fn spool(field: &mut actix_multipart::Field) -> Result<tempfile::NamedTempFile, AppError> {
    let internal = |e: std::io::Error| AppError::Internal(anyhow::Error::new(e));
    let mut temp = tempfile::NamedTempFile::new().map_err(internal)?;
    let mut written: u64 = 0;
    while let Some(chunk) = field
        .try_next()
        .await
        .map_err(|_| bad("The upload was cut off."))?
    {
        written += chunk.len() as u64;
        if written > MAX_UPLOAD_BYTES {
            return Err(AppError::PayloadTooLarge(format!(
                "The file is larger than {} MB.",
                MAX_UPLOAD_BYTES / (1024 * 1024)
            )));
        }
        temp.write_all(&chunk).map_err(internal)?;
    }
    temp.flush().map_err(internal)?;
    Ok(temp)
}

/// The fields of the import's kind, custom ones read from Pipedrive with the user's installation.
/// When Pipedrive cannot be asked now, the standard fields alone, and a note saying so.
pub async fn fields(
    state: &AppState,
    user: &DashboardUser,
    kind: ImportKind,
) -> (Vec<TargetField>, Option<String>) {
    let custom: Result<Vec<CustomField>, String> = async {
        let client = workflows(state)
            .company_client(user.tenant_id, user.user_id, Lane::Interactive)
            .await
            .map_err(|e| e.to_string())?;
        dealbridge_import::custom_fields(&client, kind)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match custom {
        Ok(custom) => (target_fields(kind, &custom), None),
        Err(err) => {
            tracing::warn!(tenant.id = %user.tenant_id, error.cause = %err, "custom fields unavailable");
            let note = "Custom fields could not be read from Pipedrive just now; only standard fields are offered.";
            (target_fields(kind, &[]), Some(note.to_owned()))
        }
    }
}

/// The import's estimates from the company's budget today: at most, and (when the tenant's mirror
/// answers some of its lookups, so fewer searches are likely) the likely one; or why there is none.
pub async fn estimate_for(
    state: &AppState,
    user: &DashboardUser,
    import: &Import,
) -> Result<(Estimate, Option<Estimate>), String> {
    let company =
        u64::try_from(user.tenant.company_id.get()).map_err(|_| "bad company id".to_owned())?;
    let status = state
        .pipedrive
        .ledger()
        .status(dealbridge_pipedrive::CompanyId(company))
        .await
        .map_err(|_| "The company's budget cannot be read right now.".to_owned())?;
    let mapping = Mapping::from_json(&import.mapping);
    let cost = row_cost(import.kind, import.policy, &mapping);
    let pace = Pace::new(status, &LedgerConfig::default());
    let (rows, now) = (import.pending_rows(), Utc::now());
    let most = estimate(rows, cost, &pace, now).map_err(|e| e.to_string())?;
    // The lookups the mirror answers need no search; without its coverage, assume none does.
    let coverage = state.store.mirror_coverage(user.tenant.id).await.ok();
    let complete = |entity| {
        let coverage = coverage.as_ref().and_then(Option::as_ref);
        dealbridge_workflows::mirror_complete(coverage, entity, now)
    };
    let mirror = MirrorAnswers {
        persons: complete(PipedriveEntity::Person),
        organizations: complete(PipedriveEntity::Organization),
        deals: complete(PipedriveEntity::Deal),
    };
    let likely = likely_row_cost(import.kind, import.policy, &mapping, mirror);
    if likely == cost {
        return Ok((most, None));
    }
    let likely = estimate(rows, likely, &pace, now).map_err(|e| e.to_string())?;
    Ok((most, Some(likely)))
}

pub async fn load(state: &AppState, tenant_id: TenantId, id: &str) -> Result<Import, AppError> {
    let id = Uuid::parse_str(id).map_err(|_| AppError::NotFound)?;
    Ok(control::load(state.store.as_ref(), tenant_id, id).await?)
}
