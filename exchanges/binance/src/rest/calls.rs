//! The Binance REST endpoints the adapter uses (reference §5), each one call through the venue
//! executor in `rest` with its endpoint's weight, lane, breaker class and retry rule.

use exchange_core::{ExchangeError, NewOrder};
use reqwest::Method;

use super::{Params, RestClient, SignedAt, order_params};
use crate::limits;
use crate::model::{
    BinanceAccount, BinanceAmend, BinanceDepthSnapshot, BinanceExchangeInfo,
    BinanceHistoricalTrade, BinanceMyTrade, BinanceOrder,
};
use crate::urls;

impl RestClient {
    /// `GET /api/v3/exchangeInfo`.
    pub(crate) async fn exchange_info(&self) -> Result<BinanceExchangeInfo, ExchangeError> {
        // Usually the first call, and the one that tells the limiter the venue's real limits:
        // it goes before anything else, so that a usage header judged against the default
        // limits (an earlier run of ours used this window) cannot hold it back.
        let info: BinanceExchangeInfo = self
            .call(
                &limits::EXCHANGE_INFO,
                Method::GET,
                urls::EXCHANGE_INFO,
                Vec::new(),
                false,
            )
            .await?;
        let scopes = limits::published_scopes(&info.rate_limits);
        if !scopes.is_empty() {
            self.limiter.configure(&scopes);
        }
        // Then measure the clock (best effort), before any signed call needs it.
        if let Err(err) = self.ensure_clock().await {
            tracing::warn!(error = %err, "binance clock sync after exchangeInfo failed");
        }
        Ok(info)
    }

    /// `GET /api/v3/depth`.
    pub(crate) async fn depth(
        &self,
        symbol: &str,
        limit: u32,
    ) -> Result<BinanceDepthSnapshot, ExchangeError> {
        let params = vec![("symbol", symbol.to_owned()), ("limit", limit.to_string())];
        let endpoint = limits::depth(limit);
        self.call(&endpoint, Method::GET, urls::DEPTH, params, false)
            .await
    }

    /// `GET /api/v3/historicalTrades` from trade id `from_id`, oldest first.
    pub(crate) async fn historical_trades(
        &self,
        symbol: &str,
        from_id: u64,
        limit: u32,
    ) -> Result<Vec<BinanceHistoricalTrade>, ExchangeError> {
        let params = vec![
            ("symbol", symbol.to_owned()),
            ("fromId", from_id.to_string()),
            ("limit", limit.to_string()),
        ];
        let (endpoint, url) = (&limits::HISTORICAL_TRADES, urls::HISTORICAL_TRADES);
        self.call(endpoint, Method::GET, url, params, false).await
    }

    /// `POST /api/v3/order` with `newOrderRespType=FULL`, and the `timestamp` it was signed
    /// with (`None` when it was refused before signing).
    pub(crate) async fn place_order(
        &self,
        order: &NewOrder,
    ) -> (Result<BinanceOrder, ExchangeError>, Option<i64>) {
        let signed_at = SignedAt::default();
        let result = match order_params(order) {
            Ok(params) => {
                self.call_recording(
                    &limits::PLACE_ORDER,
                    Method::POST,
                    urls::ORDER,
                    params,
                    true,
                    &signed_at,
                )
                .await
            }
            Err(err) => Err(err.into()),
        };
        (result, signed_at.get())
    }

    /// `DELETE /api/v3/order` by `origClientOrderId`.
    pub(crate) async fn cancel_order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<BinanceOrder, ExchangeError> {
        let params = vec![
            ("symbol", symbol.to_owned()),
            ("origClientOrderId", client_order_id.to_owned()),
        ];
        self.call(
            &limits::CANCEL_ORDER,
            Method::DELETE,
            urls::ORDER,
            params,
            true,
        )
        .await
    }

    /// `PUT /api/v3/order/amend/keepPriority` by `origClientOrderId`, keeping that client order
    /// id (the venue would generate a new one otherwise). The order as amended.
    pub(crate) async fn amend_order(
        &self,
        symbol: &str,
        client_order_id: &str,
        new_quantity: rust_decimal::Decimal,
    ) -> Result<BinanceOrder, ExchangeError> {
        let params = vec![
            ("symbol", symbol.to_owned()),
            ("origClientOrderId", client_order_id.to_owned()),
            ("newClientOrderId", client_order_id.to_owned()),
            ("newQty", new_quantity.normalize().to_string()),
        ];
        let answer: BinanceAmend = self
            .call(
                &limits::AMEND_ORDER,
                Method::PUT,
                urls::AMEND_KEEP_PRIORITY,
                params,
                true,
            )
            .await?;
        let mut order = answer.amended_order;
        order.transact_time = order.transact_time.or(answer.transact_time);
        Ok(order)
    }

    /// `GET /api/v3/order` by `origClientOrderId` or, with `by_venue_id`, by `orderId`.
    pub(crate) async fn query_order(
        &self,
        symbol: &str,
        id: &str,
        by_venue_id: bool,
    ) -> Result<BinanceOrder, ExchangeError> {
        let key = if by_venue_id {
            "orderId"
        } else {
            "origClientOrderId"
        };
        let params = vec![("symbol", symbol.to_owned()), (key, id.to_owned())];
        self.call(&limits::QUERY_ORDER, Method::GET, urls::ORDER, params, true)
            .await
    }

    /// `GET /api/v3/openOrders`, for one symbol or all.
    pub(crate) async fn open_orders(
        &self,
        symbol: Option<&str>,
    ) -> Result<Vec<BinanceOrder>, ExchangeError> {
        let (endpoint, params) = match symbol {
            Some(s) => (limits::OPEN_ORDERS_SYMBOL, vec![("symbol", s.to_owned())]),
            None => (limits::OPEN_ORDERS_ALL, Vec::new()),
        };
        self.call(&endpoint, Method::GET, urls::OPEN_ORDERS, params, true)
            .await
    }

    /// `GET /api/v3/account`.
    pub(crate) async fn account(&self) -> Result<BinanceAccount, ExchangeError> {
        self.call(
            &limits::ACCOUNT,
            Method::GET,
            urls::ACCOUNT,
            Vec::new(),
            true,
        )
        .await
    }

    /// `GET /api/v3/myTrades` for one order.
    pub(crate) async fn my_trades(
        &self,
        symbol: &str,
        order_id: &str,
    ) -> Result<Vec<BinanceMyTrade>, ExchangeError> {
        let params = vec![
            ("symbol", symbol.to_owned()),
            ("orderId", order_id.to_owned()),
        ];
        let endpoint = limits::MY_TRADES_BY_ORDER;
        self.call(&endpoint, Method::GET, urls::MY_TRADES, params, true)
            .await
    }

    /// `GET /api/v3/myTrades` from trade id `from_id` (inclusive), at most `limit`.
    pub(crate) async fn my_trades_from(
        &self,
        symbol: &str,
        from_id: Option<u64>,
        limit: u32,
    ) -> Result<Vec<BinanceMyTrade>, ExchangeError> {
        let mut params = vec![("symbol", symbol.to_owned())];
        if let Some(from_id) = from_id {
            params.push(("fromId", from_id.to_string()));
        }
        params.push(("limit", limit.clamp(1, 1000).to_string()));
        self.call(
            &limits::MY_TRADES,
            Method::GET,
            urls::MY_TRADES,
            params,
            true,
        )
        .await
    }

    /// `GET /api/v3/allOrders`: orders with id >= `from_id`, else created at or after
    /// `start_time_ms`, else the latest; at most `limit` (1..=1000). No `endTime`: the venue
    /// limits a `startTime`..`endTime` window to 24 h, an open end is not limited.
    pub(crate) async fn all_orders(
        &self,
        symbol: &str,
        from_id: Option<u64>,
        start_time_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BinanceOrder>, ExchangeError> {
        let mut params: Params = vec![("symbol", symbol.to_owned())];
        match (from_id, start_time_ms) {
            (Some(id), _) => params.push(("orderId", id.to_string())),
            (None, Some(start)) => params.push(("startTime", start.to_string())),
            (None, None) => {}
        }
        params.push(("limit", limit.clamp(1, 1000).to_string()));
        self.call(
            &limits::ALL_ORDERS,
            Method::GET,
            urls::ALL_ORDERS,
            params,
            true,
        )
        .await
    }
}
