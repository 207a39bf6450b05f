//! How an error is written where it is handled: with every cause under it, so the root cause
//! reaches the log once instead of being flattened into strings on the way up.

use std::error::Error;
use std::fmt;

/// Displays an error and each `source` under it, outermost first, joined by ": ".
/// Use it where an error is handled: `tracing::warn!(error = %ErrorChain(&e), "...")`.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("budget store")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("backend")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_is_written_outermost_first() {
        let err = Outer(Middle(std::io::Error::other("connection refused")));
        assert_eq!(
            ErrorChain(&err).to_string(),
            "budget store: backend: connection refused"
        );
    }

    #[test]
    fn an_error_without_causes_is_itself() {
        let err = std::io::Error::other("disk full");
        assert_eq!(ErrorChain(&err).to_string(), "disk full");
    }
}
