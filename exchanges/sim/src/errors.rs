//! Venue error bodies: `{"code":-1121,"msg":"Invalid symbol."}` with the HTTP status and the
//! exact message strings of the venue documentation (`errors.md`), shared by REST and the
//! WebSocket API. Engine rejections map here too.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine::Reject;

/// A request failure as the venue reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: i64,
    pub msg: Cow<'static, str>,
    /// For 429 and 418: seconds until a retry may succeed (`Retry-After`) and that time in
    /// epoch ms (the WebSocket API's `retryAfter`).
    pub retry: Option<(u64, i64)>,
    /// The error's `data` object, where the venue sends one with it (cancel-replace outcomes).
    pub data: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: i64,
    msg: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: i64, msg: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            retry: None,
            data: None,
        }
    }

    /// Attaches the error's `data` object.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// Sets the time a retry may succeed (`Retry-After`, rounded up to whole seconds).
    pub fn retry_at(mut self, until_ms: i64, now_ms: i64) -> Self {
        let wait = u64::try_from(until_ms.saturating_sub(now_ms)).unwrap_or(0);
        self.retry = Some((wait.div_ceil(1000), until_ms));
        self
    }

    fn bad(code: i64, msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }

    /// `-1000`: the catch-all, e.g. when the engine is gone during shutdown.
    pub fn unknown() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1000,
            "An unknown error occurred while processing the request.",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            -1020,
            "This operation is not supported.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            -1020,
            "This operation is not supported.",
        )
    }

    pub fn mandatory(name: &str) -> Self {
        Self::bad(
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }

    pub fn either(a: &str, b: &str) -> Self {
        Self::bad(
            -1102,
            format!("Param '{a}' or '{b}' must be sent, but both were empty/null!"),
        )
    }

    pub fn too_large(name: &str, max: u64) -> Self {
        Self::bad(
            -1102,
            format!("'{name}' contains unexpected value. Cannot be greater than {max}."),
        )
    }

    pub fn illegal(name: &str, range: &str) -> Self {
        Self::bad(
            -1100,
            format!("Illegal characters found in parameter '{name}'; legal range is '{range}'."),
        )
    }

    pub fn duplicate_param() -> Self {
        Self::bad(-1101, "Duplicate values for a parameter detected.")
    }

    pub fn not_required(name: &str) -> Self {
        Self::bad(-1106, format!("Parameter '{name}' sent when not required."))
    }

    pub fn precision(name: &str) -> Self {
        Self::bad(-1111, format!("Parameter '{name}' has too much precision."))
    }

    pub fn invalid_tif() -> Self {
        Self::bad(-1115, "Invalid timeInForce.")
    }

    pub fn invalid_type() -> Self {
        Self::bad(-1116, "Invalid orderType.")
    }

    pub fn invalid_side() -> Self {
        Self::bad(-1117, "Invalid side.")
    }

    pub fn empty_client_id() -> Self {
        Self::bad(-1118, "New client order ID was empty.")
    }

    pub fn invalid_symbol() -> Self {
        Self::bad(-1121, "Invalid symbol.")
    }

    pub fn stp_mode() -> Self {
        Self::bad(
            -1013,
            "This symbol does not allow the specified self-trade prevention mode.",
        )
    }

    pub fn unsupported_combination() -> Self {
        Self::bad(-2010, "Unsupported order combination")
    }

    pub fn timestamp_outside() -> Self {
        Self::bad(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        )
    }

    pub fn timestamp_ahead() -> Self {
        Self::bad(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        )
    }

    pub fn bad_signature() -> Self {
        Self::bad(-1022, "Signature for this request is not valid.")
    }

    pub fn key_format() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, -2014, "API-key format invalid.")
    }

    pub fn invalid_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )
    }

    pub fn subscription_active() -> Self {
        Self::bad(-2035, "User Data Stream subscription already active.")
    }

    pub fn subscription_not_active() -> Self {
        Self::bad(-2036, "User Data Stream subscription not active.")
    }

    /// The JSON body `{"code":..,"msg":..}`.
    pub fn body(&self) -> String {
        if let Some(data) = &self.data {
            return serde_json::json!({ "code": self.code, "msg": self.msg, "data": data })
                .to_string();
        }
        let body = Body {
            code: self.code,
            msg: &self.msg,
        };
        serde_json::to_string(&body)
            .unwrap_or_else(|_| r#"{"code":-1000,"msg":"error"}"#.to_owned())
    }

    /// The `{"code":..,"msg":..}` object for embedding (WebSocket API `error`), with
    /// `data: {"serverTime","retryAfter"}` for rate-limit errors.
    pub fn json(&self, now_ms: i64) -> serde_json::Value {
        if let Some(data) = &self.data {
            return serde_json::json!({ "code": self.code, "msg": self.msg, "data": data });
        }
        match self.retry {
            Some((_, until)) => serde_json::json!({
                "code": self.code, "msg": self.msg,
                "data": { "serverTime": now_ms, "retryAfter": until },
            }),
            None => serde_json::json!({ "code": self.code, "msg": self.msg }),
        }
    }

    /// `-1125`: unknown or expired listenKey.
    pub fn unknown_listen_key() -> Self {
        Self::bad(-1125, "This listenKey does not exist.")
    }

    /// `-1104`: parameters the endpoint does not read.
    pub fn unread_params(read: usize, sent: usize) -> Self {
        Self::bad(
            -1104,
            format!(
                "Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'."
            ),
        )
    }

    /// `-1120`: a kline interval the venue does not know.
    pub fn invalid_interval() -> Self {
        Self::bad(-1120, "Invalid interval.")
    }

    /// `-1128`: optional parameters that cannot go together.
    pub fn bad_combination() -> Self {
        Self::bad(-1128, "Combination of optional parameters invalid.")
    }
}

impl From<Reject> for ApiError {
    fn from(reject: Reject) -> Self {
        match reject {
            Reject::Filter(name) => Self::bad(-1013, format!("Filter failure: {name}")),
            Reject::InsufficientBalance => Self::bad(
                -2010,
                "Account has insufficient balance for requested action.",
            ),
            Reject::DuplicateOrder => Self::bad(-2010, "Duplicate order sent."),
            Reject::WouldMatch => Self::bad(-2010, "Order would immediately match and take."),
            Reject::NoLiquidity => Self::bad(
                -2010,
                "Order book liquidity is less than symbol minimum quantity.",
            ),
            Reject::Unsupported => Self::unsupported_combination(),
            Reject::UnknownOrder => Self::bad(-2011, "Unknown order sent."),
            Reject::CancelRestricted => {
                Self::bad(-2011, "Order was not canceled due to cancel restrictions.")
            }
            Reject::OrderNotFound => Self::bad(-2013, "Order does not exist."),
            Reject::ClientIdMismatch => {
                Self::bad(-2039, "Client order ID is not correct for this order ID.")
            }
            Reject::UnknownSymbol => Self::invalid_symbol(),
            Reject::AmendIncrease => Self::bad(-2038, "Order amend (quantity increase) rejected."),
            Reject::AmendBelowExecuted => Self::bad(
                -1013,
                "Invalid quantity: newQty must be greater than the order's executed quantity.",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = crate::rest::json_response(self.status, self.body());
        if let Some((seconds, _)) = self.retry
            && let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_map_to_venue_codes() {
        let cases = [
            (
                Reject::Filter("PRICE_FILTER"),
                -1013,
                "Filter failure: PRICE_FILTER",
            ),
            (Reject::DuplicateOrder, -2010, "Duplicate order sent."),
            (Reject::UnknownOrder, -2011, "Unknown order sent."),
            (Reject::OrderNotFound, -2013, "Order does not exist."),
            (Reject::UnknownSymbol, -1121, "Invalid symbol."),
        ];
        for (reject, code, msg) in cases {
            let error = ApiError::from(reject);
            assert_eq!((error.code, error.msg.as_ref()), (code, msg));
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn body_is_code_and_msg_json() {
        let body = ApiError::illegal("newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$").body();
        assert_eq!(
            body,
            r#"{"code":-1100,"msg":"Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'."}"#
        );
    }
}
