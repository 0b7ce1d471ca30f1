//! Market statistics streams (`web-socket-streams.md`): `<symbol>@kline_<interval>`,
//! `<symbol>@ticker`, `<symbol>@miniTicker` and `<symbol>@avgPrice`. The tickers carry the
//! same numbers as `GET /api/v3/ticker/24hr` under the stream's one-letter keys.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::{price, qty, quote};
use crate::engine::SymbolDef;
use crate::tape::{Candle, Interval};

/// REST ticker keys and their stream spelling, in the stream's order.
const TICKER_KEYS: [(&str, &str); 20] = [
    ("priceChange", "p"),
    ("priceChangePercent", "P"),
    ("weightedAvgPrice", "w"),
    ("prevClosePrice", "x"),
    ("lastPrice", "c"),
    ("lastQty", "Q"),
    ("bidPrice", "b"),
    ("bidQty", "B"),
    ("askPrice", "a"),
    ("askQty", "A"),
    ("openPrice", "o"),
    ("highPrice", "h"),
    ("lowPrice", "l"),
    ("volume", "v"),
    ("quoteVolume", "q"),
    ("openTime", "O"),
    ("closeTime", "C"),
    ("firstId", "F"),
    ("lastId", "L"),
    ("count", "n"),
];

/// `{"e":"24hrTicker","E":..,"s":"BNBBTC","p":..,..,"n":..}` (or `24hrMiniTicker` with
/// `c o h l v q`) from a REST ticker object of the same symbol and window.
pub(crate) fn ticker(rest: &Value, mini: bool, now: i64) -> Value {
    let mut event = Map::new();
    let name = if mini { "24hrMiniTicker" } else { "24hrTicker" };
    event.insert("e".into(), json!(name));
    event.insert("E".into(), json!(now));
    event.insert("s".into(), rest["symbol"].clone());
    for (long, short) in TICKER_KEYS {
        if mini && !["c", "o", "h", "l", "v", "q"].contains(&short) {
            continue;
        }
        if let Some(value) = rest.get(long) {
            event.insert(short.into(), value.clone());
        }
    }
    Value::Object(event)
}

/// `{"e":"kline","E":..,"s":..,"k":{"t","T","s","i","f","L","o","c","h","l","v","n","x","q","V","Q","B"}}`.
/// An interval without trades yet has `f`/`L` -1, zero volumes and `last_close` as every price.
pub(crate) fn kline(
    def: &SymbolDef,
    interval: Interval,
    open_time: i64,
    candle: Option<&Candle>,
    last_close: Decimal,
    closed: bool,
    now: i64,
) -> Value {
    let zero = Decimal::ZERO;
    let id = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let (o, h, l, c) = candle.map_or((last_close, last_close, last_close, last_close), |k| {
        (k.open, k.high, k.low, k.close)
    });
    json!({
        "e": "kline",
        "E": now,
        "s": def.name,
        "k": {
            "t": open_time,
            "T": interval.close_time(open_time),
            "s": def.name,
            "i": interval.name(),
            "f": candle.map_or(-1, |k| id(k.first_id)),
            "L": candle.map_or(-1, |k| id(k.last_id)),
            "o": price(def, o),
            "c": price(def, c),
            "h": price(def, h),
            "l": price(def, l),
            "v": qty(def, candle.map_or(zero, |k| k.volume)),
            "n": candle.map_or(0, |k| k.trades),
            "x": closed,
            "q": quote(def, candle.map_or(zero, |k| k.quote_volume)),
            "V": qty(def, candle.map_or(zero, |k| k.taker_buy_volume)),
            "Q": quote(def, candle.map_or(zero, |k| k.taker_buy_quote_volume)),
            "B": "0",
        }
    })
}

/// `{"e":"avgPrice","E":..,"s":..,"i":"5m","w":"25776.86000000","T":<last trade time>}`
pub(crate) fn avg_price(
    def: &SymbolDef,
    mins: i64,
    value: Decimal,
    last_trade: i64,
    now: i64,
) -> Value {
    json!({
        "e": "avgPrice",
        "E": now,
        "s": def.name,
        "i": format!("{mins}m"),
        "w": price(def, value),
        "T": last_trade,
    })
}
