//! Candles (klines) of one symbol: 1-second and 1-minute OHLCV bars built as trades happen,
//! bounded, and the venue's kline intervals (`1s` .. `1M`) aggregated from them on demand.
//! Weeks open on Monday 00:00 UTC and months on the 1st, as on the venue.

use std::collections::VecDeque;

use rust_decimal::Decimal;

use crate::engine::{PublicTrade, TradeId};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 1970-01-01 was a Thursday; weeks open four days later.
const WEEK_OFFSET: i64 = 4 * DAY;

/// A kline interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Interval {
    /// A fixed length in ms.
    Fixed(i64),
    Week,
    Month,
}

impl Interval {
    /// Every interval the venue lists, by name.
    pub const NAMES: [&'static str; 16] = [
        "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
        "1w", "1M",
    ];

    /// The venue's name of this interval (`"1m"`).
    pub fn name(self) -> &'static str {
        Self::NAMES
            .into_iter()
            .find(|n| Self::parse(n) == Some(self))
            .unwrap_or("1m")
    }

    /// Parses the venue's interval names (`1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M`).
    pub fn parse(text: &str) -> Option<Self> {
        let fixed = |ms| Some(Interval::Fixed(ms));
        match text {
            "1s" => fixed(SECOND),
            "1m" => fixed(MINUTE),
            "3m" => fixed(3 * MINUTE),
            "5m" => fixed(5 * MINUTE),
            "15m" => fixed(15 * MINUTE),
            "30m" => fixed(30 * MINUTE),
            "1h" => fixed(HOUR),
            "2h" => fixed(2 * HOUR),
            "4h" => fixed(4 * HOUR),
            "6h" => fixed(6 * HOUR),
            "8h" => fixed(8 * HOUR),
            "12h" => fixed(12 * HOUR),
            "1d" => fixed(DAY),
            "3d" => fixed(3 * DAY),
            "1w" => Some(Interval::Week),
            "1M" => Some(Interval::Month),
            _ => None,
        }
    }

    /// Start of the bar containing `t` (ms).
    pub fn open_time(self, t: i64) -> i64 {
        match self {
            Interval::Fixed(len) => t.div_euclid(len) * len,
            Interval::Week => (t - WEEK_OFFSET).div_euclid(7 * DAY) * 7 * DAY + WEEK_OFFSET,
            Interval::Month => {
                let (year, month, _) = civil_from_days(t.div_euclid(DAY));
                days_from_civil(year, month, 1) * DAY
            }
        }
    }

    /// Last ms of the bar that opens at `open`.
    pub fn close_time(self, open: i64) -> i64 {
        match self {
            Interval::Fixed(len) => open + len - 1,
            Interval::Week => open + 7 * DAY - 1,
            Interval::Month => {
                let (year, month, _) = civil_from_days(open.div_euclid(DAY));
                let (year, month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                days_from_civil(year, month, 1) * DAY - 1
            }
        }
    }

    /// Whether bars of this interval are built from 1-second bars (else 1-minute bars).
    pub fn uses_second_bars(self) -> bool {
        self == Interval::Fixed(SECOND)
    }
}

/// One OHLCV bar.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Candle {
    pub open_time: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    pub quote_volume: Decimal,
    pub trades: u64,
    pub taker_buy_volume: Decimal,
    pub taker_buy_quote_volume: Decimal,
    pub first_id: TradeId,
    pub last_id: TradeId,
}

impl Candle {
    fn new(open_time: i64, t: &PublicTrade) -> Self {
        let mut candle = Candle {
            open_time,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: Decimal::ZERO,
            quote_volume: Decimal::ZERO,
            trades: 0,
            taker_buy_volume: Decimal::ZERO,
            taker_buy_quote_volume: Decimal::ZERO,
            first_id: t.id,
            last_id: t.id,
        };
        candle.add(t);
        candle.trades = 1;
        candle
    }

    fn add(&mut self, t: &PublicTrade) {
        let quote = t.price * t.qty;
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.close = t.price;
        self.volume += t.qty;
        self.quote_volume += quote;
        self.trades += 1;
        self.last_id = t.id;
        if !t.buyer_is_maker {
            self.taker_buy_volume += t.qty;
            self.taker_buy_quote_volume += quote;
        }
    }

    /// Folds a later bar into this one.
    pub fn merge(&mut self, later: &Candle) {
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume += later.volume;
        self.quote_volume += later.quote_volume;
        self.trades += later.trades;
        self.taker_buy_volume += later.taker_buy_volume;
        self.taker_buy_quote_volume += later.taker_buy_quote_volume;
        self.last_id = later.last_id;
    }
}

/// Bars of one fixed length, oldest first, at most `capacity`.
#[derive(Debug)]
pub(crate) struct Bars {
    len: i64,
    capacity: usize,
    bars: VecDeque<Candle>,
}

impl Bars {
    pub fn new(len: i64, capacity: usize) -> Self {
        Self {
            len,
            capacity: capacity.max(1),
            bars: VecDeque::new(),
        }
    }

    pub fn record(&mut self, t: &PublicTrade) {
        let open = t.time.div_euclid(self.len) * self.len;
        match self.bars.back_mut() {
            Some(last) if last.open_time == open => last.add(t),
            _ => {
                self.bars.push_back(Candle::new(open, t));
                if self.bars.len() > self.capacity {
                    self.bars.pop_front();
                }
            }
        }
    }

    /// Bars that open at or after `since`.
    pub fn since(&self, since: i64) -> impl Iterator<Item = &Candle> {
        let start = self.bars.partition_point(|c| c.open_time < since);
        self.bars.range(start..)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Candle> {
        self.bars.iter()
    }
}

/// Bars of `interval` built from `base` bars, oldest first.
pub(crate) fn aggregate<'a>(
    base: impl Iterator<Item = &'a Candle>,
    interval: Interval,
) -> Vec<Candle> {
    let mut out: Vec<Candle> = Vec::new();
    for bar in base {
        let open = interval.open_time(bar.open_time);
        match out.last_mut() {
            Some(last) if last.open_time == open => last.merge(bar),
            _ => out.push(Candle {
                open_time: open,
                ..bar.clone()
            }),
        }
    }
    out
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn trade(id: u64, time: i64, price: Decimal) -> PublicTrade {
        PublicTrade {
            symbol: crate::engine::SymbolId(0),
            id,
            price,
            qty: dec!(1),
            time,
            buyer_is_maker: id % 2 == 0,
            taker_order_id: id,
        }
    }

    #[test]
    fn interval_table() {
        // 2024-02-15T10:30:00Z, a Thursday.
        let t = 1_707_993_000_000;
        let cases = [
            ("1m", 1_707_993_000_000, 1_707_993_059_999),
            ("1h", 1_707_991_200_000, 1_707_994_799_999),
            ("1d", 1_707_955_200_000, 1_708_041_599_999),
            ("1w", 1_707_696_000_000, 1_708_300_799_999), // Monday 2024-02-12
            ("1M", 1_706_745_600_000, 1_709_251_199_999), // 2024-02-01 .. 2024-02-29 (leap)
        ];
        for (name, open, close) in cases {
            let interval = Interval::parse(name).unwrap();
            assert_eq!(interval.open_time(t), open, "{name}");
            assert_eq!(interval.close_time(open), close, "{name}");
        }
        assert_eq!(Interval::parse("2m"), None);
        assert_eq!(Interval::parse("1y"), None);
    }

    #[test]
    fn bars_and_aggregation() {
        let mut bars = Bars::new(MINUTE, 3);
        for (id, (time, price)) in [
            (0, dec!(10)),
            (30_000, dec!(12)),
            (60_000, dec!(9)),
            (180_000, dec!(11)),
        ]
        .into_iter()
        .enumerate()
        {
            bars.record(&trade(id as u64 + 1, time, price));
        }
        let list: Vec<_> = bars.iter().cloned().collect();
        assert_eq!(list.len(), 3);
        assert_eq!(
            (list[0].open, list[0].high, list[0].close, list[0].trades),
            (dec!(10), dec!(12), dec!(12), 2)
        );
        let five = aggregate(bars.iter(), Interval::parse("5m").unwrap());
        assert_eq!(five.len(), 1);
        assert_eq!(
            (
                five[0].low,
                five[0].close,
                five[0].volume,
                five[0].first_id,
                five[0].last_id
            ),
            (dec!(9), dec!(11), dec!(4), 1, 4)
        );
        assert_eq!(bars.since(60_000).count(), 2);
        let mut small = Bars::new(MINUTE, 2);
        for id in 0..3 {
            small.record(&trade(id, id as i64 * MINUTE, dec!(1)));
        }
        assert_eq!(
            small.iter().next().map(|c| c.open_time),
            Some(MINUTE),
            "oldest dropped"
        );
    }
}
