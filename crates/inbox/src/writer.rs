//! Group commit: requests hand their inbox entry to a few flusher tasks, which gather what arrives
//! within a short window and record it in one transaction. Each request is answered only after
//! the transaction holding its row has committed, so an acknowledgement still means "durable";
//! what is saved is the commit (and its fsync) per request.

use std::sync::Arc;
use std::time::Duration;

use dealbridge_storage::{InboxEntry, Recorded, Store, StoreError};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// How long a flusher waits for more entries after the first one of a batch.
    pub window: Duration,
    /// The most entries in one transaction.
    pub max_batch: usize,
    /// Flushers running at once: while one commits, the next gathers.
    pub flushers: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(2),
            max_batch: 256,
            flushers: 2,
        }
    }
}

/// Why an entry was not recorded. Either way nothing was acknowledged for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the inbox could not be written")]
    Store(#[source] Arc<StoreError>),
    #[error("the inbox writer has stopped")]
    Stopped,
}

struct Pending {
    entry: InboxEntry,
    done: oneshot::Sender<Result<Recorded, WriteError>>,
}

/// A handle on the flushers; cheap to clone. The flushers stop when every handle is dropped.
#[derive(Clone)]
pub struct InboxWriter {
    queue: mpsc::Sender<Pending>,
}

impl InboxWriter {
    /// Starts the flushers on the current tokio runtime.
    pub fn spawn(store: Arc<dyn Store>, config: WriterConfig) -> Self {
        let (queue, incoming) = mpsc::channel(config.max_batch.max(1) * 4);
        let incoming = Arc::new(Mutex::new(incoming));
        for _ in 0..config.flushers.max(1) {
            tokio::spawn(flush_loop(store.clone(), incoming.clone(), config));
        }
        Self { queue }
    }

    /// Records the entry (and queues its job) in the next batch; returns once it is committed.
    pub async fn record(&self, entry: InboxEntry) -> Result<Recorded, WriteError> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Pending { entry, done })
            .await
            .map_err(|_| WriteError::Stopped)?;
        outcome.await.map_err(|_| WriteError::Stopped)?
    }
}

async fn flush_loop(
    store: Arc<dyn Store>,
    incoming: Arc<Mutex<mpsc::Receiver<Pending>>>,
    config: WriterConfig,
) {
    loop {
        let batch = {
            let mut incoming = incoming.lock().await;
            let Some(first) = incoming.recv().await else {
                return;
            };
            let mut batch = vec![first];
            let deadline = Instant::now() + config.window;
            while batch.len() < config.max_batch {
                match tokio::time::timeout_at(deadline, incoming.recv()).await {
                    Ok(Some(next)) => batch.push(next),
                    Ok(None) | Err(_) => break,
                }
            }
            batch
        };
        flush(store.as_ref(), batch).await;
    }
}

async fn flush(store: &dyn Store, batch: Vec<Pending>) {
    let entries: Vec<InboxEntry> = batch.iter().map(|p| p.entry.clone()).collect();
    match store.record_events(&entries).await {
        Ok(recorded) => {
            for (pending, outcome) in batch.into_iter().zip(recorded) {
                // The requester may have given up; its row is recorded all the same.
                let _ = pending.done.send(Ok(outcome));
            }
        }
        // One entry the database refuses (its tenant was purged meanwhile) must not fail the
        // others: record them one by one. An unreachable database fails them all at once.
        Err(err) if batch.len() > 1 && !matches!(err, StoreError::Backend(_)) => {
            for pending in batch {
                let outcome = store
                    .record_event(&pending.entry)
                    .await
                    .map_err(|e| WriteError::Store(Arc::new(e)));
                let _ = pending.done.send(outcome);
            }
        }
        Err(err) => {
            tracing::warn!(error.cause = %err, entries = batch.len(), "inbox batch not recorded");
            let err = Arc::new(err);
            for pending in batch {
                let _ = pending.done.send(Err(WriteError::Store(err.clone())));
            }
        }
    }
}
