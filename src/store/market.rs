//! Market data records: the venue's public trades, sampled book snapshots and one-minute
//! candles, what one market-data flush writes ([`MarketBatch`]) and how they are read back
//! ([`MarketQuery`]: a time range, newest first, paged by cursor).
//!
//! Candles are folded from trades: [`fold_candles`] turns the trades one flush stored (each
//! trade exactly once, since a replayed trade is not stored twice) into per-minute partial
//! candles, and the store merges each into the stored candle with [`Candle::merge`]'s rule,
//! whatever order batches arrive in.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use exchange_core::{Level, Side};
use rust_decimal::Decimal;
use serde::Serialize;

/// Milliseconds in a candle of the stored rollup.
pub const CANDLE_MS: i64 = 60_000;

/// One public trade of a venue symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeRecord {
    pub venue: String,
    pub venue_symbol: String,
    pub trade_id: String,
    pub price: Decimal,
    pub quantity: Decimal,
    /// The aggressor's side.
    pub taker_side: Side,
    /// Venue time of the trade, epoch milliseconds.
    pub time_ms: i64,
    /// When omsd received it, epoch milliseconds.
    pub received_ms: i64,
}

impl TradeRecord {
    /// The order trades are stored, read and paged in: time, then trade id (venue trade ids
    /// are decimal integers: a longer one is larger).
    pub fn position(&self) -> TradePosition<'_> {
        TradePosition {
            time_ms: self.time_ms,
            trade_id: &self.trade_id,
        }
    }
}

/// Where a trade sits in a symbol's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradePosition<'a> {
    pub time_ms: i64,
    pub trade_id: &'a str,
}

impl Ord for TradePosition<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.time_ms
            .cmp(&other.time_ms)
            .then(self.trade_id.len().cmp(&other.trade_id.len()))
            .then(self.trade_id.cmp(other.trade_id))
    }
}

impl PartialOrd for TradePosition<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best levels of an in-sync book at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookSnapshotRecord {
    pub venue: String,
    pub venue_symbol: String,
    /// When the sample was taken, epoch milliseconds.
    pub time_ms: i64,
    /// The book's last applied update id.
    pub update_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// One OHLCV candle of a venue symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candle {
    pub venue: String,
    pub venue_symbol: String,
    /// Start of the candle, epoch milliseconds.
    pub open_time_ms: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    pub trades: i64,
    /// (time, trade id) of the trades that set `open` and `close`.
    #[serde(skip)]
    pub first: (i64, String),
    #[serde(skip)]
    pub last: (i64, String),
}

impl Candle {
    fn position(at: &(i64, String)) -> TradePosition<'_> {
        TradePosition {
            time_ms: at.0,
            trade_id: &at.1,
        }
    }

    /// Folds `other` (the same symbol and minute, other trades) into this candle: the open of
    /// the earliest trade, the close of the latest, extremes, sums.
    pub fn merge(&mut self, other: &Candle) {
        if Self::position(&other.first) < Self::position(&self.first) {
            self.open = other.open;
            self.first = other.first.clone();
        }
        if Self::position(&other.last) > Self::position(&self.last) {
            self.close = other.close;
            self.last = other.last.clone();
        }
        self.high = self.high.max(other.high);
        self.low = self.low.min(other.low);
        self.volume += other.volume;
        self.trades += other.trades;
    }
}

/// The start of the candle holding `time_ms`.
pub fn bucket_of(time_ms: i64, width_ms: i64) -> i64 {
    time_ms.div_euclid(width_ms) * width_ms
}

/// The one-minute candles of `trades` (any order, any symbols), by venue, symbol and minute.
pub fn fold_candles<'a>(trades: impl IntoIterator<Item = &'a TradeRecord>) -> Vec<Candle> {
    let mut candles: BTreeMap<(&str, &str, i64), Candle> = BTreeMap::new();
    for t in trades {
        let bucket = bucket_of(t.time_ms, CANDLE_MS);
        let single = Candle {
            venue: t.venue.clone(),
            venue_symbol: t.venue_symbol.clone(),
            open_time_ms: bucket,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: t.quantity,
            trades: 1,
            first: (t.time_ms, t.trade_id.clone()),
            last: (t.time_ms, t.trade_id.clone()),
        };
        match candles.get_mut(&(t.venue.as_str(), t.venue_symbol.as_str(), bucket)) {
            Some(candle) => candle.merge(&single),
            None => {
                candles.insert((&t.venue, &t.venue_symbol, bucket), single);
            }
        }
    }
    candles.into_values().collect()
}

/// Candles of a wider interval (a whole number of minutes) from one-minute candles of one
/// symbol, newest first as they came.
pub fn widen_candles(minutes: Vec<Candle>, width_ms: i64) -> Vec<Candle> {
    if width_ms == CANDLE_MS {
        return minutes;
    }
    let mut wide: Vec<Candle> = Vec::new();
    for minute in minutes {
        let bucket = bucket_of(minute.open_time_ms, width_ms);
        match wide.last_mut() {
            Some(candle) if candle.open_time_ms == bucket => candle.merge(&minute),
            _ => wide.push(Candle {
                open_time_ms: bucket,
                ..minute
            }),
        }
    }
    wide
}

/// How long market data is kept, and when it is compressed, where the database manages that
/// (TimescaleDB policies), in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketPolicies {
    pub trades_retention_days: u32,
    pub snapshots_retention_days: u32,
    pub compress_after_days: u32,
}

/// What one market-data flush writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketBatch {
    pub trades: Vec<TradeRecord>,
    pub snapshots: Vec<BookSnapshotRecord>,
}

impl MarketBatch {
    pub fn is_empty(&self) -> bool {
        self.trades.is_empty() && self.snapshots.is_empty()
    }

    pub fn len(&self) -> usize {
        self.trades.len() + self.snapshots.len()
    }
}

/// What a flush actually stored (a trade or snapshot already stored is left alone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarketOutcome {
    pub trades_inserted: usize,
    pub snapshots_inserted: usize,
}

/// A read of one venue symbol's market data: `from_ms <= time < to_ms`, newest first, at most
/// `limit` rows, strictly older than `before` (the cursor: the last row of the previous page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketQuery {
    pub venue: String,
    pub venue_symbol: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// (time, trade id) of the last row already read; the id is empty for candles and
    /// snapshots, whose time alone is unique.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

impl MarketQuery {
    /// The newest `limit` rows of a venue symbol, any time.
    pub fn newest(venue: &str, venue_symbol: &str, limit: i64) -> MarketQuery {
        MarketQuery {
            venue: venue.to_owned(),
            venue_symbol: venue_symbol.to_owned(),
            from_ms: None,
            to_ms: None,
            before: None,
            limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn trade(id: &str, time_ms: i64, price: Decimal, quantity: Decimal) -> TradeRecord {
        TradeRecord {
            venue: "sim".into(),
            venue_symbol: "BTCUSDT".into(),
            trade_id: id.into(),
            price,
            quantity,
            taker_side: Side::Buy,
            time_ms,
            received_ms: time_ms + 1,
        }
    }

    #[test]
    fn trade_ids_order_as_numbers_within_a_millisecond() {
        let (nine, ten) = (
            trade("9", 5, dec!(1), dec!(1)),
            trade("10", 5, dec!(1), dec!(1)),
        );
        assert!(nine.position() < ten.position());
        let earlier = trade("11", 4, dec!(1), dec!(1));
        assert!(earlier.position() < nine.position());
    }

    #[test]
    fn candles_fold_the_same_in_any_split_and_order() {
        let trades = [
            trade("9", 60_500, dec!(101), dec!(1)),
            trade("10", 60_500, dec!(99), dec!(2)),
            trade("8", 60_100, dec!(100), dec!(0.5)),
            trade("12", 119_999, dec!(102), dec!(1)),
            trade("13", 120_000, dec!(103), dec!(4)),
        ];
        let whole = fold_candles(&trades);
        let want = [
            (
                60_000,
                dec!(100),
                dec!(102),
                dec!(99),
                dec!(102),
                dec!(4.5),
                4,
            ),
            (
                120_000,
                dec!(103),
                dec!(103),
                dec!(103),
                dec!(103),
                dec!(4),
                1,
            ),
        ];
        let got: Vec<_> = whole
            .iter()
            .map(|c| {
                (
                    c.open_time_ms,
                    c.open,
                    c.high,
                    c.low,
                    c.close,
                    c.volume,
                    c.trades,
                )
            })
            .collect();
        assert_eq!(got, want);

        // Two batches in reverse order, merged as the store merges them.
        let mut merged = fold_candles(&trades[3..]);
        for part in fold_candles(&trades[..3]) {
            match merged
                .iter_mut()
                .find(|c| c.open_time_ms == part.open_time_ms)
            {
                Some(c) => c.merge(&part),
                None => merged.push(part),
            }
        }
        merged.sort_by_key(|c| c.open_time_ms);
        assert_eq!(merged, whole);
    }

    #[test]
    fn minute_candles_widen_to_five_minutes() {
        let trades = [
            trade("1", 0, dec!(10), dec!(1)),
            trade("2", 240_000, dec!(12), dec!(1)),
            trade("3", 300_000, dec!(11), dec!(1)),
        ];
        let mut minutes = fold_candles(&trades);
        minutes.reverse();
        let wide = widen_candles(minutes, 300_000);
        let got: Vec<_> = wide
            .iter()
            .map(|c| (c.open_time_ms, c.open, c.close, c.high, c.trades))
            .collect();
        assert_eq!(
            got,
            [
                (300_000, dec!(11), dec!(11), dec!(11), 1),
                (0, dec!(10), dec!(12), dec!(12), 2)
            ]
        );
    }

    #[test]
    fn buckets_floor_negative_times() {
        assert_eq!(bucket_of(-1, CANDLE_MS), -60_000);
        assert_eq!(bucket_of(59_999, CANDLE_MS), 0);
    }
}
