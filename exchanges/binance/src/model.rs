//! Raw Binance Spot payloads, exactly as the venue sends them. Private to this crate: `parse.rs`
//! maps them to exchange-core types. Unknown fields are ignored (the venue adds fields such as
//! `expiryReason` and `eR` without notice).
//!
//! Docs: <https://github.com/binance/binance-spot-api-docs> (`rest-api.md`,
//! `web-socket-streams.md`, `user-data-stream.md`, `web-socket-api.md`).

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

/// Error body of every failed call: `{"code":-2010,"msg":"Duplicate order sent."}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BinanceErrorBody {
    pub code: i64,
    #[serde(default)]
    pub msg: String,
}

/// `GET /api/v3/time`: `{"serverTime": 1499827319559}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceServerTime {
    pub server_time: i64,
}

/// `GET /api/v3/exchangeInfo` (only what instruments and the rate limiter need):
/// `{"timezone":"UTC","serverTime":1565246363776,"rateLimits":[...],"symbols":[{...}]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceExchangeInfo {
    #[serde(default)]
    pub rate_limits: Vec<BinanceRateLimit>,
    pub symbols: Vec<BinanceSymbol>,
}

/// One limiter of exchangeInfo (reference §3):
/// `{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceRateLimit {
    pub rate_limit_type: String,
    pub interval: String,
    pub interval_num: u32,
    pub limit: u32,
}

/// One symbol of exchangeInfo:
/// `{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[...]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceSymbol {
    pub symbol: String,
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    #[serde(default)]
    pub filters: Vec<BinanceFilter>,
}

/// A symbol filter, e.g.
/// `{"filterType":"PRICE_FILTER","minPrice":"0.01","maxPrice":"1000000.00","tickSize":"0.01"}`.
/// Filters the adapter does not use are kept as `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "filterType")]
pub(crate) enum BinanceFilter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        min_price: Decimal,
        max_price: Decimal,
        tick_size: Decimal,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    /// `{"filterType":"NOTIONAL","minNotional":"5.0","maxNotional":"9000000.0",...}`.
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional {
        min_notional: Decimal,
        max_notional: Option<Decimal>,
    },
    /// Legacy `{"filterType":"MIN_NOTIONAL","minNotional":"0.001","applyToMarket":true,...}`.
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional { min_notional: Decimal },
    #[serde(other)]
    Other,
}

/// `GET /api/v3/depth`:
/// `{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceDepthSnapshot {
    pub last_update_id: u64,
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
}

/// An order as returned by place (ACK/RESULT/FULL), cancel, query and open orders, e.g.
/// `{"symbol":"BTCUSDT","orderId":28,"clientOrderId":"6gCrw2kRUAF9CvJDGP16IP",
/// "transactTime":1507725176595,"price":"0.00000000","origQty":"10.00000000",
/// "executedQty":"10.00000000","cummulativeQuoteQty":"10.00000000","status":"FILLED",
/// "timeInForce":"GTC","type":"MARKET","side":"SELL","fills":[...]}`.
///
/// In a cancel answer `origClientOrderId` is the order's own id and `clientOrderId` the
/// cancel request's id.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceOrder {
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
    #[serde(default)]
    pub orig_client_order_id: Option<String>,
    #[serde(default)]
    pub transact_time: Option<i64>,
    #[serde(default)]
    pub update_time: Option<i64>,
    #[serde(default)]
    pub time: Option<i64>,
    #[serde(default)]
    pub price: Option<Decimal>,
    /// `origQty`; an amend answer's `amendedOrder` calls it `qty`.
    #[serde(default, alias = "qty")]
    pub orig_qty: Option<Decimal>,
    #[serde(default)]
    pub executed_qty: Option<Decimal>,
    #[serde(default)]
    pub cummulative_quote_qty: Option<Decimal>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub time_in_force: Option<String>,
    #[serde(default, rename = "type")]
    pub order_type: Option<String>,
    #[serde(default)]
    pub side: Option<String>,
    #[serde(default)]
    pub fills: Vec<BinanceOrderFill>,
}

/// The answer to an amend keep-priority:
/// `{"transactTime":1741926410242,"executionId":75,"amendedOrder":{"symbol":"BTCUSDT",
/// "orderId":33,"orderListId":-1,"origClientOrderId":"a","clientOrderId":"a","price":"6.0",
/// "qty":"5.0","executedQty":"0.0", ... ,"status":"NEW","timeInForce":"GTC","type":"LIMIT",
/// "side":"SELL", ...}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceAmend {
    #[serde(default)]
    pub transact_time: Option<i64>,
    pub amended_order: BinanceOrder,
}

/// One fill of a FULL order answer:
/// `{"price":"4000.00000000","qty":"1.00000000","commission":"4.00000000","commissionAsset":"USDT","tradeId":56}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceOrderFill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    #[serde(default)]
    pub commission_asset: Option<String>,
    pub trade_id: i64,
}

/// `GET /api/v3/account` (balances only):
/// `{"canTrade":true,"balances":[{"asset":"BTC","free":"4723846.89208129","locked":"0.00000000"}]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceAccount {
    pub balances: Vec<BinanceBalance>,
}

/// `{"asset":"BTC","free":"4723846.89208129","locked":"0.00000000"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceBalance {
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
}

/// One element of `GET /api/v3/myTrades`:
/// `{"symbol":"BNBBTC","id":28457,"orderId":100234,"price":"4.00000100","qty":"12.00000000",
/// "commission":"10.10000000","commissionAsset":"BNB","time":1499865549590,"isBuyer":true,"isMaker":false}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceMyTrade {
    pub symbol: String,
    pub id: i64,
    pub order_id: i64,
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    #[serde(default)]
    pub commission_asset: Option<String>,
    pub time: i64,
    pub is_buyer: bool,
    pub is_maker: bool,
}

/// A combined-stream frame: `{"stream":"btcusdt@trade","data":{...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceStreamFrame {
    pub stream: String,
    pub data: Value,
}

/// `<symbol>@depth@100ms`:
/// `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BinanceDepthUpdate {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "U")]
    pub first_update_id: u64,
    #[serde(rename = "u")]
    pub last_update_id: u64,
    #[serde(rename = "b")]
    pub bids: Vec<(Decimal, Decimal)>,
    #[serde(rename = "a")]
    pub asks: Vec<(Decimal, Decimal)>,
}

/// `<symbol>@trade`:
/// `{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceTrade {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "t")]
    pub trade_id: i64,
    #[serde(rename = "p")]
    pub price: Decimal,
    #[serde(rename = "q")]
    pub quantity: Decimal,
    #[serde(rename = "T")]
    pub trade_time: i64,
    /// Is the buyer the market maker?
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// One trade of `GET /api/v3/historicalTrades` (and `/api/v3/trades`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceHistoricalTrade {
    pub id: i64,
    pub price: Decimal,
    pub qty: Decimal,
    pub time: i64,
    pub is_buyer_maker: bool,
}

/// A WebSocket API response:
/// `{"id":"1","status":200,"result":{"subscriptionId":0},"rateLimits":[...]}` or, on failure,
/// `{"id":"1","status":400,"error":{"code":-1022,"msg":"Signature for this request is not valid."}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceWsApiResponse {
    #[serde(default)]
    pub id: Value,
    pub status: u16,
    #[serde(default)]
    pub error: Option<BinanceWsApiError>,
    /// Our usage after this request; absent with `returnRateLimits=false`.
    #[serde(default, rename = "rateLimits")]
    pub rate_limits: Vec<BinanceWsRateLimit>,
}

/// The `error` of a WebSocket API answer: `{"code":-1003,"msg":"...","data":{"serverTime":..,
/// "retryAfter":<epoch ms>}}` (`data` on 429 and 418 only).
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceWsApiError {
    pub code: i64,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub data: Option<BinanceWsApiErrorData>,
}

/// `error.data` of a throttled or banned WebSocket API request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceWsApiErrorData {
    /// When the pause or ban ends, venue epoch ms.
    #[serde(default)]
    pub retry_after: Option<i64>,
}

/// One entry of a WebSocket API `rateLimits` array:
/// `{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":321}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceWsRateLimit {
    pub rate_limit_type: String,
    pub interval: String,
    pub interval_num: u32,
    #[serde(default)]
    pub count: Option<u64>,
}

/// A user-data event frame on the WebSocket API:
/// `{"subscriptionId":0,"event":{"e":"executionReport",...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceUserEventFrame {
    pub event: Value,
}

/// `executionReport` (user data), e.g.
/// `{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY",
/// "o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","C":"","x":"NEW","X":"NEW","r":"NONE",
/// "i":4293153,"l":"0.00000000","z":"0.00000000","L":"0.00000000","n":"0","N":null,
/// "T":1499405658657,"t":-1,"m":false,"Z":"0.00000000"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceExecutionReport {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "s")]
    pub symbol: String,
    /// Client id; on a cancel, the cancel request's id.
    #[serde(rename = "c")]
    pub client_order_id: String,
    /// On a cancel, the id of the order being canceled; `""` otherwise.
    #[serde(rename = "C", default)]
    pub orig_client_order_id: Option<String>,
    #[serde(rename = "S")]
    pub side: String,
    #[serde(rename = "q")]
    pub quantity: Decimal,
    #[serde(rename = "x")]
    pub execution_type: String,
    #[serde(rename = "X")]
    pub status: String,
    #[serde(rename = "r", default)]
    pub reject_reason: Option<String>,
    /// Why the venue expired the order (`eR`, optional and open-ended: any value is kept).
    #[serde(rename = "eR", default)]
    pub expiry_reason: Option<Value>,
    #[serde(rename = "i")]
    pub order_id: i64,
    #[serde(rename = "l")]
    pub last_quantity: Decimal,
    #[serde(rename = "z")]
    pub cumulative_quantity: Decimal,
    #[serde(rename = "L")]
    pub last_price: Decimal,
    #[serde(rename = "n", default)]
    pub commission: Option<Decimal>,
    #[serde(rename = "N", default)]
    pub commission_asset: Option<String>,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "t")]
    pub trade_id: i64,
    #[serde(rename = "m", default)]
    pub is_maker: bool,
    #[serde(rename = "Z")]
    pub cumulative_quote: Decimal,
}

/// `outboundAccountPosition` (user data):
/// `{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceAccountPosition {
    #[serde(rename = "B")]
    pub balances: Vec<BinanceAccountPositionBalance>,
}

/// `{"a":"ETH","f":"10000.000000","l":"0.000000"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BinanceAccountPositionBalance {
    #[serde(rename = "a")]
    pub asset: String,
    #[serde(rename = "f")]
    pub free: Decimal,
    #[serde(rename = "l")]
    pub locked: Decimal,
}
