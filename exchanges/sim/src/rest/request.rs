//! The REST request as the venue reads it: parameters from the query string and, for POST,
//! PUT and DELETE, a form-urlencoded body whatever the `Content-Type` (the query wins), plus
//! the raw bytes for signature checks and typed parameter parsing with the venue's errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method};
use std::sync::atomic::{AtomicU64, Ordering};

use rust_decimal::Decimal;

use crate::auth::{SignedParams, check_signed, rest_payload};
use crate::engine::{AccountId, Catalog, SymbolId};
use crate::errors::ApiError;
use crate::server::AppState;

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;
/// `-1100` legal range of decimal parameters.
const DECIMAL_RANGE: &str = r"^([0-9]{1,20})(\.[0-9]{1,20})?$";
/// `-1100` legal range of integer parameters.
const INTEGER_RANGE: &str = "^[0-9]{1,20}$";
/// Decimal places a price or quantity may have.
const MAX_DECIMALS: u32 = 8;

/// Decoded parameters, query first; lookups return the first match, so the query wins. Every
/// lookup marks the parameter as read, so an endpoint can refuse what it never read (`-1104`).
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    /// Bit `i` set: pair `i` was looked up (pairs beyond 64 always count as read).
    read: AtomicU64,
}

impl Clone for Params {
    fn clone(&self) -> Self {
        Self {
            pairs: self.pairs.clone(),
            read: AtomicU64::new(self.read.load(Ordering::Relaxed)),
        }
    }
}

impl Params {
    /// Every parameter as sent, without marking any read.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// WebSocket API params: strings as they are, numbers and booleans as written.
    /// `returnRateLimits` is read by the session itself, so it is not an operation param.
    pub fn from_json(params: &serde_json::Map<String, serde_json::Value>) -> Self {
        let pairs = params
            .iter()
            .filter(|(k, _)| k.as_str() != "returnRateLimits")
            .map(|(k, v)| (k.clone(), crate::auth::ws_value(v)))
            .collect();
        Self {
            pairs,
            read: AtomicU64::new(0),
        }
    }

    /// `-1104` unless every parameter sent was looked up.
    pub fn check_all_read(&self) -> Result<(), ApiError> {
        let sent = self.pairs.len();
        let mask = self.read.load(Ordering::Relaxed);
        let read = (0..sent)
            .filter(|i| *i >= 64 || mask & (1 << i) != 0)
            .count();
        if read == sent {
            Ok(())
        } else {
            Err(ApiError::unread_params(read, sent))
        }
    }

    /// Parses both sources; a name repeated within one source is `-1101`.
    pub fn parse(query: &[u8], body: &[u8]) -> Result<Self, ApiError> {
        let query = decode(query)?;
        let body = decode(body)?;
        let mut pairs = query.clone();
        pairs.extend(
            body.into_iter()
                .filter(|(k, _)| !query.iter().any(|(q, _)| q == k)),
        );
        Ok(Self {
            pairs,
            read: AtomicU64::new(0),
        })
    }

    /// The value of a parameter, if sent (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        let index = self.pairs.iter().position(|(k, _)| k == name)?;
        if index < 64 {
            self.read.fetch_or(1 << index, Ordering::Relaxed);
        }
        Some(self.pairs[index].1.as_str())
    }

    /// An optional `true`/`false` parameter (`-1100` otherwise).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some("true" | "TRUE") => Ok(Some(true)),
            Some("false" | "FALSE") => Ok(Some(false)),
            Some(_) => Err(ApiError::illegal(name, "^(true|false)$")),
        }
    }

    /// An optional time in ms (`-1100` if malformed).
    pub fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        Ok(self
            .integer(name)?
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
    }

    /// A parameter that must be sent and non-empty (`-1102`).
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::mandatory(name))
    }

    /// The `symbol` parameter, resolved (`-1102` if missing, `-1121` if unknown).
    pub fn symbol(&self, catalog: &Catalog) -> Result<SymbolId, ApiError> {
        catalog
            .symbol_id(self.required("symbol")?)
            .ok_or_else(ApiError::invalid_symbol)
    }

    /// `symbol` or `symbols` (a JSON array): `None` when neither is sent; otherwise the ids and
    /// whether it was the single `symbol` form. Both → `-1128`, unknown → `-1121`.
    pub fn symbols(&self, catalog: &Catalog) -> Result<Option<(Vec<SymbolId>, bool)>, ApiError> {
        let lookup = |name: &str| catalog.symbol_id(name).ok_or_else(ApiError::invalid_symbol);
        match (self.get("symbol"), self.get("symbols")) {
            (Some(_), Some(_)) => Err(ApiError::bad_combination()),
            (Some(name), None) => Ok(Some((vec![lookup(name)?], true))),
            (None, Some(list)) => {
                let names: Vec<String> =
                    serde_json::from_str(list).map_err(|_| ApiError::mandatory("symbols"))?;
                if names.is_empty() {
                    return Err(ApiError::mandatory("symbols"));
                }
                let ids = names.iter().map(|n| lookup(n)).collect::<Result<_, _>>()?;
                Ok(Some((ids, false)))
            }
            (None, None) => Ok(None),
        }
    }

    /// An optional decimal: `-1100` if malformed, `-1111` if more than 8 decimals.
    pub fn decimal(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        let Some(text) = self.get(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let dot_ok = text.contains('.') != frac.is_empty();
        if int.is_empty()
            || int.len() > 20
            || frac.len() > 20
            || !digits(int)
            || !digits(frac)
            || !dot_ok
        {
            return Err(ApiError::illegal(name, DECIMAL_RANGE));
        }
        let value: Decimal = text
            .parse()
            .map_err(|_| ApiError::illegal(name, DECIMAL_RANGE))?;
        if value.normalize().scale() > MAX_DECIMALS {
            return Err(ApiError::precision(name));
        }
        Ok(Some(value))
    }

    /// An optional unsigned integer (`-1100` if malformed).
    pub fn integer(&self, name: &str) -> Result<Option<u64>, ApiError> {
        let Some(text) = self.get(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let well_formed = text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
        let value = well_formed.then(|| text.parse().ok()).flatten();
        value
            .map(Some)
            .ok_or_else(|| ApiError::illegal(name, INTEGER_RANGE))
    }

    /// `limit` clamped to `1..=max`, `default` when absent.
    pub fn limit(&self, default: u64, max: u64) -> Result<usize, ApiError> {
        let limit = self.integer("limit")?.unwrap_or(default).clamp(1, max);
        Ok(usize::try_from(limit).unwrap_or(usize::MAX))
    }
}

fn decode(raw: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
        .map_err(|_| ApiError::illegal("payload", "application/x-www-form-urlencoded"))?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(other, _)| other == name) {
            return Err(ApiError::duplicate_param());
        }
    }
    Ok(pairs)
}

/// A REST request with its raw parts and decoded parameters.
pub(crate) struct ApiRequest {
    pub headers: HeaderMap,
    /// The sending IP, once the weight middleware admitted the request.
    pub sender: Option<std::net::IpAddr>,
    query: String,
    body: Bytes,
    pub params: Params,
}

impl FromRequest<AppState> for ApiRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| ApiError::illegal("payload", "at most 65536 bytes"))?;
        let form = if parts.method == Method::GET {
            &[][..]
        } else {
            &body[..]
        };
        let params = Params::parse(query.as_bytes(), form)?;
        let sender = parts.extensions.get::<super::Sender>().map(|s| s.0);
        Ok(Self {
            headers: parts.headers,
            sender,
            query,
            body,
            params,
        })
    }
}

impl ApiRequest {
    /// The account of an API-key-only request (legacy USER_STREAM endpoints: no signature).
    pub fn api_key_account(&self, state: &AppState) -> Result<AccountId, ApiError> {
        let key = self
            .headers
            .get("x-mbx-apikey")
            .and_then(|v| v.to_str().ok());
        Ok(state.keys.lookup(key)?.account)
    }

    /// Authenticates a signed (TRADE / USER_DATA) request and returns its account.
    pub fn authenticate(&self, state: &AppState) -> Result<AccountId, ApiError> {
        let key = self
            .headers
            .get("x-mbx-apikey")
            .and_then(|v| v.to_str().ok());
        let credential = state.keys.lookup(key)?;
        let signed = SignedParams {
            timestamp: self.params.get("timestamp"),
            signature: self.params.get("signature"),
            recv_window: self.params.get("recvWindow"),
        };
        let form = if self.body.is_empty() {
            &[][..]
        } else {
            &self.body[..]
        };
        let payload = rest_payload(self.query.as_bytes(), form);
        check_signed(credential, &signed, &payload, state.clock.now_ms())?;
        Ok(credential.account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_over_body_and_duplicates_fail() {
        let params = Params::parse(b"symbol=BTCUSDT&side=BUY", b"side=SELL&quantity=1").unwrap();
        assert_eq!(params.get("side"), Some("BUY"));
        assert_eq!(params.get("quantity"), Some("1"));
        assert_eq!(Params::parse(b"a=1&a=2", b"").unwrap_err().code, -1101);
        let encoded = Params::parse(b"newClientOrderId=x%2Dy+z", b"").unwrap();
        assert_eq!(encoded.get("newClientOrderId"), Some("x-y z"));
    }

    #[test]
    fn decimal_parsing_table() {
        let cases: [(&str, Result<Option<&str>, i64>); 8] = [
            ("0.001", Ok(Some("0.001"))),
            ("30000", Ok(Some("30000"))),
            ("1.000000000", Ok(Some("1.000000000"))),
            ("1.000000001", Err(-1111)),
            ("-1", Err(-1100)),
            ("1e5", Err(-1100)),
            (".5", Err(-1100)),
            ("1.", Err(-1100)),
        ];
        for (text, expected) in cases {
            let params = Params::parse(format!("quantity={text}").as_bytes(), b"").unwrap();
            let got = params
                .decimal("quantity")
                .map(|d| d.map(|d| d.to_string()))
                .map_err(|e| e.code);
            assert_eq!(got, expected.map(|o| o.map(str::to_owned)), "{text}");
        }
    }

    #[test]
    fn integer_and_limit() {
        let params = Params::parse(b"orderId=12&limit=99999&bad=1x", b"").unwrap();
        assert_eq!(params.integer("orderId").unwrap(), Some(12));
        assert_eq!(params.integer("bad").unwrap_err().code, -1100);
        assert_eq!(params.limit(500, 1000).unwrap(), 1000);
        assert_eq!(params.required("symbol").unwrap_err().code, -1102);
    }

    #[test]
    fn unread_params_are_reported() {
        let params = Params::parse(b"symbol=BTCUSDT&foo=1", b"bar=2").unwrap();
        params.get("symbol");
        let error = params.check_all_read().unwrap_err();
        assert_eq!(
            (error.code, error.msg.as_ref()),
            (
                -1104,
                "Not all sent parameters were read; read '1' parameter(s) but was sent '3'."
            )
        );
        params.get("foo");
        params.get("bar");
        assert!(params.check_all_read().is_ok());
    }
}
