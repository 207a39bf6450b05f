//! The shared client and the per-company handle that every typed call goes through.

use std::sync::Arc;

use url::Url;

use crate::config::PipedriveConfig;
use crate::costs::Operation;
use crate::error::{Error, Result};
use crate::figures::Figures;
use crate::ledger::{BudgetLedger, Clock, CompanyId, Lane, TokioClock, UserId};
use crate::oauth::OAuth;
use crate::token::TokenSource;

/// The one Pipedrive client of a process: one connection pool, one ledger, one set of figures.
/// Cheap to clone.
#[derive(Clone)]
pub struct Pipedrive {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) config: PipedriveConfig,
    pub(crate) ledger: Arc<dyn BudgetLedger>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) figures: Figures,
    oauth: OAuth,
}

impl std::fmt::Debug for Pipedrive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipedrive")
            .field("oauth", &self.inner.oauth)
            .finish_non_exhaustive()
    }
}

impl Pipedrive {
    /// Build the pooled HTTP client. Redirects are off: Pipedrive's API does not redirect, and
    /// following one could carry the bearer token to another host.
    pub fn new(config: PipedriveConfig, ledger: Arc<dyn BudgetLedger>) -> Result<Self> {
        Self::with_clock(config, ledger, Arc::new(TokioClock::new()))
    }

    /// As [`Pipedrive::new`], with the clock used to turn `WaitUntil` times into sleeps; give it
    /// the same clock as the ledger.
    pub fn with_clock(
        config: PipedriveConfig,
        ledger: Arc<dyn BudgetLedger>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            .timeout(config.timeouts.request)
            .pool_idle_timeout(config.timeouts.pool_idle)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| Error::Config(format!("http client: {e}")))?;
        let oauth = OAuth::new(http.clone(), &config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                ledger,
                clock,
                figures: Figures::default(),
                oauth,
            }),
        })
    }

    /// A handle for one company's calls.
    pub fn company(&self, ctx: CompanyCtx) -> CompanyClient {
        CompanyClient {
            pd: self.clone(),
            ctx: Arc::new(ctx),
        }
    }

    pub fn oauth(&self) -> &OAuth {
        &self.inner.oauth
    }

    pub fn figures(&self) -> &Figures {
        &self.inner.figures
    }

    pub fn ledger(&self) -> &Arc<dyn BudgetLedger> {
        &self.inner.ledger
    }

    pub fn config(&self) -> &PipedriveConfig {
        &self.inner.config
    }
}

/// Who a call is for.
#[derive(Clone)]
pub struct CompanyCtx {
    pub company_id: CompanyId,
    /// The installing user whose token is used; keys the burst window.
    pub user_id: UserId,
    /// From the token response; every call of this company goes to this host.
    pub api_domain: Url,
    pub token_source: Arc<dyn TokenSource>,
    pub lane: Lane,
}

impl std::fmt::Debug for CompanyCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompanyCtx")
            .field("company_id", &self.company_id)
            .field("user_id", &self.user_id)
            .field("api_domain", &self.api_domain.as_str())
            .field("lane", &self.lane)
            .finish_non_exhaustive()
    }
}

/// One company's typed calls. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CompanyClient {
    pub(crate) pd: Pipedrive,
    pub(crate) ctx: Arc<CompanyCtx>,
}

/// One API call before it is sent; kept whole so it can be re-sent on retry.
pub(crate) struct ApiRequest {
    pub op: Operation,
    /// `op.path` with its parameters filled in.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
}

impl CompanyClient {
    /// The same company on another lane.
    pub fn with_lane(&self, lane: Lane) -> Self {
        let mut ctx = (*self.ctx).clone();
        ctx.lane = lane;
        Self {
            pd: self.pd.clone(),
            ctx: Arc::new(ctx),
        }
    }

    pub fn ctx(&self) -> &CompanyCtx {
        &self.ctx
    }
}
