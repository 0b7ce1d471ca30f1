//! Event payloads: market streams (`depthUpdate`, `trade`, `aggTrade`, `bookTicker`,
//! `serverShutdown`) and user data (`executionReport`, `outboundAccountPosition`,
//! `eventStreamTerminated`, `listenKeyExpired`), as documented in
//! `web-socket-streams.md` and `user-data-stream.md`.

use serde::Serialize;

use super::{
    amount, exec_type, order_type, price, qty, quote, side, status, stp_mode, time_in_force,
};
use crate::engine::{BalanceUpdate, Catalog, ExecutionReport, PublicTrade, SymbolDef};
use crate::feed::DepthDiff;
use crate::tape::AggTrade;
use crate::venue::Top;

/// `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}`
#[derive(Serialize)]
pub(crate) struct BinanceDepthUpdate<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: &'a str,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    b: Vec<[String; 2]>,
    a: Vec<[String; 2]>,
}

pub(crate) fn depth_update<'a>(
    def: &'a SymbolDef,
    diff: &DepthDiff,
    now: i64,
) -> BinanceDepthUpdate<'a> {
    let levels = |list: &[(rust_decimal::Decimal, rust_decimal::Decimal)]| {
        list.iter()
            .map(|(p, q)| [price(def, *p), qty(def, *q)])
            .collect()
    };
    BinanceDepthUpdate {
        e: "depthUpdate",
        event_time: now,
        s: &def.name,
        first: diff.first,
        u: diff.last,
        b: levels(&diff.bids),
        a: levels(&diff.asks),
    }
}

/// `{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}`
#[derive(Serialize)]
pub(crate) struct BinanceTrade<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: &'a str,
    t: u64,
    p: String,
    q: String,
    #[serde(rename = "T")]
    trade_time: i64,
    m: bool,
    #[serde(rename = "M")]
    best_match: bool,
}

pub(crate) fn trade<'a>(def: &'a SymbolDef, t: &PublicTrade) -> BinanceTrade<'a> {
    BinanceTrade {
        e: "trade",
        event_time: t.time,
        s: &def.name,
        t: t.id,
        p: price(def, t.price),
        q: qty(def, t.qty),
        trade_time: t.time,
        m: t.buyer_is_maker,
        best_match: true,
    }
}

/// `executionReport`: one per order state change (see `user-data-stream.md` › Order Update).
#[derive(Serialize)]
pub(crate) struct BinanceExecutionReport<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: &'a str,
    c: &'a str,
    #[serde(rename = "S")]
    side: &'static str,
    o: &'static str,
    f: &'static str,
    q: String,
    p: String,
    #[serde(rename = "P")]
    stop_price: String,
    #[serde(rename = "F")]
    iceberg_qty: String,
    g: i64,
    #[serde(rename = "C")]
    orig_client_order_id: &'a str,
    x: &'static str,
    #[serde(rename = "X")]
    status: &'static str,
    r: &'static str,
    i: u64,
    l: String,
    z: String,
    #[serde(rename = "L")]
    last_price: String,
    n: String,
    #[serde(rename = "N")]
    commission_asset: Option<&'a str>,
    #[serde(rename = "T")]
    transaction_time: i64,
    t: i64,
    #[serde(rename = "I")]
    execution_id: u64,
    w: bool,
    m: bool,
    #[serde(rename = "M")]
    ignore: bool,
    #[serde(rename = "O")]
    creation_time: i64,
    #[serde(rename = "Z")]
    cumm_quote: String,
    #[serde(rename = "Y")]
    last_quote: String,
    #[serde(rename = "Q")]
    quote_order_qty: String,
    #[serde(rename = "W")]
    working_time: i64,
    #[serde(rename = "V")]
    stp_mode: &'static str,
    /// Prevented match id (self-trade prevention only).
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<u64>,
    /// Prevented quantity (self-trade prevention only).
    #[serde(rename = "A", skip_serializing_if = "Option::is_none")]
    prevented_qty: Option<String>,
    /// Last prevented quantity (self-trade prevention only).
    #[serde(rename = "B", skip_serializing_if = "Option::is_none")]
    last_prevented_qty: Option<String>,
    /// Counter order id (self-trade prevention only).
    #[serde(rename = "U", skip_serializing_if = "Option::is_none")]
    counter_order_id: Option<u64>,
    /// Expiry reason (expired orders only).
    #[serde(rename = "eR", skip_serializing_if = "Option::is_none")]
    expiry_reason: Option<&'static str>,
}

/// Builds an executionReport. On a cancel `c` is the cancel request's id and `C` the order's.
pub(crate) fn execution_report<'a>(
    catalog: &'a Catalog,
    def: &'a SymbolDef,
    r: &'a ExecutionReport,
    execution_id: u64,
) -> BinanceExecutionReport<'a> {
    let o = &r.order;
    let (c, orig) = match &r.cancel_client_id {
        Some(cancel) => (cancel.as_str(), o.client_order_id.as_str()),
        None => (o.client_order_id.as_str(), ""),
    };
    let zero = rust_decimal::Decimal::ZERO;
    let last = r.last.as_ref();
    BinanceExecutionReport {
        e: "executionReport",
        event_time: r.time,
        s: &def.name,
        c,
        side: side(o.side),
        o: order_type(o.order_type),
        f: time_in_force(o.time_in_force),
        q: qty(def, o.orig_qty),
        p: price(def, o.price),
        stop_price: price(def, zero),
        iceberg_qty: qty(def, zero),
        g: -1,
        orig_client_order_id: orig,
        x: exec_type(r.exec_type),
        status: status(o.status),
        r: "NONE",
        i: o.id,
        l: qty(def, last.map_or(zero, |f| f.qty)),
        z: qty(def, o.executed_qty),
        last_price: price(def, last.map_or(zero, |f| f.price)),
        n: last.map_or_else(|| "0".to_owned(), |f| amount(f.commission)),
        commission_asset: last.map(|f| catalog.asset_name(f.commission_asset)),
        transaction_time: r.time,
        t: last.map_or(-1, |f| i64::try_from(f.trade_id).unwrap_or(i64::MAX)),
        execution_id,
        w: o.status.is_open(),
        m: last.is_some_and(|f| f.is_maker),
        ignore: false,
        creation_time: o.time,
        cumm_quote: quote(def, o.cumm_quote_qty),
        last_quote: quote(def, last.map_or(zero, |f| f.price * f.qty)),
        quote_order_qty: quote(def, o.orig_quote_qty),
        working_time: o.time,
        stp_mode: stp_mode(o.stp),
        v: o.prevented_match_id,
        prevented_qty: o.prevented_match_id.map(|_| qty(def, o.prevented_qty)),
        last_prevented_qty: r.prevention.map(|p| qty(def, p.qty)),
        counter_order_id: r.prevention.map(|p| p.counter_order_id),
        expiry_reason: super::expiry_reason(o),
    }
}

/// `{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}]}`
#[derive(Serialize)]
pub(crate) struct BinanceAccountPosition<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    u: i64,
    #[serde(rename = "B")]
    balances: Vec<BinancePositionBalance<'a>>,
}

#[derive(Serialize)]
pub(crate) struct BinancePositionBalance<'a> {
    a: &'a str,
    f: String,
    l: String,
}

pub(crate) fn account_position<'a>(
    catalog: &'a Catalog,
    update: &BalanceUpdate,
) -> BinanceAccountPosition<'a> {
    let balances = update
        .balances
        .iter()
        .map(|(asset, b)| BinancePositionBalance {
            a: catalog.asset_name(*asset),
            f: amount(b.free),
            l: amount(b.locked),
        })
        .collect();
    BinanceAccountPosition {
        e: "outboundAccountPosition",
        event_time: update.time,
        u: update.time,
        balances,
    }
}

/// `{"e":"eventStreamTerminated","E":1728973001334}`
#[derive(Serialize)]
pub(crate) struct BinanceStreamTerminated {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
}

pub(crate) fn stream_terminated(now: i64) -> BinanceStreamTerminated {
    BinanceStreamTerminated {
        e: "eventStreamTerminated",
        event_time: now,
    }
}

/// `{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}`
#[derive(Serialize)]
pub(crate) struct BinanceAggTradeEvent<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: &'a str,
    #[serde(flatten)]
    agg: BinanceAggTrade,
}

/// One aggregate trade as `GET /api/v3/aggTrades` lists it:
/// `{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}`
#[derive(Serialize)]
pub(crate) struct BinanceAggTrade {
    a: u64,
    p: String,
    q: String,
    f: u64,
    l: u64,
    #[serde(rename = "T")]
    time: i64,
    m: bool,
    #[serde(rename = "M")]
    best_match: bool,
}

pub(crate) fn agg_trade_entry(def: &SymbolDef, a: &AggTrade) -> BinanceAggTrade {
    BinanceAggTrade {
        a: a.id,
        p: price(def, a.price),
        q: qty(def, a.qty),
        f: a.first_id,
        l: a.last_id,
        time: a.time,
        m: a.buyer_is_maker,
        best_match: true,
    }
}

pub(crate) fn agg_trade<'a>(def: &'a SymbolDef, a: &AggTrade) -> BinanceAggTradeEvent<'a> {
    BinanceAggTradeEvent {
        e: "aggTrade",
        event_time: a.time,
        s: &def.name,
        agg: agg_trade_entry(def, a),
    }
}

/// `{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}`
#[derive(Serialize)]
pub(crate) struct BinanceBookTicker<'a> {
    u: u64,
    s: &'a str,
    b: String,
    #[serde(rename = "B")]
    bid_qty: String,
    a: String,
    #[serde(rename = "A")]
    ask_qty: String,
}

pub(crate) fn book_ticker<'a>(
    def: &'a SymbolDef,
    update_id: u64,
    top: &Top,
) -> BinanceBookTicker<'a> {
    BinanceBookTicker {
        u: update_id,
        s: &def.name,
        b: price(def, top.bid.0),
        bid_qty: qty(def, top.bid.1),
        a: price(def, top.ask.0),
        ask_qty: qty(def, top.ask.1),
    }
}

/// `{"e":"serverShutdown","E":1770123456789}`
#[derive(Serialize)]
pub(crate) struct BinanceServerShutdown {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
}

pub(crate) fn server_shutdown(now: i64) -> BinanceServerShutdown {
    BinanceServerShutdown {
        e: "serverShutdown",
        event_time: now,
    }
}

/// `{"e":"listenKeyExpired","E":1699596037418,"listenKey":"OfYG..."}`
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceListenKeyExpired<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    listen_key: &'a str,
}

pub(crate) fn listen_key_expired(listen_key: &str, now: i64) -> BinanceListenKeyExpired<'_> {
    BinanceListenKeyExpired {
        e: "listenKeyExpired",
        event_time: now,
        listen_key,
    }
}
