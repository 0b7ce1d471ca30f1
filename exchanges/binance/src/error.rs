//! [`BinanceError`]: what went wrong talking to Binance, and its classification into
//! [`ExchangeError`] by what the outcome means for an order (reference §1 and §4).
//!
//! The rule that matters: only an answer that proves the venue did not act is definitive. A
//! timeout, a 5xx, `-1007`, `-1000` or a body we cannot read leave the order's fate unknown.
//! `-2010 "Duplicate order sent."` is definitive but not a rejection: an open order already
//! carries this client order id (reference §6), so it maps to [`ExchangeError::Duplicate`].

use std::time::Duration;

use exchange_core::ExchangeError;

/// A failed call to Binance. Never carries the request URL, query or signature.
#[derive(Debug, thiserror::Error)]
pub enum BinanceError {
    /// The venue answered with a non-success HTTP status.
    #[error("venue answered http {status} (code {code:?}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Binance error code from the body, if the body was `{"code","msg"}`.
        code: Option<i64>,
        /// Binance error message, or a description of the unreadable body.
        message: String,
        /// The `Retry-After` header, for 429 and 418.
        retry_after: Option<Duration>,
    },
    /// No answer within the deadline.
    #[error("request timed out")]
    Timeout,
    /// The request could not be sent or the answer not received.
    #[error("transport error")]
    Transport(#[source] reqwest::Error),
    /// A success status with a body we cannot decode.
    #[error("undecodable venue answer: {0}")]
    Decode(String),
    /// The request was refused locally, before sending (nothing reached the venue).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The configuration is unusable; every problem is listed.
    #[error("invalid configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// The HTTP client could not be built.
    #[error("http client setup failed")]
    ClientSetup(#[source] reqwest::Error),
}

impl BinanceError {
    /// Wraps a reqwest error, dropping the URL (it holds the signed query string).
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            BinanceError::Timeout
        } else if err.is_decode() {
            BinanceError::Decode(err.without_url().to_string())
        } else {
            BinanceError::Transport(err.without_url())
        }
    }

    /// The Binance error code, when the venue sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            BinanceError::Api { code, .. } => *code,
            _ => None,
        }
    }
}

/// Classifies an HTTP error answer (reference §1, §3, §4).
fn classify_api(
    status: u16,
    code: Option<i64>,
    raw_message: &str,
    retry_after: Option<Duration>,
) -> ExchangeError {
    let message = format!("http {status}: {raw_message}");
    match (status, code) {
        (429, _) => ExchangeError::RateLimited {
            retry_after,
            banned: false,
            message,
        },
        (418, _) => ExchangeError::RateLimited {
            retry_after,
            banned: true,
            message,
        },
        (401, _) | (400..=499, Some(-2014 | -2015 | -1022 | -1021)) => {
            ExchangeError::Auth { code, message }
        }
        (400..=499, Some(-2013)) => ExchangeError::NotFound { code, message },
        (400..=499, Some(-2010)) if is_duplicate_message(raw_message) => {
            ExchangeError::Duplicate { message }
        }
        // -1000 "unknown error" and -1007 "execution status unknown" say nothing definite.
        (_, Some(-1000 | -1007)) => ExchangeError::Unknown { message },
        (400..=499, Some(-1003 | -1015)) => ExchangeError::RateLimited {
            retry_after,
            banned: false,
            message,
        },
        // Any other 4xx with a Binance code is the venue refusing the request: -2010 (new
        // order rejected), -2011 (cancel rejected), -1013 (filters), -11xx (bad parameters).
        (400..=499, Some(_)) => ExchangeError::Rejected { code, message },
        // 5xx, or a 4xx whose body we could not read (a proxy page): outcome unknown.
        _ => ExchangeError::Unknown { message },
    }
}

/// The matching engine's text for a client order id already used by an open order. `-2010`
/// carries many engine messages (insufficient balance, would take, market closed...): only this
/// one means "it already exists".
fn is_duplicate_message(message: &str) -> bool {
    let text = message.trim().trim_end_matches('.');
    text.eq_ignore_ascii_case("duplicate order sent")
}

impl From<BinanceError> for ExchangeError {
    fn from(err: BinanceError) -> Self {
        match err {
            BinanceError::Api {
                status,
                code,
                message,
                retry_after,
            } => classify_api(status, code, &message, retry_after),
            // Refused locally: nothing reached the venue, so the outcome is definite.
            BinanceError::InvalidRequest(_)
            | BinanceError::Config(_)
            | BinanceError::ClientSetup(_) => ExchangeError::Rejected {
                code: None,
                message: error_chain(&err),
            },
            BinanceError::Timeout | BinanceError::Transport(_) | BinanceError::Decode(_) => {
                ExchangeError::unknown(error_chain(&err))
            }
        }
    }
}

/// The error and its sources on one line (sources never hold URLs: see `from_reqwest`).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<i64>, retry_after: Option<u64>) -> BinanceError {
        api_msg(status, code, "msg", retry_after)
    }

    fn api_msg(
        status: u16,
        code: Option<i64>,
        msg: &str,
        retry_after: Option<u64>,
    ) -> BinanceError {
        BinanceError::Api {
            status,
            code,
            message: msg.into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn classification_table() {
        let secs = |s| Some(Duration::from_secs(s));
        #[rustfmt::skip]
        let cases: Vec<(BinanceError, &str, Option<i64>, Option<Duration>)> = vec![
            // (error, kind, code kept, retry_after)
            (api(400, Some(-2010), None), "rejected", Some(-2010), None),
            (api_msg(400, Some(-2010), "Duplicate order sent.", None), "duplicate", None, None),
            (api_msg(400, Some(-2010), " duplicate order sent", None), "duplicate", None, None),
            (api_msg(400, Some(-2010), "Account has insufficient balance for requested action.", None), "rejected", Some(-2010), None),
            (api_msg(400, Some(-2010), "Order would immediately match and take.", None), "rejected", Some(-2010), None),
            (api_msg(400, Some(-1101), "Duplicate values for a parameter detected.", None), "rejected", Some(-1101), None),
            (api_msg(500, Some(-2010), "Duplicate order sent.", None), "unknown", None, None),
            (api(400, Some(-1013), None), "rejected", Some(-1013), None),
            (api(400, Some(-1100), None), "rejected", Some(-1100), None),
            (api(400, Some(-1102), None), "rejected", Some(-1102), None),
            (api(400, Some(-1121), None), "rejected", Some(-1121), None),
            (api(400, Some(-2011), None), "rejected", Some(-2011), None),
            (api(400, Some(-2013), None), "not_found", Some(-2013), None),
            (api(429, Some(-1003), Some(7)), "rate_limited", None, secs(7)),
            (api(429, Some(-1015), None), "rate_limited", None, None),
            (api(418, Some(-1003), Some(120)), "banned", None, secs(120)),
            (api(401, Some(-2015), None), "auth", Some(-2015), None),
            (api(401, Some(-2014), None), "auth", Some(-2014), None),
            (api(401, None, None), "auth", None, None),
            (api(400, Some(-1022), None), "auth", Some(-1022), None),
            (api(400, Some(-1021), None), "auth", Some(-1021), None),
            (api(500, Some(-1000), None), "unknown", None, None),
            (api(400, Some(-1000), None), "unknown", None, None),
            (api(503, None, None), "unknown", None, None),
            (api(502, Some(-1007), None), "unknown", None, None),
            (api(408, Some(-1007), None), "unknown", None, None),
            (api(403, None, None), "unknown", None, None),
            (BinanceError::Timeout, "unknown", None, None),
            (BinanceError::Decode("eof".into()), "unknown", None, None),
            (BinanceError::InvalidRequest("no price".into()), "rejected", None, None),
        ];
        for (err, kind, code, retry_after) in cases {
            let text = err.to_string();
            let core = ExchangeError::from(err);
            assert_eq!(core.kind(), kind, "{text} -> {core:?}");
            match &core {
                ExchangeError::Rejected { code: c, .. }
                | ExchangeError::NotFound { code: c, .. }
                | ExchangeError::Auth { code: c, .. } => assert_eq!(*c, code, "{text}"),
                ExchangeError::RateLimited { retry_after: r, .. } => {
                    assert_eq!(*r, retry_after, "{text}")
                }
                ExchangeError::Unknown { .. }
                | ExchangeError::Unavailable { .. }
                | ExchangeError::Duplicate { .. } => {}
            }
        }
    }

    #[test]
    fn messages_keep_status_and_venue_text() {
        let cases = [
            ("Duplicate order sent.", "http 400: Duplicate order sent."),
            ("Market is closed.", "http 400: Market is closed."),
        ];
        for (msg, want) in cases {
            let core = ExchangeError::from(api_msg(400, Some(-2010), msg, None));
            assert!(core.to_string().contains(want), "{core}");
        }
    }

    #[test]
    fn duplicate_is_definitive_and_not_a_breaker_failure() {
        let core = ExchangeError::from(api_msg(400, Some(-2010), "Duplicate order sent.", None));
        assert!(core.is_definitive(), "{core:?}");
        assert_eq!(
            exchange_core::Outcome::of::<()>(&Err(core.clone())),
            exchange_core::Outcome::Success
        );
        assert!(!exchange_core::retry::is_retriable(&core));
    }
}
