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
//! The endpoints themselves are in [`calls`].

mod calls;

use std::sync::Mutex;
use std::time::Duration;

use exchange_core::limiter::aligned_reset;
use exchange_core::{
    ExchangeError, NewOrder, OrderType, Outcome, RateLimiter, RetryPolicy, retry_idempotent,
};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::auth::{self, VenueClock};
use crate::config::{ApiSecret, BinanceConfig};
use crate::error::BinanceError;
use crate::limits::{self, Breakers, Endpoint};
use crate::model::{BinanceErrorBody, BinanceServerTime};
use crate::parse::{side_str, time_in_force_str};
use crate::urls;

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
            clock: VenueClock::default(),
            clock_sync: tokio::sync::Mutex::new(()),
            limiter: RateLimiter::new(config.limiter.clone(), &limits::default_scopes()),
            breakers: Breakers::new(&config.breaker),
            retry: config.retry,
        })
    }

    /// The current venue time estimate, for WebSocket API signatures and staleness checks.
    pub(crate) async fn venue_now_ms(&self) -> Result<i64, ExchangeError> {
        self.ensure_clock().await?;
        Ok(self.clock.now_ms())
    }

    /// Measures the venue clock offset with `GET /api/v3/time`.
    pub(crate) async fn sync_clock(&self) -> Result<i64, ExchangeError> {
        let before = auth::local_now_ms();
        let time: BinanceServerTime = self
            .attempt(
                &limits::TIME,
                Method::GET,
                urls::TIME,
                &[],
                false,
                &SignedAt::default(),
            )
            .await?;
        let after = auth::local_now_ms();
        let offset = self.clock.record(before, time.server_time, after);
        tracing::info!(
            offset_ms = offset,
            round_trip_ms = after - before,
            "binance clock synced"
        );
        Ok(offset)
    }

    async fn ensure_clock(&self) -> Result<(), ExchangeError> {
        if self.clock.is_synced() {
            return Ok(());
        }
        let _guard = self.clock_sync.lock().await;
        if !self.clock.is_synced() {
            self.sync_clock().await?;
        }
        Ok(())
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
            self.ensure_clock().await?;
        }
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
                if let Err(err) = self.sync_clock().await {
                    tracing::warn!(error = %err, "binance clock resync failed");
                    self.clock.invalidate();
                }
                if endpoint.idempotent && self.clock.is_synced() {
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
        let mut params = params.to_vec();
        let query = if signed {
            let timestamp = self.clock.now_ms();
            params.push(("recvWindow", self.recv_window_ms.to_string()));
            params.push(("timestamp", timestamp.to_string()));
            let query = encode(&params)?;
            let signature = auth::sign(&self.secret, &auth::rest_payload(&query, ""));
            // From here on the request may reach the venue.
            signed_at.set(timestamp);
            format!("{query}&signature={signature}")
        } else {
            encode(&params)?
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
        let venue_now = self.clock.is_synced().then(|| self.clock.now_ms());
        for (scope, used, interval) in limits::reported_usage(headers) {
            let resets_in = venue_now.map(|now| aligned_reset(now, interval));
            self.limiter.observe_usage(scope, used, resets_in);
        }
        match status.as_u16() {
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

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
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
