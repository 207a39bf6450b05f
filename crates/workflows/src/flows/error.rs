//! Why a workflow stopped: a problem with the event itself (marked failed at once), or a failure
//! of Pipedrive or the store (retried as the job queue's rules say, marked failed when the job
//! gives up). Each reason names the problem, never the event's content, so the dashboard may show
//! it.

use dealbridge_jobs::JobError;
use dealbridge_storage::StoreError;

use crate::errors::store_error;
use crate::job_error;

#[derive(Debug)]
pub(crate) enum FlowError {
    /// The event cannot become records; retrying cannot help.
    Refused(&'static str),
    Pipedrive(dealbridge_pipedrive::Error),
    Store(StoreError),
    /// Try again later: the dashboard's reason if this was the last attempt, and when.
    Wait(&'static str, JobError),
}

pub(crate) type FlowResult<T> = Result<T, FlowError>;

impl From<dealbridge_pipedrive::Error> for FlowError {
    fn from(err: dealbridge_pipedrive::Error) -> Self {
        Self::Pipedrive(err)
    }
}

impl From<StoreError> for FlowError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl FlowError {
    /// What the dashboard shows when the event is marked failed for this error.
    pub(crate) fn reason(&self) -> &'static str {
        use dealbridge_pipedrive::Error as Pd;
        match self {
            Self::Refused(reason) => reason,
            Self::Pipedrive(err) => match err {
                Pd::NeedsReauth { .. } => "Pipedrive authorisation was lost",
                Pd::PaymentRequired { .. } => "the Pipedrive account is not active",
                Pd::Forbidden { .. } => {
                    "Pipedrive refused access (a scope, plan limit or permission)"
                }
                Pd::NotFound { .. } => "a record the event refers to is not in Pipedrive",
                Pd::Invalid { .. } => "Pipedrive refused a write as invalid",
                Pd::RateLimited { .. } | Pd::Deferred { .. } => {
                    "the Pipedrive budget stayed exhausted"
                }
                Pd::Transient { .. } => "Pipedrive kept failing or timing out",
                _ => "Pipedrive answered with an error",
            },
            Self::Store(_) => "the store failed",
            Self::Wait(reason, _) => reason,
        }
    }

    /// The job queue's view: when (and whether) to try again.
    pub(crate) fn into_job_error(self) -> JobError {
        match self {
            Self::Refused(reason) => JobError::permanent(reason),
            Self::Pipedrive(err) => job_error(err),
            Self::Store(err) => store_error(err),
            Self::Wait(_, err) => err,
        }
    }
}
