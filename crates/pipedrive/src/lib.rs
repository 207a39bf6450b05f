#![doc = include_str!("../README.md")]

pub mod api;
mod call;
mod client;
mod config;
mod cost_table;
pub mod costs;
mod error;
mod figures;
mod http;
pub mod ledger;
pub mod models;
pub mod oauth;
mod refusal;
pub mod retry;
mod token;

pub use client::{CompanyClient, CompanyCtx, Pipedrive};
pub use config::{PipedriveConfig, Timeouts};
pub use error::{Cause, Error, ErrorClass, FieldErrors, ForbiddenKind, Result, TransientKind};
pub use figures::{CompanyFigures, Figures};
pub use ledger::{
    BudgetLedger, BudgetStatus, CallRequest, CompanyId, Grant, Lane, LedgerError, Outcome,
    RateHeaders, Reservation, UserId, WaitReason,
};
pub use refusal::{call_path, RefusedCall, RefusedLimit};
pub use retry::RetryPolicy;
pub use token::{ApiToken, AuthScheme, TokenError, TokenSource};
