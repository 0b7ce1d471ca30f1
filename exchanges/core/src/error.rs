//! [`ExchangeError`]: every venue failure, classified by what it means for an order.
//!
//! The classification drives the order state machine: `Rejected` is definitive (the venue
//! refused, nothing rests), `Unknown` means the order may or may not exist and must be resolved
//! by asking the venue, never guessed (DESIGN invariant 3). `Duplicate` is definitive too, but
//! about the request, not the order: the venue already holds an order with this client order id
//! (ours, sent before), so it created nothing new and the existing order is found by querying it.

use std::time::Duration;

/// A failed venue call, classified by outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The venue definitively refused the request; for an order, nothing was created.
    #[error("rejected by venue (code {code:?}): {message}")]
    Rejected { code: Option<i64>, message: String },
    /// The venue already has an order with this client order id and created no new one (Binance
    /// `-2010 "Duplicate order sent."`). Not a rejection of the order: the earlier one stands,
    /// so its state is learned by querying the venue for the client order id.
    #[error("duplicate client order id on venue: {message}")]
    Duplicate { message: String },
    /// The venue says the order (or object) does not exist: a definite answer to a query.
    #[error("not found on venue (code {code:?}): {message}")]
    NotFound { code: Option<i64>, message: String },
    /// The venue throttled us (429) or banned us (418); retry only after `retry_after`.
    #[error("rate limited by venue (banned: {banned}, retry after {retry_after:?}): {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        banned: bool,
        message: String,
    },
    /// The outcome is unknown: timeout, 5xx, connection reset, unreadable answer.
    #[error("outcome unknown: {message}")]
    Unknown { message: String },
    /// Credentials, signature or clock problems; the request was not executed.
    #[error("authentication failed (code {code:?}): {message}")]
    Auth { code: Option<i64>, message: String },
    /// Refused locally, nothing was sent: the venue's breaker is open, the venue is paused
    /// (429) or banned (418), the in-flight order cap is reached or a rate-limit permit did not
    /// come within its deadline. Try again after `retry_after` when given (HTTP 503).
    #[error("venue unavailable (retry after {retry_after:?}): {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
}

impl ExchangeError {
    /// Builds an [`ExchangeError::Unknown`] from anything printable.
    pub fn unknown(message: impl Into<String>) -> Self {
        ExchangeError::Unknown {
            message: message.into(),
        }
    }

    /// Builds an [`ExchangeError::Unavailable`]: refused locally, nothing was sent.
    pub fn unavailable(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        ExchangeError::Unavailable {
            message: message.into(),
            retry_after,
        }
    }

    /// True when the request was certainly not executed by the venue.
    pub fn is_definitive(&self) -> bool {
        !matches!(self, ExchangeError::Unknown { .. })
    }

    /// A short, bounded label for metrics (`reason` label).
    pub fn kind(&self) -> &'static str {
        match self {
            ExchangeError::Rejected { .. } => "rejected",
            ExchangeError::Duplicate { .. } => "duplicate",
            ExchangeError::NotFound { .. } => "not_found",
            ExchangeError::RateLimited { banned: true, .. } => "banned",
            ExchangeError::RateLimited { .. } => "rate_limited",
            ExchangeError::Unknown { .. } => "unknown",
            ExchangeError::Auth { .. } => "auth",
            ExchangeError::Unavailable { .. } => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unknown_is_not_definitive() {
        let cases = [
            (
                ExchangeError::Rejected {
                    code: Some(-2010),
                    message: "x".into(),
                },
                true,
                "rejected",
            ),
            (
                ExchangeError::Duplicate {
                    message: "Duplicate order sent.".into(),
                },
                true,
                "duplicate",
            ),
            (
                ExchangeError::NotFound {
                    code: Some(-2013),
                    message: "x".into(),
                },
                true,
                "not_found",
            ),
            (
                ExchangeError::RateLimited {
                    retry_after: None,
                    banned: true,
                    message: "x".into(),
                },
                true,
                "banned",
            ),
            (
                ExchangeError::RateLimited {
                    retry_after: None,
                    banned: false,
                    message: "x".into(),
                },
                true,
                "rate_limited",
            ),
            (ExchangeError::unknown("timeout"), false, "unknown"),
            (
                ExchangeError::Auth {
                    code: Some(-1022),
                    message: "x".into(),
                },
                true,
                "auth",
            ),
            (
                ExchangeError::unavailable("breaker open", Some(Duration::from_secs(1))),
                true,
                "unavailable",
            ),
        ];
        for (err, definitive, kind) in cases {
            assert_eq!(err.is_definitive(), definitive, "{err}");
            assert_eq!(err.kind(), kind, "{err}");
        }
    }
}
