//! Market statistics payloads of the REST API (`rest-api.md` › Market data endpoints):
//! recent trades, klines (arrays), 24 h tickers (FULL and MINI), book tickers and the
//! average price.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use super::{price, qty, quote};
use crate::engine::{PublicTrade, SymbolDef};
use crate::tape::{Candle, Interval, WindowStats};
use crate::venue::Top;

/// `{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","time":1499865549590,"isBuyerMaker":true,"isBestMatch":true}`
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinancePublicTrade {
    id: u64,
    price: String,
    qty: String,
    quote_qty: String,
    time: i64,
    is_buyer_maker: bool,
    is_best_match: bool,
}

pub(crate) fn public_trade(def: &SymbolDef, t: &PublicTrade) -> BinancePublicTrade {
    BinancePublicTrade {
        id: t.id,
        price: price(def, t.price),
        qty: qty(def, t.qty),
        quote_qty: quote(def, t.price * t.qty),
        time: t.time,
        is_buyer_maker: t.buyer_is_maker,
        is_best_match: true,
    }
}

/// `[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, "0"]`
pub(crate) fn kline(def: &SymbolDef, interval: Interval, c: &Candle) -> Value {
    json!([
        c.open_time,
        price(def, c.open),
        price(def, c.high),
        price(def, c.low),
        price(def, c.close),
        qty(def, c.volume),
        interval.close_time(c.open_time),
        quote(def, c.quote_volume),
        c.trades,
        qty(def, c.taker_buy_volume),
        quote(def, c.taker_buy_quote_volume),
        "0",
    ])
}

/// What a 24 h ticker needs besides the window's bar.
pub(crate) struct TickerInput<'a> {
    pub def: &'a SymbolDef,
    pub stats: &'a WindowStats,
    pub top: Option<Top>,
    pub open_time: i64,
    pub close_time: i64,
    pub full: bool,
}

/// `GET /api/v3/ticker/24hr` for one symbol, FULL or MINI.
pub(crate) fn ticker_24hr(t: &TickerInput<'_>) -> Value {
    let def = t.def;
    let zero = Decimal::ZERO;
    let bar = t.stats.bar.as_ref();
    let (open, high, low, last) = bar.map_or((zero, zero, zero, zero), |b| {
        (b.open, b.high, b.low, b.close)
    });
    let (volume, quote_volume) = bar.map_or((zero, zero), |b| (b.volume, b.quote_volume));
    let (first_id, last_id, count) = bar.map_or((-1, -1, 0), |b| {
        let id = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        (id(b.first_id), id(b.last_id), b.trades)
    });
    let mut body = json!({
        "symbol": def.name,
        "openPrice": price(def, open),
        "highPrice": price(def, high),
        "lowPrice": price(def, low),
        "lastPrice": price(def, last),
        "volume": qty(def, volume),
        "quoteVolume": quote(def, quote_volume),
        "openTime": t.open_time,
        "closeTime": t.close_time,
        "firstId": first_id,
        "lastId": last_id,
        "count": count,
    });
    if !t.full {
        return body;
    }
    let change = last - open;
    let percent = if open.is_zero() {
        zero
    } else {
        change * Decimal::ONE_HUNDRED / open
    };
    let weighted = if volume.is_zero() {
        zero
    } else {
        quote_volume / volume
    };
    let (bid, ask) = t
        .top
        .map_or(((zero, zero), (zero, zero)), |top| (top.bid, top.ask));
    let full = json!({
        "priceChange": price(def, change),
        "priceChangePercent": crate::format::fixed(percent, 3),
        "weightedAvgPrice": price(def, weighted),
        "prevClosePrice": price(def, t.stats.prev_close.unwrap_or(open)),
        "lastQty": qty(def, t.stats.last_qty),
        "bidPrice": price(def, bid.0),
        "bidQty": qty(def, bid.1),
        "askPrice": price(def, ask.0),
        "askQty": qty(def, ask.1),
    });
    if let (Some(body), Value::Object(full)) = (body.as_object_mut(), full) {
        body.extend(full);
    }
    body
}

/// `{"symbol":"LTCBTC","bidPrice":"4.00000000","bidQty":"431.00000000","askPrice":"4.00000200","askQty":"9.00000000"}`
pub(crate) fn book_ticker(def: &SymbolDef, top: Option<Top>) -> Value {
    let zero = (Decimal::ZERO, Decimal::ZERO);
    let (bid, ask) = top.map_or((zero, zero), |t| (t.bid, t.ask));
    json!({
        "symbol": def.name,
        "bidPrice": price(def, bid.0),
        "bidQty": qty(def, bid.1),
        "askPrice": price(def, ask.0),
        "askQty": qty(def, ask.1),
    })
}

/// `{"mins":5,"price":"9.35751834","closeTime":1694061154503}`
pub(crate) fn avg_price(def: &SymbolDef, mins: i64, value: Decimal, close_time: i64) -> Value {
    json!({ "mins": mins, "price": price(def, value), "closeTime": close_time })
}
