//! The signed REST client (reference §2, §5), and the venue executor in front of it: every
//! call takes a breaker permit for its endpoint class, then a rate-limit permit in its lane
//! (new orders also an in-flight slot), is signed with venue-corrected timestamps, and feeds
//! the venue's usage headers, 429s and 418s back into the limiter.
//!
//! Idempotent calls are retried on unknown outcomes (backon) and once after a `-1021` clock
//! resync; a new order never is (see `exchange_core::retry`).
//!
//! Every parameter goes in the query string, for every method, so that the signed payload is
//! exactly the bytes on the wire. The URL is never logged or put in an error: it carries the
//! signature.
//!
//! The endpoints themselves are in [`calls`]; measuring the venue clock is in [`clock`].

mod calls;
mod clock;

use std::sync::Mutex;
use std::time::Duration;

use exchange_core::limiter::aligned_reset;
use exchange_core::{
    ExchangeError, MAX_PAUSE, NewOrder, OrderType, Outcome, RateLimiter, RetryPolicy,
    retry_idempotent,
};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::auth::{self, VenueClock};
use crate::config::{ApiSecret, BinanceConfig};
use crate::error::BinanceError;
use crate::limits::{self, Breakers, Endpoint};
use crate::model::BinanceErrorBody;
use crate::parse::{side_str, time_in_force_str};

/// Query parameters in the order they are sent.
type Params = Vec<(&'static str, String)>;

/// Where a call reports the `timestamp` of the last signed request it sent: the venue refuses
/// a request once its clock passes that timestamp plus `recvWindow`, so this bounds how long an
/// unanswered order could still be accepted.
#[derive(Debug, Default)]
pub(crate) struct SignedAt(Mutex<Option<i64>>);

impl SignedAt {
    fn set(&self, timestamp_ms: i64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(timestamp_ms);
    }

    /// The timestamp of the last signed request sent, if any was.
    pub(crate) fn get(&self) -> Option<i64> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Signed and public REST calls to one Binance account, metered and guarded.
pub(crate) struct RestClient {
    http: reqwest::Client,
    base_url: String,
    api_key: HeaderValue,
    secret: ApiSecret,
    recv_window_ms: u64,
    pub(crate) clock: VenueClock,
    clock_sync: tokio::sync::Mutex<()>,
    clock_samples: u32,
    clock_resync_interval: Duration,
    pub(crate) limiter: RateLimiter,
    pub(crate) breakers: Breakers,
    retry: RetryPolicy,
}

impl RestClient {
    /// Builds the HTTP client; no request is made. The limiter starts with the venue's
    /// documented limits until exchangeInfo publishes the real ones.
    pub(crate) fn new(config: &BinanceConfig) -> Result<Self, BinanceError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(BinanceError::ClientSetup)?;
        let mut api_key = HeaderValue::from_str(&config.api_key).map_err(|_| {
            BinanceError::Config(vec!["api_key is not a valid header value".into()])
        })?;
        api_key.set_sensitive(true);
        Ok(RestClient {
            http,
            base_url: config.rest_url.clone(),
            api_key,
            secret: config.api_secret.clone(),
            recv_window_ms: config.recv_window_ms,
            clock: VenueClock::new(config.recv_window_ms),
            clock_sync: tokio::sync::Mutex::new(()),
            clock_samples: config.clock_samples.max(1),
            clock_resync_interval: config.clock_resync_interval,
            limiter: RateLimiter::new(config.limiter.clone(), &limits::default_scopes()),
            breakers: Breakers::new(&config.breaker),
            retry: config.retry,
        })
    }

    /// One endpoint call with everything around it: in-flight slot (new orders), retries
    /// (idempotent calls), clock resync on `-1021`.
    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path: &str,
        params: Params,
        signed: bool,
    ) -> Result<T, ExchangeError> {
        let signed_at = SignedAt::default();
        self.call_recording(endpoint, method, path, params, signed, &signed_at)
            .await
    }

    /// [`RestClient::call`], reporting the `timestamp` of each signed request sent to
    /// `signed_at`.
    async fn call_recording<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path: &str,
        params: Params,
        signed: bool,
        signed_at: &SignedAt,
    ) -> Result<T, ExchangeError> {
        let _slot = match endpoint.new_order {
            true => Some(self.limiter.order_slot().await?),
            false => None,
        };
        if signed {
            // Nothing was sent: a clock we cannot measure is a local refusal, never an unknown
            // outcome.
            self.ensure_clock().await.map_err(|err| {
                ExchangeError::unavailable(
                    format!("not signing: venue clock offset unknown ({err})"),
                    None,
                )
            })?;
        }
        let started = tokio::time::Instant::now();
        let once = || self.attempt(endpoint, method.clone(), path, &params, signed, signed_at);
        let result = if endpoint.idempotent {
            retry_idempotent(&self.retry, endpoint.name, once).await
        } else {
            once().await
        };
        match result {
            Err(ExchangeError::Auth {
                code: Some(-1021), ..
            }) if signed => {
                // Our timestamp was outside the venue's window (nothing was executed):
                // measure again, then repeat an idempotent call once.
                tracing::warn!(
                    call = endpoint.name,
                    "binance rejected timestamp (-1021), resyncing clock"
                );
                if self.timestamp_refused(started).await && endpoint.idempotent {
                    return self
                        .attempt(endpoint, method, path, &params, signed, signed_at)
                        .await;
                }
                result
            }
            other => other,
        }
    }

    /// One attempt: breaker permit, rate-limit permit, sign, send, record the outcome.
    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path: &str,
        params: &[(&'static str, String)],
        signed: bool,
        signed_at: &SignedAt,
    ) -> Result<T, ExchangeError> {
        let permit = self.breakers.get(endpoint.class).permit()?;
        self.limiter
            .acquire(endpoint.lane, &endpoint.costs())
            .await?;
        let query = if signed {
            // Never sign with a clock we cannot trust: the venue would refuse (-1021), or worse,
            // accept a timestamp that makes an unanswered order valid longer than we think.
            let timestamp = self.clock.signing_timestamp().map_err(|refusal| {
                ExchangeError::unavailable(format!("not signing: {refusal}"), None)
            })?;
            let query = signed_query(&self.secret, params, self.recv_window_ms, timestamp)?;
            // From here on the request may reach the venue.
            signed_at.set(timestamp);
            query
        } else {
            encode(params)?
        };
        let result = self
            .send(method, path, &query, signed)
            .await
            .map_err(ExchangeError::from);
        permit.record(Outcome::of(&result));
        result
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &str,
        signed: bool,
    ) -> Result<T, BinanceError> {
        let url = if query.is_empty() {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}{path}?{query}", self.base_url)
        };
        let mut request = self.http.request(method.clone(), url);
        if signed {
            request = request.header("X-MBX-APIKEY", self.api_key.clone());
        }
        let response = request.send().await.map_err(BinanceError::from_reqwest)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        self.observe(status, response.headers(), retry_after);
        let body = response.bytes().await.map_err(BinanceError::from_reqwest)?;
        tracing::debug!(%method, path, status = status.as_u16(), "binance rest call");
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| BinanceError::Decode(format!("{path}: {e}")));
        }
        Err(api_error(status, &body, retry_after))
    }

    /// Feeds the venue's view of our usage back into the limiter: usage headers, and the
    /// venue-wide pause of a 429 or halt of a 418.
    fn observe(&self, status: StatusCode, headers: &HeaderMap, retry_after: Option<Duration>) {
        self.observe_usage(limits::reported_usage(headers));
        self.observe_status(status.as_u16(), retry_after);
    }

    /// Corrects the limiter from the venue's usage report `(scope, used, interval)` (REST
    /// headers or a WebSocket API `rateLimits` array).
    pub(crate) fn observe_usage(&self, usage: Vec<(&'static str, u64, Duration)>) {
        let venue_now = self.clock.now_ms();
        for (scope, used, interval) in usage {
            let resets_in = venue_now.map(|now| aligned_reset(now, interval));
            self.limiter.observe_usage(scope, used, resets_in);
        }
    }

    /// A 429 pauses and a 418 halts every request to the venue, whether REST or WebSocket API
    /// answered it.
    pub(crate) fn observe_status(&self, status: u16, retry_after: Option<Duration>) {
        match status {
            429 => {
                let pause = self.limiter.throttled(retry_after);
                tracing::warn!(
                    pause_ms = pause.as_millis() as u64,
                    "binance answered 429: pausing every request to the venue"
                );
            }
            418 => {
                let ban = self.limiter.banned(retry_after);
                tracing::error!(
                    ban_secs = ban.as_secs(),
                    "binance answered 418: IP banned, venue halted until the ban ends; find \
                     what exceeded the limits before it ends"
                );
            }
            _ => {}
        }
    }

    /// The wait until `retry_after_ms` (venue epoch ms, as WebSocket API errors give it),
    /// clamped to [`MAX_PAUSE`]; None without a venue clock or a time.
    pub(crate) fn wait_until_venue_ms(&self, retry_after_ms: Option<i64>) -> Option<Duration> {
        let left = retry_after_ms?.saturating_sub(self.clock.now_ms()?).max(0);
        let left = u64::try_from(left).unwrap_or(0);
        Some(Duration::from_millis(left).min(MAX_PAUSE))
    }
}

/// The query string of a signed request: `params`, `recvWindow` and `timestamp`
/// percent-encoded (UTF-8, so a non-ASCII value like a symbol `１２３４５６` becomes `%EF%BC%91...`),
/// then the signature of exactly those encoded bytes (reference §2.2; the venue refuses a
/// signature over the raw text with `-1022`).
fn signed_query(
    secret: &ApiSecret,
    params: &[(&'static str, String)],
    recv_window_ms: u64,
    timestamp: i64,
) -> Result<String, BinanceError> {
    let mut params = params.to_vec();
    params.push(("recvWindow", recv_window_ms.to_string()));
    params.push(("timestamp", timestamp.to_string()));
    let query = encode(&params)?;
    let signature = auth::sign(secret, &auth::rest_payload(&query, ""));
    Ok(format!("{query}&signature={signature}"))
}

fn encode(params: &[(&'static str, String)]) -> Result<String, BinanceError> {
    serde_urlencoded::to_string(params).map_err(|e| BinanceError::InvalidRequest(e.to_string()))
}

/// Turns an error answer into [`BinanceError::Api`]; the body is `{"code","msg"}` when the
/// venue itself answered.
fn api_error(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> BinanceError {
    let (code, message) = match serde_json::from_slice::<BinanceErrorBody>(body) {
        Ok(err) => (Some(err.code), err.msg),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.chars().take(120).collect();
            (None, format!("unreadable error body: {snippet}"))
        }
    };
    BinanceError::Api {
        status: status.as_u16(),
        code,
        message,
        retry_after,
    }
}

/// `Retry-After` in seconds, clamped to [`MAX_PAUSE`]: a value too large for any integer is
/// the longest pause, one that is no number of seconds (a date, a fraction, garbage) is absent
/// (the limiter's default pause applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = value.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs.min(MAX_PAUSE.as_secs())))
}

/// The venue's client order id rule: `^[a-zA-Z0-9-_]{1,36}$`.
fn valid_client_order_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The parameters of `POST /api/v3/order`, checked locally first (a refused order never leaves).
fn order_params(order: &NewOrder) -> Result<Params, BinanceError> {
    if !valid_client_order_id(&order.client_order_id) {
        return Err(BinanceError::InvalidRequest(
            "client order id must match ^[a-zA-Z0-9-_]{1,36}$".into(),
        ));
    }
    let mut params = vec![
        ("symbol", order.venue_symbol.clone()),
        ("side", side_str(order.side).to_owned()),
    ];
    match (order.order_type, order.price) {
        (OrderType::Limit, Some(price)) => {
            params.push(("type", "LIMIT".to_owned()));
            params.push((
                "timeInForce",
                time_in_force_str(order.time_in_force).to_owned(),
            ));
            params.push(("quantity", order.quantity.normalize().to_string()));
            params.push(("price", price.normalize().to_string()));
        }
        (OrderType::Market, None) => {
            params.push(("type", "MARKET".to_owned()));
            params.push(("quantity", order.quantity.normalize().to_string()));
        }
        (OrderType::Limit, None) => {
            return Err(BinanceError::InvalidRequest(
                "a limit order needs a price".into(),
            ));
        }
        (OrderType::Market, Some(_)) => {
            return Err(BinanceError::InvalidRequest(
                "a market order takes no price".into(),
            ));
        }
    }
    params.push(("newClientOrderId", order.client_order_id.clone()));
    params.push(("newOrderRespType", "FULL".to_owned()));
    Ok(params)
}

#[cfg(test)]
#[path = "rest_tests.rs"]
mod tests;
