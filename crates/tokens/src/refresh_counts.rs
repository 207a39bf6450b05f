//! How this process's token refreshes ended, counted for the metrics page. Plain atomics read at
//! scrape time, so the vault needs no metrics library.

use std::sync::atomic::{AtomicU64, Ordering};

use dealbridge_pipedrive::TokenError;

/// Refreshes attempted under the vault's locks, by how they ended.
#[derive(Debug, Default)]
pub(crate) struct RefreshCounts {
    refreshed: AtomicU64,
    already_refreshed: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// A snapshot of [`TokenVault::refresh_counts`](crate::TokenVault::refresh_counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshFigures {
    /// This process sent a refresh and stored the new tokens.
    pub refreshed: u64,
    /// Another task or process had refreshed meanwhile; nothing was sent.
    pub already_refreshed: u64,
    /// No refresh possible: the refresh token was refused or the installation is gone (the user
    /// must install again).
    pub refused: u64,
    /// The OAuth server or the store could not answer; a later call tries again.
    pub failed: u64,
}

impl RefreshFigures {
    /// Each figure with its metrics label.
    pub fn by_outcome(&self) -> [(&'static str, u64); 4] {
        [
            ("refreshed", self.refreshed),
            ("already_refreshed", self.already_refreshed),
            ("refused", self.refused),
            ("failed", self.failed),
        ]
    }
}

/// How one refresh under the locks ended, for counting.
pub(crate) enum Ended<'a> {
    Refreshed,
    AlreadyRefreshed,
    Failed(&'a TokenError),
}

impl RefreshCounts {
    pub fn count(&self, ended: Ended<'_>) {
        let counter = match ended {
            Ended::Refreshed => &self.refreshed,
            Ended::AlreadyRefreshed => &self.already_refreshed,
            Ended::Failed(TokenError::NeedsReauth(_)) => &self.refused,
            Ended::Failed(TokenError::Unavailable { .. }) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> RefreshFigures {
        RefreshFigures {
            refreshed: self.refreshed.load(Ordering::Relaxed),
            already_refreshed: self.already_refreshed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}
