//! Binance's rate-limit vocabulary mapped onto the core limiter and breakers (reference §3,
//! §5): the scopes the venue meters, their documented defaults, the scopes published in
//! exchangeInfo `rateLimits`, each endpoint's weight, lane and breaker class, the usage
//! headers (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, ...) and the `rateLimits` usage
//! arrays of WebSocket API answers (reference §10).
//!
//! Lanes: new orders, cancels and every query that can resolve an order of unknown outcome
//! (order status, open orders, all orders, trades) ride the order lane; market data and
//! balances ride the data lane.

use std::time::Duration;

use exchange_core::{BreakerConfig, CircuitBreaker, Lane, ScopeLimit};
use reqwest::header::HeaderMap;

use crate::model::{BinanceRateLimit, BinanceWsRateLimit};

/// What a scope counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// REQUEST_WEIGHT, per IP.
    Weight,
    /// ORDERS (new orders), per account.
    Orders,
    /// RAW_REQUESTS, per IP.
    Raw,
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

/// Every scope the adapter knows, with the venue's documented default limit (used until
/// exchangeInfo says otherwise). A published scope not in this table is ignored (logged).
const KNOWN: [(Kind, Duration, &str, u32); 6] = [
    (Kind::Weight, MINUTE, "request_weight_1m", 6_000),
    (Kind::Orders, Duration::from_secs(10), "orders_10s", 50),
    (Kind::Orders, DAY, "orders_1d", 160_000),
    (
        Kind::Raw,
        Duration::from_secs(300),
        "raw_requests_5m",
        300_000,
    ),
    (Kind::Orders, SECOND, "orders_1s", 0),
    (Kind::Raw, MINUTE, "raw_requests_1m", 0),
];

fn known(kind: Kind, interval: Duration) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(k, i, _, _)| *k == kind && *i == interval)
        .map(|(_, _, name, _)| *name)
}

/// The documented default scopes (reference §3).
pub(crate) fn default_scopes() -> Vec<ScopeLimit> {
    KNOWN
        .iter()
        .filter(|(_, _, _, limit)| *limit > 0)
        .map(|(_, interval, scope, limit)| ScopeLimit {
            scope,
            limit: *limit,
            interval: *interval,
        })
        .collect()
}

/// `SECOND|MINUTE|HOUR|DAY` × `intervalNum`.
fn interval(unit: &str, num: u32) -> Option<Duration> {
    let unit = match unit {
        "SECOND" | "S" | "s" => SECOND,
        "MINUTE" | "M" | "m" => MINUTE,
        "HOUR" | "H" | "h" => MINUTE * 60,
        "DAY" | "D" | "d" => DAY,
        _ => return None,
    };
    Some(unit * num)
}

/// The known scope of a `rateLimitType` × `interval` × `intervalNum`, with its interval.
fn scope_of(kind: &str, unit: &str, num: u32) -> Option<(&'static str, Duration)> {
    let kind = match kind {
        "REQUEST_WEIGHT" => Kind::Weight,
        "ORDERS" => Kind::Orders,
        "RAW_REQUESTS" => Kind::Raw,
        _ => return None,
    };
    let interval = interval(unit, num)?;
    Some((known(kind, interval)?, interval))
}

/// The scopes exchangeInfo publishes, as limiter scopes.
pub(crate) fn published_scopes(limits: &[BinanceRateLimit]) -> Vec<ScopeLimit> {
    let mut scopes = Vec::new();
    for l in limits {
        let scope = scope_of(&l.rate_limit_type, &l.interval, l.interval_num);
        match scope {
            Some((scope, interval)) if l.limit > 0 => scopes.push(ScopeLimit {
                scope,
                limit: l.limit,
                interval,
            }),
            _ => tracing::warn!(
                kind = l.rate_limit_type,
                interval = l.interval,
                interval_num = l.interval_num,
                "ignoring a binance rate limit the adapter does not know"
            ),
        }
    }
    scopes
}

/// The usage a WebSocket API answer reports in its `rateLimits` array: `(scope, used,
/// interval)`; entries without a count or of unknown scopes are skipped.
pub(crate) fn ws_api_usage(limits: &[BinanceWsRateLimit]) -> Vec<(&'static str, u64, Duration)> {
    limits
        .iter()
        .filter_map(|l| {
            let (scope, interval) = scope_of(&l.rate_limit_type, &l.interval, l.interval_num)?;
            Some((scope, l.count?, interval))
        })
        .collect()
}

/// The usage the venue reports in response headers: `(scope, used, interval)`.
pub(crate) fn reported_usage(headers: &HeaderMap) -> Vec<(&'static str, u64, Duration)> {
    let mut usage = Vec::new();
    for (name, value) in headers {
        let name = name.as_str();
        let (kind, suffix) = if let Some(s) = name.strip_prefix("x-mbx-used-weight-") {
            (Kind::Weight, s)
        } else if let Some(s) = name.strip_prefix("x-mbx-order-count-") {
            (Kind::Orders, s)
        } else {
            continue;
        };
        let split = suffix.len().saturating_sub(1);
        let (num, unit) = suffix.split_at(split);
        let used = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let scope = num
            .parse::<u32>()
            .ok()
            .and_then(|n| interval(unit, n))
            .and_then(|i| Some((known(kind, i)?, i)));
        if let (Some((scope, interval)), Some(used)) = (scope, used) {
            usage.push((scope, used, interval));
        }
    }
    usage
}

/// Breaker class of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Place and cancel.
    Orders,
    /// Order queries, open orders, trades, account.
    Account,
    /// Depth, exchangeInfo, time.
    MarketData,
}

/// One breaker per class.
#[derive(Debug)]
pub(crate) struct Breakers {
    orders: CircuitBreaker,
    account: CircuitBreaker,
    market_data: CircuitBreaker,
}

impl Breakers {
    pub(crate) fn new(config: &BreakerConfig) -> Self {
        Breakers {
            orders: CircuitBreaker::new("orders", config.clone()),
            account: CircuitBreaker::new("account", config.clone()),
            market_data: CircuitBreaker::new("market_data", config.clone()),
        }
    }

    pub(crate) fn get(&self, class: Class) -> &CircuitBreaker {
        match class {
            Class::Orders => &self.orders,
            Class::Account => &self.account,
            Class::MarketData => &self.market_data,
        }
    }

    pub(crate) fn all(&self) -> [&CircuitBreaker; 3] {
        [&self.orders, &self.account, &self.market_data]
    }
}

/// How one REST endpoint is metered, guarded and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub name: &'static str,
    pub class: Class,
    pub lane: Lane,
    /// Request weight (reference §5). Orders and cancels cost 0 when they succeed and their
    /// weight when they fail; we charge it up front and let the venue's header correct us.
    pub weight: u32,
    /// Counts in the ORDERS scopes.
    pub new_order: bool,
    /// Safe to repeat (retried on unknown outcomes, and after a clock resync on -1021).
    pub idempotent: bool,
}

impl Endpoint {
    const fn new(name: &'static str, class: Class, lane: Lane, weight: u32) -> Self {
        Endpoint {
            name,
            class,
            lane,
            weight,
            new_order: false,
            idempotent: true,
        }
    }

    /// The limiter cost of one request.
    pub(crate) fn costs(&self) -> Vec<(&'static str, u32)> {
        KNOWN
            .iter()
            .filter_map(|(kind, _, scope, _)| {
                let cost = match kind {
                    Kind::Weight => self.weight,
                    Kind::Raw => 1,
                    Kind::Orders => u32::from(self.new_order),
                };
                (cost > 0).then_some((*scope, cost))
            })
            .collect()
    }
}

/// `POST /api/v3/order`: never retried (see `exchange_core::retry`).
pub(crate) const PLACE_ORDER: Endpoint = Endpoint {
    new_order: true,
    idempotent: false,
    ..Endpoint::new("place_order", Class::Orders, Lane::Order, 1)
};
/// `DELETE /api/v3/order` by client order id: a repeat is at worst "unknown order".
pub(crate) const CANCEL_ORDER: Endpoint =
    Endpoint::new("cancel_order", Class::Orders, Lane::Order, 1);
/// `PUT /api/v3/order/amend/keepPriority` (weight 4, no unfilled-order count). Not repeated
/// blindly: a second amend to the same quantity is refused, so an unknown outcome is resolved
/// by querying the order.
pub(crate) const AMEND_ORDER: Endpoint = Endpoint {
    idempotent: false,
    ..Endpoint::new("amend_order", Class::Orders, Lane::Order, 4)
};
// Order resolution: on the order lane, so heavy market-data traffic cannot hold it back.
pub(crate) const QUERY_ORDER: Endpoint =
    Endpoint::new("query_order", Class::Account, Lane::Order, 4);
pub(crate) const OPEN_ORDERS_SYMBOL: Endpoint =
    Endpoint::new("open_orders", Class::Account, Lane::Order, 6);
pub(crate) const OPEN_ORDERS_ALL: Endpoint =
    Endpoint::new("open_orders", Class::Account, Lane::Order, 80);
/// `GET /api/v3/allOrders` (weight 20 with or without `orderId`/`startTime`).
pub(crate) const ALL_ORDERS: Endpoint =
    Endpoint::new("all_orders", Class::Account, Lane::Order, 20);
pub(crate) const MY_TRADES_BY_ORDER: Endpoint =
    Endpoint::new("my_trades", Class::Account, Lane::Order, 5);
pub(crate) const MY_TRADES: Endpoint = Endpoint::new("my_trades", Class::Account, Lane::Order, 20);
/// Balances are not needed to resolve an order.
pub(crate) const ACCOUNT: Endpoint = Endpoint::new("account", Class::Account, Lane::Data, 20);
/// Opening a WebSocket API connection weighs 2, shared with REST (reference §3); on the order
/// lane because order updates arrive on it.
pub(crate) const WS_API_CONNECT: Endpoint =
    Endpoint::new("ws_api_connect", Class::Account, Lane::Order, 2);
/// `userDataStream.subscribe.signature` (weight 2).
pub(crate) const WS_API_SUBSCRIBE: Endpoint =
    Endpoint::new("user_data_subscribe", Class::Account, Lane::Order, 2);
pub(crate) const EXCHANGE_INFO: Endpoint =
    Endpoint::new("exchange_info", Class::MarketData, Lane::Data, 20);
/// `GET /api/v3/time`: on the order lane, because signing an order may need it first.
pub(crate) const TIME: Endpoint = Endpoint::new("time", Class::MarketData, Lane::Order, 1);

/// `GET /api/v3/historicalTrades` (weight 25), filling a gap in a symbol's trades.
pub(crate) const HISTORICAL_TRADES: Endpoint =
    Endpoint::new("historical_trades", Class::MarketData, Lane::Data, 25);

/// `GET /api/v3/depth`, weighted by `limit` (reference §5.2).
pub(crate) fn depth(limit: u32) -> Endpoint {
    let weight = match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    };
    Endpoint::new("depth", Class::MarketData, Lane::Data, weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn rate_limit(kind: &str, unit: &str, num: u32, limit: u32) -> BinanceRateLimit {
        BinanceRateLimit {
            rate_limit_type: kind.into(),
            interval: unit.into(),
            interval_num: num,
            limit,
        }
    }

    #[test]
    fn published_scopes_table() {
        let published = [
            rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 1200),
            rate_limit("ORDERS", "SECOND", 10, 5),
            rate_limit("ORDERS", "DAY", 1, 100),
            rate_limit("RAW_REQUESTS", "MINUTE", 5, 300),
            rate_limit("ORDERS", "SECOND", 1, 10),
            rate_limit("ORDERS", "HOUR", 3, 10),
            rate_limit("SOMETHING", "MINUTE", 1, 10),
        ];
        let got: Vec<(&str, u32, u64)> = published_scopes(&published)
            .iter()
            .map(|s| (s.scope, s.limit, s.interval.as_secs()))
            .collect();
        assert_eq!(
            got,
            [
                ("request_weight_1m", 1200, 60),
                ("orders_10s", 5, 10),
                ("orders_1d", 100, 86_400),
                ("raw_requests_5m", 300, 300),
                ("orders_1s", 10, 1),
            ]
        );
        assert_eq!(default_scopes().len(), 4);
    }

    #[test]
    fn ws_api_rate_limits_usage() {
        let answer = r#"[
            {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":321},
            {"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":4},
            {"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":160000},
            {"rateLimitType":"CONNECTIONS","interval":"MINUTE","intervalNum":5,"limit":300,"count":9},
            {"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":300000,"count":7,"extra":1}
        ]"#;
        let limits: Vec<BinanceWsRateLimit> = serde_json::from_str(answer).unwrap_or_default();
        assert_eq!(limits.len(), 5);
        assert_eq!(
            ws_api_usage(&limits),
            [
                ("request_weight_1m", 321, MINUTE),
                ("orders_10s", 4, Duration::from_secs(10)),
                ("raw_requests_5m", 7, Duration::from_secs(300)),
            ]
        );
    }

    #[test]
    fn usage_headers() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-mbx-used-weight-1m", "21"),
            ("x-mbx-used-weight", "21"),
            ("x-mbx-order-count-10s", "3"),
            ("x-mbx-order-count-1d", "40"),
            ("x-mbx-used-weight-1h", "7"),
            ("x-mbx-order-count-10s-extra", "9"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let mut got = reported_usage(&headers);
        got.sort();
        assert_eq!(
            got,
            [
                ("orders_10s", 3, Duration::from_secs(10)),
                ("orders_1d", 40, DAY),
                ("request_weight_1m", 21, MINUTE),
            ]
        );
    }

    #[test]
    fn endpoint_costs_table() {
        let cases: Vec<(Endpoint, Vec<(&str, u32)>)> = vec![
            (
                PLACE_ORDER,
                vec![
                    ("request_weight_1m", 1),
                    ("orders_10s", 1),
                    ("orders_1d", 1),
                    ("raw_requests_5m", 1),
                    ("orders_1s", 1),
                    ("raw_requests_1m", 1),
                ],
            ),
            (
                depth(1000),
                vec![
                    ("request_weight_1m", 50),
                    ("raw_requests_5m", 1),
                    ("raw_requests_1m", 1),
                ],
            ),
        ];
        for (endpoint, want) in cases {
            assert_eq!(endpoint.costs(), want, "{}", endpoint.name);
        }
        let weights: Vec<u32> = [1, 100, 101, 500, 501, 1000, 1001, 5000]
            .map(|l| depth(l).weight)
            .to_vec();
        assert_eq!(weights, [5, 5, 25, 25, 50, 50, 250, 250]);
        const { assert!(!PLACE_ORDER.idempotent && CANCEL_ORDER.idempotent) };
        let lanes = [
            (PLACE_ORDER, Lane::Order),
            (AMEND_ORDER, Lane::Order),
            (QUERY_ORDER, Lane::Order),
            (OPEN_ORDERS_SYMBOL, Lane::Order),
            (OPEN_ORDERS_ALL, Lane::Order),
            (ALL_ORDERS, Lane::Order),
            (MY_TRADES_BY_ORDER, Lane::Order),
            (MY_TRADES, Lane::Order),
            (WS_API_SUBSCRIBE, Lane::Order),
            (ACCOUNT, Lane::Data),
            (EXCHANGE_INFO, Lane::Data),
            (depth(1000), Lane::Data),
        ];
        for (endpoint, lane) in lanes {
            assert_eq!(endpoint.lane, lane, "{}", endpoint.name);
        }
        assert_eq!(
            (ALL_ORDERS.weight, ALL_ORDERS.class, ALL_ORDERS.idempotent),
            (20, Class::Account, true)
        );
    }
}
