//! The path of one call: reserve budget, send, classify, settle, retry.

use std::time::Duration;

use chrono::{DateTime, Offset as _, Utc};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::client::{ApiRequest, CompanyClient};
use crate::error::{Chain, Error, Result, TransientKind};
use crate::http::{self, Envelope};
use crate::ledger::{
    next_reset, CallRequest, Grant, Outcome, RateHeaders, Reservation, WaitReason,
};
use crate::refusal::{call_path, RefusedCall, RefusedLimit};
use crate::retry::server_hint;
use crate::token::AuthScheme;

/// The requests `x-daily-requests-left` counts (FACTS §5.3: POST/PUT; v2 updates are PATCH).
fn is_write(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

/// How one try ended, before the retry decision.
enum Try<T> {
    Done(Envelope<T>),
    Unauthorized,
    Failed {
        error: Error,
        hint: Option<Duration>,
    },
}

impl CompanyClient {
    /// Send `req` under the budget, retrying per policy; see the crate README for the flow.
    #[tracing::instrument(skip_all, fields(company.id = self.ctx.company_id.0, op.method = req.op.method, op.path = req.op.path))]
    pub(crate) async fn call<T: DeserializeOwned>(&self, req: ApiRequest) -> Result<Envelope<T>> {
        let cost = req.op.cost().ok_or(Error::UnknownOperation {
            method: req.op.method,
            path: req.op.path,
        })?;
        let call = CallRequest {
            company: self.ctx.company_id,
            user: self.ctx.user_id,
            lane: self.ctx.lane,
            cost,
            search: req.op.is_search(),
        };
        let policy = self.pd.inner.config.retry;
        if is_write(req.op.method) {
            if let Some(until) = self.writes_blocked() {
                self.pd
                    .inner
                    .figures
                    .update(call.company, |f| f.deferred += 1);
                return Err(Error::Deferred {
                    until,
                    reason: WaitReason::DailyWrites,
                });
            }
        }
        let mut token = self.ctx.token_source.access_token().await?;
        let mut refreshed = false;
        let mut retry = 0u32;
        loop {
            let reservation = self.admit(&call).await?;
            match self.try_once::<T>(&req, &token, reservation).await? {
                Try::Done(envelope) => return Ok(envelope),
                Try::Unauthorized if !refreshed => {
                    refreshed = true;
                    token = self.ctx.token_source.refresh(&token).await?;
                }
                Try::Unauthorized => {
                    self.count_error();
                    return Err(Error::NeedsReauth {
                        reason: "access token rejected after refresh".into(),
                    });
                }
                Try::Failed {
                    error: error @ Error::Deferred { .. },
                    ..
                } => {
                    self.pd
                        .inner
                        .figures
                        .update(call.company, |f| f.deferred += 1);
                    return Err(error);
                }
                Try::Failed { error, hint } => {
                    if let Error::RateLimited { daily: true, .. } = error {
                        return Err(self.defer_until_reset().await?);
                    }
                    let idempotent = req.op.method != "POST";
                    let retryable = match &error {
                        Error::RateLimited { .. } => true,
                        // A POST that may have reached Pipedrive is not repeated: it could
                        // create the record twice. The job decides (e.g. search first).
                        Error::Transient { kind, .. } => {
                            idempotent || *kind == TransientKind::Connect
                        }
                        _ => false,
                    };
                    if !retryable || retry + 1 >= policy.max_attempts {
                        self.count_error();
                        return Err(error);
                    }
                    let delay = policy.backoff(retry, hint, &mut rand::thread_rng());
                    if delay > policy.max_inline_wait {
                        self.count_error();
                        return Err(error);
                    }
                    tracing::debug!(retry, delay_ms = delay.as_millis() as u64, error = %Chain(&error), "retrying");
                    self.sleep(delay).await;
                    self.pd
                        .inner
                        .figures
                        .update(call.company, |f| f.retries += 1);
                    retry += 1;
                }
            }
        }
    }

    /// Wait for a reservation, sleeping through short waits and handing long ones back.
    async fn admit(&self, call: &CallRequest) -> Result<Reservation> {
        let policy = self.pd.inner.config.retry;
        loop {
            match self.pd.inner.ledger.reserve(call).await? {
                Grant::Granted(reservation) => return Ok(reservation),
                Grant::WaitUntil { until, reason } => {
                    let wait = self.until(until);
                    if wait > policy.max_inline_wait {
                        self.pd
                            .inner
                            .figures
                            .update(call.company, |f| f.deferred += 1);
                        return Err(Error::Deferred { until, reason });
                    }
                    tracing::debug!(
                        ?reason,
                        wait_ms = wait.as_millis() as u64,
                        "waiting for budget"
                    );
                    // At least a millisecond, so a ledger answering "now" cannot spin us.
                    self.sleep(wait.max(Duration::from_millis(1))).await;
                }
            }
        }
    }

    async fn try_once<T: DeserializeOwned>(
        &self,
        req: &ApiRequest,
        token: &SecretString,
        reservation: Reservation,
    ) -> Result<Try<T>> {
        let inner = &self.pd.inner;
        let company = self.ctx.company_id;
        let cost = u64::from(reservation.request.cost);
        let sent = self.send(req, token).await;
        let (status, headers, body) = match sent {
            Ok(parts) => parts,
            Err(error) => {
                let not_sent = matches!(
                    error,
                    Error::Transient {
                        kind: TransientKind::Connect,
                        ..
                    }
                );
                let outcome = if not_sent {
                    Outcome::NotSent
                } else {
                    Outcome::Unknown
                };
                self.settle(reservation, outcome).await;
                if !not_sent {
                    inner.figures.update(company, |f| {
                        f.calls += 1;
                        f.tokens_spent += cost;
                    });
                }
                return Ok(Try::Failed { error, hint: None });
            }
        };
        let rate = RateHeaders {
            search: reservation.request.search,
            ..RateHeaders::from_headers(&headers)
        };
        let writes_spent = rate.daily_requests_left == Some(0);
        let writes_reset = next_reset(inner.clock.now(), Utc.fix());
        inner.figures.update(company, |f| {
            if !rate.search {
                f.burst_limit = rate.limit.or(f.burst_limit);
            }
            if let Some(left) = rate.daily_requests_left {
                f.daily_requests_left = Some(left);
                f.writes_blocked_until = writes_spent.then_some(writes_reset);
            }
        });
        if !rate.is_empty() {
            if let Err(e) = inner
                .ledger
                .observe_headers(company, self.ctx.user_id, &rate)
                .await
            {
                tracing::warn!(error = %Chain(&e), "could not record rate-limit headers");
            }
        }
        let hint = server_hint(&headers, inner.clock.now());
        if status == 429 && writes_spent && is_write(req.op.method) {
            // The token's writes for the UTC day are spent, not the company's token budget nor
            // the burst window: only writes wait, until midnight UTC.
            let outcome = Outcome::RateLimited {
                daily: false,
                retry_after: None,
            };
            self.settle(reservation, outcome).await;
            inner.figures.update(company, |f| {
                f.calls += 1;
                f.rate_limited += 1;
            });
            self.record_refusal(req, 429, hint, Some(RefusedLimit::DailyWrites))
                .await;
            let error = Error::Deferred {
                until: writes_reset,
                reason: WaitReason::DailyWrites,
            };
            return Ok(Try::Failed { error, hint: None });
        }
        let daily = status == 429 && http::is_daily_limit(&headers, &body);
        let outcome = if status == 429 {
            Outcome::RateLimited {
                daily,
                retry_after: hint,
            }
        } else {
            Outcome::Responded {
                status: status.as_u16(),
            }
        };
        self.settle(reservation, outcome).await;
        inner.figures.update(company, |f| {
            f.calls += 1;
            if status == 429 {
                f.rate_limited += 1;
            } else {
                f.tokens_spent += cost;
            }
        });
        if status == 429 {
            let limit = match (daily, rate.search) {
                (true, _) => RefusedLimit::DailyBudget,
                (false, true) => RefusedLimit::Search,
                (false, false) => RefusedLimit::Burst,
            };
            self.record_refusal(req, 429, hint, Some(limit)).await;
        } else if status == 401 {
            self.record_refusal(req, 401, None, None).await;
        }
        if status.is_success() {
            return http::decode(&body).map(Try::Done);
        }
        if status == 401 {
            return Ok(Try::Unauthorized);
        }
        Ok(Try::Failed {
            error: http::status_error(status, &body, hint, daily),
            hint,
        })
    }

    /// Tells the ledger of one refused call, for support's timeline. Losing the record must not
    /// fail the call: the per-day counts already have it.
    async fn record_refusal(
        &self,
        req: &ApiRequest,
        status: u16,
        retry_after: Option<Duration>,
        limit: Option<RefusedLimit>,
    ) {
        let call = RefusedCall {
            company: self.ctx.company_id,
            user: self.ctx.user_id,
            at: self.pd.inner.clock.now(),
            status,
            method: req.op.method,
            path: call_path(req.op.path),
            retry_after,
            limit,
        };
        if let Err(e) = self.pd.inner.ledger.record_refusal(&call).await {
            tracing::warn!(error = %Chain(&e), "could not record a refused call");
        }
    }

    async fn send(
        &self,
        req: &ApiRequest,
        token: &SecretString,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
        let method = Method::from_bytes(req.op.method.as_bytes())
            .map_err(|e| Error::Config(format!("method: {e}")))?;
        let mut url = self.ctx.api_domain.clone();
        url.set_path(&format!("{}{}", url.path().trim_end_matches('/'), req.path));
        url.set_query(None);
        if !req.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(req.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let builder = self.pd.inner.http.request(method, url);
        let mut builder = match self.ctx.token_source.scheme() {
            AuthScheme::Bearer => builder.bearer_auth(token.expose_secret()),
            AuthScheme::ApiToken => {
                let mut value = reqwest::header::HeaderValue::from_str(token.expose_secret())
                    .map_err(|_| {
                        Error::Config("the API token is not a valid header value".into())
                    })?;
                // Kept out of reqwest's and hyper's debug output.
                value.set_sensitive(true);
                builder.header("x-api-token", value)
            }
        };
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(http::transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(http::transport_error)?;
        Ok((status, headers, body.to_vec()))
    }

    /// The call already happened, so a ledger failure here must not turn its result into an
    /// error (a retried POST would create twice). The reservation then stays charged, which the
    /// ledger contract allows.
    async fn settle(&self, reservation: Reservation, outcome: Outcome) {
        if let Err(e) = self.pd.inner.ledger.settle(reservation, outcome).await {
            tracing::warn!(error = %Chain(&e), "could not settle a reservation");
        }
    }

    async fn defer_until_reset(&self) -> Result<Error> {
        let status = self.pd.inner.ledger.status(self.ctx.company_id).await?;
        self.pd
            .inner
            .figures
            .update(self.ctx.company_id, |f| f.deferred += 1);
        Ok(Error::Deferred {
            until: status.exhausted_until.unwrap_or(status.resets_at),
            reason: crate::ledger::WaitReason::DailyBudget,
        })
    }

    /// Until when this company's API token may not write, when its daily writes are spent.
    fn writes_blocked(&self) -> Option<DateTime<Utc>> {
        let now = self.pd.inner.clock.now();
        self.pd
            .inner
            .figures
            .snapshot(self.ctx.company_id)
            .writes_blocked_until
            .filter(|until| *until > now)
    }

    fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.pd.inner.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    }

    async fn sleep(&self, wait: Duration) {
        tokio::time::sleep(wait).await;
        self.pd
            .inner
            .figures
            .update(self.ctx.company_id, |f| f.waited += wait);
    }

    fn count_error(&self) {
        self.pd
            .inner
            .figures
            .update(self.ctx.company_id, |f| f.errors += 1);
    }
}
