//! `GET /api/v3/exchangeInfo`: rate limits and symbols with exactly the filter values the
//! engine enforces (`rest-api.md` › Exchange information, `filters.md`).

use serde::Serialize;
use serde_json::{Value, json};

use super::{price, qty, quote, stp_mode};
use crate::config::LimitConfig;
use crate::engine::StpMode;
use crate::engine::{Catalog, SymbolDef};

/// `{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}`
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceRateLimit {
    pub rate_limit_type: &'static str,
    pub interval: &'static str,
    pub interval_num: u32,
    pub limit: u64,
    /// Present in WebSocket API responses: usage in the current window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// The limiters in exchangeInfo order: REQUEST_WEIGHT, ORDERS 10 s, ORDERS 1 day, RAW_REQUESTS.
pub(crate) fn rate_limits(c: &LimitConfig) -> Vec<BinanceRateLimit> {
    let limit = |rate_limit_type, interval, interval_num, limit| BinanceRateLimit {
        rate_limit_type,
        interval,
        interval_num,
        limit,
        count: None,
    };
    vec![
        limit("REQUEST_WEIGHT", "MINUTE", 1, c.request_weight_per_minute),
        limit("ORDERS", "SECOND", 10, c.orders_per_10s),
        limit("ORDERS", "DAY", 1, c.orders_per_day),
        limit("RAW_REQUESTS", "MINUTE", 5, c.raw_requests_per_5m),
    ]
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceExchangeInfo {
    timezone: &'static str,
    server_time: i64,
    rate_limits: Vec<BinanceRateLimit>,
    exchange_filters: Vec<Value>,
    symbols: Vec<Value>,
}

/// exchangeInfo for the given symbols (all of them when `only` is empty).
pub(crate) fn exchange_info(
    catalog: &Catalog,
    only: &[crate::engine::SymbolId],
    limits: &LimitConfig,
    server_time: i64,
) -> BinanceExchangeInfo {
    let symbols = catalog
        .symbols()
        .filter(|(id, _)| only.is_empty() || only.contains(id))
        .map(|(_, def)| symbol(catalog, def))
        .collect();
    BinanceExchangeInfo {
        timezone: "UTC",
        server_time,
        rate_limits: rate_limits(limits),
        exchange_filters: Vec::new(),
        symbols,
    }
}

fn symbol(catalog: &Catalog, def: &SymbolDef) -> Value {
    let f = &def.filters;
    json!({
        "symbol": def.name,
        "status": "TRADING",
        "baseAsset": catalog.asset_name(def.base),
        "baseAssetPrecision": def.base_precision,
        "quoteAsset": catalog.asset_name(def.quote),
        "quotePrecision": def.quote_precision,
        "quoteAssetPrecision": def.quote_precision,
        "baseCommissionPrecision": def.base_precision,
        "quoteCommissionPrecision": def.quote_precision,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": false,
        "ocoAllowed": false,
        "otoAllowed": false,
        "opoAllowed": false,
        "quoteOrderQtyMarketAllowed": true,
        "allowTrailingStop": false,
        "cancelReplaceAllowed": true,
        "amendAllowed": true,
        "pegInstructionsAllowed": false,
        "isSpotTradingAllowed": true,
        "isMarginTradingAllowed": false,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": price(def, f.min_price), "maxPrice": price(def, f.max_price), "tickSize": price(def, f.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": qty(def, f.min_qty), "maxQty": qty(def, f.max_qty), "stepSize": qty(def, f.step_size)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": qty(def, f.market_min_qty), "maxQty": qty(def, f.market_max_qty), "stepSize": qty(def, f.market_step_size)},
            {"filterType": "NOTIONAL", "minNotional": quote(def, f.min_notional), "applyMinToMarket": f.apply_min_to_market,
             "maxNotional": quote(def, f.max_notional), "applyMaxToMarket": f.apply_max_to_market, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": f.max_num_orders},
            {"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": f.max_num_order_amends},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": stp_mode(def.default_stp),
        "allowedSelfTradePreventionModes": StpMode::ALL.map(stp_mode),
    })
}

/// `GET /api/v3/depth`: `{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[...]}`
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceDepth {
    last_update_id: u64,
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
}

pub(crate) fn depth(def: &SymbolDef, snapshot: &crate::feed::DepthSnapshot) -> BinanceDepth {
    let levels = |list: &[(rust_decimal::Decimal, rust_decimal::Decimal)]| {
        list.iter()
            .map(|(p, q)| [price(def, *p), qty(def, *q)])
            .collect()
    };
    BinanceDepth {
        last_update_id: snapshot.last_update_id,
        bids: levels(&snapshot.bids),
        asks: levels(&snapshot.asks),
    }
}
