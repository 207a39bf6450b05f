//! Which job kinds a worker runs, how each retries, and which run periodically.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dealbridge_core::TenantId;
use dealbridge_storage::{Job, Lane, NewJob};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Backoff, JobError};

/// What a handler gets: the claimed row (its attempt already counted).
#[derive(Debug, Clone)]
pub struct JobContext {
    pub job: Job,
}

impl JobContext {
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.job.tenant_id
    }

    /// The payload as `T`; a payload that does not parse will never parse, so that is permanent.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.job.payload.clone()).map_err(|source| {
            JobError::permanent(PayloadError {
                kind: self.job.kind.clone(),
                source,
            })
        })
    }
}

/// A job's payload is not what its kind expects.
#[derive(Debug, thiserror::Error)]
#[error("payload of {kind} does not parse")]
pub struct PayloadError {
    kind: String,
    #[source]
    source: serde_json::Error,
}

/// Runs one kind of job. Handlers must be idempotent: after a crash, or a lease lost to a stall,
/// a job runs again, and only the effect of one run may count.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn run(&self, ctx: JobContext) -> Result<(), JobError>;
}

#[async_trait]
impl<F, Fut> Handler for F
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        self(ctx).await
    }
}

/// A typed job: the payload type names its kind, lane and attempt limit, so enqueue sites cannot
/// disagree with the handler about them.
pub trait JobKind: Serialize {
    const KIND: &'static str;
    const LANE: Lane = Lane::Default;
    const MAX_ATTEMPTS: u32 = 10;

    fn to_job(&self, tenant_id: Option<TenantId>) -> Result<NewJob, serde_json::Error> {
        let mut job = NewJob::new(Self::KIND, serde_json::to_value(self)?)
            .lane(Self::LANE)
            .max_attempts(Self::MAX_ATTEMPTS);
        job.tenant_id = tenant_id;
        Ok(job)
    }
}

/// A system job enqueued on a fixed interval by whichever worker ticks first; the unique key
/// `periodic:<kind>` keeps one open instance at a time across all processes.
#[derive(Debug, Clone)]
pub struct Periodic {
    pub kind: String,
    pub every: Duration,
    pub lane: Lane,
}

#[derive(Clone)]
pub(crate) struct Registered {
    pub handler: Arc<dyn Handler>,
    pub backoff: Backoff,
}

#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Registered>,
    periodic: Vec<Periodic>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of `kind` with the default backoff (2 s doubling to 1 h).
    pub fn handle(self, kind: impl Into<String>, handler: impl Handler) -> Self {
        self.handle_with(kind, Backoff::default(), handler)
    }

    pub fn handle_with(
        mut self,
        kind: impl Into<String>,
        backoff: Backoff,
        handler: impl Handler,
    ) -> Self {
        self.handlers.insert(
            kind.into(),
            Registered {
                handler: Arc::new(handler),
                backoff,
            },
        );
        self
    }

    /// Registers a system job run every `every` (refresh sweep, webhook health, retention purge,
    /// reconcile), with its handler.
    pub fn periodic(mut self, kind: &str, every: Duration, handler: impl Handler) -> Self {
        let every = every.max(Duration::from_secs(1));
        self.periodic.push(Periodic {
            kind: kind.to_string(),
            every,
            lane: Lane::Default,
        });
        self.handle(kind, handler)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    pub(crate) fn get(&self, kind: &str) -> Option<&Registered> {
        self.handlers.get(kind)
    }

    pub(crate) fn periodic_jobs(&self) -> &[Periodic] {
        &self.periodic
    }
}

impl Periodic {
    /// The next run: the first multiple of `every` since the epoch strictly after `now`, so every
    /// worker computes the same slot and the unique key makes one job of it.
    pub fn job_after(&self, now: chrono::DateTime<chrono::Utc>) -> NewJob {
        let every_ms = i64::try_from(self.every.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let slot = (now.timestamp_millis() / every_ms + 1).saturating_mul(every_ms);
        let run_at = chrono::DateTime::from_timestamp_millis(slot).unwrap_or(now);
        NewJob::new(&self.kind, serde_json::json!({}))
            .lane(self.lane)
            .run_at(run_at)
            .unique_key(format!("periodic:{}", self.kind))
    }
}
