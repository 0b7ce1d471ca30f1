//! The signed REST client (reference §2, §5): one `reqwest::Client` with a deadline, signing
//! with venue-corrected timestamps, error bodies turned into [`BinanceError`]s.
//!
//! Every parameter goes in the query string, for every method, so that the signed payload is
//! exactly the bytes on the wire. The URL is never logged or put in an error: it carries the
//! signature.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use exchange_core::{NewOrder, OrderType};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::auth::{self, VenueClock};
use crate::config::{ApiSecret, BinanceConfig};
use crate::error::BinanceError;
use crate::model::{
    BinanceAccount, BinanceDepthSnapshot, BinanceErrorBody, BinanceExchangeInfo, BinanceMyTrade,
    BinanceOrder, BinanceServerTime,
};
use crate::parse::{side_str, time_in_force_str};
use crate::urls;

/// Query parameters in the order they are sent.
type Params = Vec<(&'static str, String)>;

/// Signed and public REST calls to one Binance account.
pub(crate) struct RestClient {
    http: reqwest::Client,
    base_url: String,
    api_key: HeaderValue,
    secret: ApiSecret,
    recv_window_ms: u64,
    clock: VenueClock,
    clock_sync: tokio::sync::Mutex<()>,
    used_weight_1m: AtomicU64,
}

impl RestClient {
    /// Builds the HTTP client; no request is made.
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
            used_weight_1m: AtomicU64::new(0),
        })
    }

    /// The last `X-MBX-USED-WEIGHT-1M` the venue reported.
    pub(crate) fn used_weight_1m(&self) -> u64 {
        self.used_weight_1m.load(Ordering::Relaxed)
    }

    /// The measured venue clock offset (venue minus local), in milliseconds.
    pub(crate) fn clock_offset_ms(&self) -> i64 {
        self.clock.offset_ms()
    }

    /// The current venue time estimate, for WebSocket API signatures.
    pub(crate) async fn venue_now_ms(&self) -> Result<i64, BinanceError> {
        self.ensure_clock().await?;
        Ok(self.clock.now_ms())
    }

    /// Measures the venue clock offset with `GET /api/v3/time`.
    pub(crate) async fn sync_clock(&self) -> Result<i64, BinanceError> {
        let before = auth::local_now_ms();
        let time: BinanceServerTime = self.public(urls::TIME, Vec::new()).await?;
        let after = auth::local_now_ms();
        let offset = self.clock.record(before, time.server_time, after);
        tracing::info!(
            offset_ms = offset,
            round_trip_ms = after - before,
            "binance clock synced"
        );
        Ok(offset)
    }

    async fn ensure_clock(&self) -> Result<(), BinanceError> {
        if self.clock.is_synced() {
            return Ok(());
        }
        let _guard = self.clock_sync.lock().await;
        if !self.clock.is_synced() {
            self.sync_clock().await?;
        }
        Ok(())
    }

    /// An unsigned GET.
    pub(crate) async fn public<T: DeserializeOwned>(
        &self,
        path: &str,
        params: Params,
    ) -> Result<T, BinanceError> {
        let query = encode(&params)?;
        self.send(Method::GET, path, &query, false).await
    }

    /// A signed call: `recvWindow` and `timestamp` appended, then the signature over the query.
    pub(crate) async fn signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        mut params: Params,
    ) -> Result<T, BinanceError> {
        self.ensure_clock().await?;
        params.push(("recvWindow", self.recv_window_ms.to_string()));
        params.push(("timestamp", self.clock.now_ms().to_string()));
        let query = encode(&params)?;
        let signature = auth::sign(&self.secret, &auth::rest_payload(&query, ""));
        let signed_query = format!("{query}&signature={signature}");
        let result = self.send(method, path, &signed_query, true).await;
        if let Err(err) = &result
            && err.code() == Some(-1021)
        {
            // Our timestamp was outside the venue's window: measure again for the next call,
            // and report this one as an auth failure (it was not executed).
            tracing::warn!(path, "binance rejected timestamp (-1021), resyncing clock");
            if let Err(sync_err) = self.sync_clock().await {
                tracing::warn!(error = %sync_err, "binance clock resync failed");
                self.clock.invalidate();
            }
        }
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
        self.record_weight(response.headers());
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(BinanceError::from_reqwest)?;
        tracing::debug!(%method, path, status = status.as_u16(), "binance rest call");
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| BinanceError::Decode(format!("{path}: {e}")));
        }
        Err(api_error(status, &body, retry_after))
    }

    fn record_weight(&self, headers: &HeaderMap) {
        if let Some(weight) = headers
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            self.used_weight_1m.store(weight, Ordering::Relaxed);
        }
    }

    /// `GET /api/v3/exchangeInfo`.
    pub(crate) async fn exchange_info(&self) -> Result<BinanceExchangeInfo, BinanceError> {
        self.public(urls::EXCHANGE_INFO, Vec::new()).await
    }

    /// `GET /api/v3/depth`.
    pub(crate) async fn depth(
        &self,
        symbol: &str,
        limit: u32,
    ) -> Result<BinanceDepthSnapshot, BinanceError> {
        let params = vec![("symbol", symbol.to_owned()), ("limit", limit.to_string())];
        self.public(urls::DEPTH, params).await
    }

    /// `POST /api/v3/order` with `newOrderRespType=FULL`.
    pub(crate) async fn place_order(&self, order: &NewOrder) -> Result<BinanceOrder, BinanceError> {
        let params = order_params(order)?;
        self.signed(Method::POST, urls::ORDER, params).await
    }

    /// `DELETE /api/v3/order` by `origClientOrderId`.
    pub(crate) async fn cancel_order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<BinanceOrder, BinanceError> {
        let params = vec![
            ("symbol", symbol.to_owned()),
            ("origClientOrderId", client_order_id.to_owned()),
        ];
        self.signed(Method::DELETE, urls::ORDER, params).await
    }

    /// `GET /api/v3/order` by `origClientOrderId` or, with `by_venue_id`, by `orderId`.
    pub(crate) async fn query_order(
        &self,
        symbol: &str,
        id: &str,
        by_venue_id: bool,
    ) -> Result<BinanceOrder, BinanceError> {
        let key = if by_venue_id {
            "orderId"
        } else {
            "origClientOrderId"
        };
        let params = vec![("symbol", symbol.to_owned()), (key, id.to_owned())];
        self.signed(Method::GET, urls::ORDER, params).await
    }

    /// `GET /api/v3/openOrders`, for one symbol or all.
    pub(crate) async fn open_orders(
        &self,
        symbol: Option<&str>,
    ) -> Result<Vec<BinanceOrder>, BinanceError> {
        let params = symbol
            .map(|s| vec![("symbol", s.to_owned())])
            .unwrap_or_default();
        self.signed(Method::GET, urls::OPEN_ORDERS, params).await
    }

    /// `GET /api/v3/account`.
    pub(crate) async fn account(&self) -> Result<BinanceAccount, BinanceError> {
        self.signed(Method::GET, urls::ACCOUNT, Vec::new()).await
    }

    /// `GET /api/v3/myTrades` for one order.
    pub(crate) async fn my_trades(
        &self,
        symbol: &str,
        order_id: &str,
    ) -> Result<Vec<BinanceMyTrade>, BinanceError> {
        let params = vec![
            ("symbol", symbol.to_owned()),
            ("orderId", order_id.to_owned()),
        ];
        self.signed(Method::GET, urls::MY_TRADES, params).await
    }
}

fn encode(params: &Params) -> Result<String, BinanceError> {
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
mod tests {
    use super::*;
    use exchange_core::{Side, TimeInForce};
    use rust_decimal_macros::dec;

    fn order(order_type: OrderType, price: Option<rust_decimal::Decimal>) -> NewOrder {
        NewOrder {
            client_order_id: "omsd-abc_1".into(),
            venue_symbol: "BTCUSDT".into(),
            side: Side::Buy,
            order_type,
            time_in_force: TimeInForce::Ioc,
            quantity: dec!(0.00100000),
            price,
        }
    }

    #[test]
    fn limit_order_params() {
        let params = order_params(&order(OrderType::Limit, Some(dec!(30000.10))));
        let query = encode(&params.unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            query,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.001&price=30000.1&newClientOrderId=omsd-abc_1&newOrderRespType=FULL"
        );
    }

    #[test]
    fn market_order_has_no_time_in_force() {
        let params = order_params(&order(OrderType::Market, None)).unwrap_or_default();
        let query = encode(&params).unwrap_or_default();
        assert_eq!(
            query,
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&newClientOrderId=omsd-abc_1&newOrderRespType=FULL"
        );
    }

    #[test]
    fn invalid_orders_never_leave() {
        assert!(order_params(&order(OrderType::Limit, None)).is_err());
        assert!(order_params(&order(OrderType::Market, Some(dec!(1)))).is_err());
        let mut bad_id = order(OrderType::Market, None);
        bad_id.client_order_id = "has space".into();
        assert!(order_params(&bad_id).is_err());
        bad_id.client_order_id = "x".repeat(37);
        assert!(order_params(&bad_id).is_err());
    }

    #[test]
    fn error_bodies() {
        let err = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"code":-2013,"msg":"Order does not exist."}"#,
            None,
        );
        assert_eq!(err.code(), Some(-2013));
        let err = api_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", None);
        assert_eq!(err.code(), None);
        assert!(err.to_string().contains("unreadable error body"), "{err}");
    }

    #[test]
    fn retry_after_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(30)));
    }
}
