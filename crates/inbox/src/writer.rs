//! Group commit: requests hand their inbox entry to a few flusher tasks, which gather what arrives
//! within a short window and record it in one transaction. Each request is answered only after
//! the transaction holding its row has committed, so an acknowledgement still means "durable";
//! what is saved is the commit (and its fsync) per request.

use std::sync::Arc;
use std::time::Duration;

use dealbridge_storage::{
    Guarded, GuardedEntry, InboxEntry, Recorded, RegistrationGuard, Store, StoreError,
};
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
            flushers: 3,
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
    /// The entry's guard no longer matches the stored registration: nothing was written.
    #[error("the webhook registration changed since the delivery was verified")]
    RegistrationChanged,
}

struct Pending {
    entry: GuardedEntry,
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
        self.record_guarded(entry, None).await
    }

    /// `record`, if the registration the delivery was verified against is still the stored one
    /// when the batch commits; `WriteError::RegistrationChanged` otherwise.
    pub async fn record_guarded(
        &self,
        entry: InboxEntry,
        guard: Option<RegistrationGuard>,
    ) -> Result<Recorded, WriteError> {
        let (done, outcome) = oneshot::channel();
        let entry = GuardedEntry { entry, guard };
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

fn answer(outcome: Guarded) -> Result<Recorded, WriteError> {
    match outcome {
        Guarded::Recorded(recorded) => Ok(recorded),
        Guarded::RegistrationChanged => Err(WriteError::RegistrationChanged),
    }
}

fn no_outcome() -> WriteError {
    let missing = StoreError::Corrupt("the store gave no outcome for an entry".into());
    WriteError::Store(Arc::new(missing))
}

async fn flush(store: &dyn Store, batch: Vec<Pending>) {
    // The entries move into the batch (no copy of their payloads); the answers wait beside it.
    let (entries, answers): (Vec<GuardedEntry>, Vec<_>) =
        batch.into_iter().map(|p| (p.entry, p.done)).unzip();
    match store.record_guarded(&entries).await {
        Ok(recorded) => {
            for (done, outcome) in answers.into_iter().zip(recorded) {
                // The requester may have given up; its row is recorded all the same.
                let _ = done.send(answer(outcome));
            }
        }
        // One entry the database refuses (its tenant was purged meanwhile) must not fail the
        // others: record them one by one. An unreachable database fails them all at once.
        Err(err) if entries.len() > 1 && !matches!(err, StoreError::Backend(_)) => {
            for (entry, done) in entries.iter().zip(answers) {
                let outcome = match store.record_guarded(std::slice::from_ref(entry)).await {
                    Ok(outcomes) => outcomes
                        .into_iter()
                        .next()
                        .map_or_else(|| Err(no_outcome()), answer),
                    Err(e) => Err(WriteError::Store(Arc::new(e))),
                };
                let _ = done.send(outcome);
            }
        }
        Err(err) => {
            tracing::warn!(error.cause = %err, entries = entries.len(), "inbox batch not recorded");
            let err = Arc::new(err);
            for done in answers {
                let _ = done.send(Err(WriteError::Store(err.clone())));
            }
        }
    }
}
