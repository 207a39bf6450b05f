//! An uploaded file into the store: read on a blocking thread a batch at a time, each batch
//! written in one transaction while the next is read. A file that turns out malformed part-way
//! deletes what was written: there is never a half import.

use std::path::PathBuf;
use std::sync::Arc;

use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{Import, ImportKind, NewImport, NewImportRow, Store, StoreError};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::reader::{CsvFile, FileError};

/// Rows per store transaction.
pub const INGEST_BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("the import could not be stored")]
    Store(#[from] StoreError),
    #[error("the file reader stopped unexpectedly")]
    ReaderGone,
}

/// What the reader thread sends: the header first, then batches, then `End` or an error. A
/// channel that closes without `End` (the thread panicked) is an error, never a short import.
enum Read {
    Headers(Vec<String>),
    Rows(Vec<NewImportRow>),
    End,
}

/// Who uploads what.
#[derive(Debug, Clone)]
pub struct Upload {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub kind: ImportKind,
    pub file_name: String,
}

/// Reads the CSV file at `path` into a new import in state `uploaded`. At most two batches are
/// in memory at once (one being read, one being written).
pub async fn ingest_file(
    store: Arc<dyn Store>,
    upload: Upload,
    path: PathBuf,
) -> Result<Import, IngestError> {
    let (send, mut receive) = mpsc::channel::<Result<Read, FileError>>(1);
    let reader = tokio::task::spawn_blocking(move || read_file(&path, &send));
    let id = Uuid::now_v7();
    let outcome = write_rows(store.as_ref(), &upload, id, &mut receive).await;
    drop(receive);
    // The reader ends by itself once the channel is closed.
    let _ = reader.await;
    match outcome {
        Ok(()) => store
            .import(upload.tenant_id, id)
            .await?
            .ok_or(IngestError::Store(StoreError::NotFound("import"))),
        Err(err) => {
            if let Err(cleanup) = store.delete_import(upload.tenant_id, id).await {
                tracing::error!(error = %cleanup, "a failed upload's rows could not be deleted");
            }
            Err(err)
        }
    }
}

fn read_file(path: &std::path::Path, send: &mpsc::Sender<Result<Read, FileError>>) {
    let mut file = match CsvFile::open(path) {
        Ok(file) => file,
        Err(err) => {
            let _ = send.blocking_send(Err(err));
            return;
        }
    };
    if send
        .blocking_send(Ok(Read::Headers(file.headers().to_vec())))
        .is_err()
    {
        return;
    }
    loop {
        let batch = match file.next_batch(INGEST_BATCH) {
            Ok(batch) if batch.is_empty() => {
                let _ = send.blocking_send(Ok(Read::End));
                return;
            }
            Ok(batch) => Ok(Read::Rows(batch)),
            Err(err) => Err(err),
        };
        let failed = batch.is_err();
        if send.blocking_send(batch).is_err() || failed {
            return;
        }
    }
}

async fn write_rows(
    store: &dyn Store,
    upload: &Upload,
    id: Uuid,
    receive: &mut mpsc::Receiver<Result<Read, FileError>>,
) -> Result<(), IngestError> {
    let Some(first) = receive.recv().await else {
        return Err(IngestError::ReaderGone);
    };
    let Read::Headers(headers) = first? else {
        return Err(IngestError::ReaderGone);
    };
    store
        .create_import(&NewImport {
            tenant_id: upload.tenant_id,
            id,
            user_id: upload.user_id,
            kind: upload.kind,
            file_name: upload.file_name.clone(),
            headers,
        })
        .await?;
    while let Some(read) = receive.recv().await {
        match read? {
            Read::Rows(rows) => store.add_import_rows(upload.tenant_id, id, &rows).await?,
            Read::End => return Ok(()),
            Read::Headers(_) => break,
        }
    }
    Err(IngestError::ReaderGone)
}
