//! The market's recent history per symbol, kept by the venue actor as trades happen: the last
//! public trades (`/api/v3/trades`), aggregate trades (`/api/v3/aggTrades`, the `@aggTrade`
//! stream: consecutive trades of one taker at one price), and 1-second and 1-minute bars from
//! which klines, rolling 24 h tickers and the average price are computed. Everything is bounded.

mod candles;

use std::collections::VecDeque;

use rust_decimal::Decimal;

use candles::{Bars, aggregate};
pub(crate) use candles::{Candle, Interval};

use crate::engine::{OrderId, PublicTrade, SymbolId, TradeId};

/// Trades and aggregate trades kept per symbol.
const TRADES_KEPT: usize = 10_000;
/// 1-second bars kept (one hour).
const SECONDS_KEPT: usize = 3_600;
/// 1-minute bars kept (31 days, enough for a monthly kline and the 24 h ticker).
const MINUTES_KEPT: usize = 44_640;
const DAY_MS: i64 = 86_400_000;

/// One aggregate trade: trades `first_id..=last_id` of one taker at one price.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AggTrade {
    pub symbol: SymbolId,
    pub id: u64,
    pub price: Decimal,
    pub qty: Decimal,
    pub first_id: TradeId,
    pub last_id: TradeId,
    pub time: i64,
    pub buyer_is_maker: bool,
    taker: OrderId,
}

/// Which aggregate trades to return.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AggFilter {
    pub from_id: Option<u64>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub limit: usize,
}

/// A rolling window's statistics (24 h ticker).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct WindowStats {
    /// Aggregated bar of the window; `None` without trades.
    pub bar: Option<Candle>,
    /// Close of the last bar before the window.
    pub prev_close: Option<Decimal>,
    pub last_qty: Decimal,
}

#[derive(Debug)]
struct SymbolTape {
    trades: VecDeque<PublicTrade>,
    aggs: VecDeque<AggTrade>,
    next_agg: u64,
    seconds: Bars,
    minutes: Bars,
}

/// History of every symbol.
#[derive(Debug)]
pub(crate) struct Tape {
    symbols: Vec<SymbolTape>,
}

impl Tape {
    pub fn new(symbol_count: usize) -> Self {
        let symbols = (0..symbol_count)
            .map(|_| SymbolTape {
                trades: VecDeque::new(),
                aggs: VecDeque::new(),
                next_agg: 1,
                seconds: Bars::new(1_000, SECONDS_KEPT),
                minutes: Bars::new(60_000, MINUTES_KEPT),
            })
            .collect();
        Self { symbols }
    }

    /// Records a trade; returns the aggregate trade it started or extended.
    pub fn record(&mut self, t: &PublicTrade) -> Option<&AggTrade> {
        let tape = self.symbols.get_mut(t.symbol.0)?;
        tape.seconds.record(t);
        tape.minutes.record(t);
        push_bounded(&mut tape.trades, t.clone());
        let extends = tape.aggs.back().is_some_and(|a| {
            a.taker == t.taker_order_id && a.price == t.price && a.last_id + 1 == t.id
        });
        if extends {
            if let Some(agg) = tape.aggs.back_mut() {
                agg.qty += t.qty;
                agg.last_id = t.id;
            }
        } else {
            let agg = AggTrade {
                symbol: t.symbol,
                id: tape.next_agg,
                price: t.price,
                qty: t.qty,
                first_id: t.id,
                last_id: t.id,
                time: t.time,
                buyer_is_maker: t.buyer_is_maker,
                taker: t.taker_order_id,
            };
            tape.next_agg += 1;
            push_bounded(&mut tape.aggs, agg);
        }
        tape.aggs.back()
    }

    /// The latest `limit` trades, oldest first.
    pub fn trades(&self, symbol: SymbolId, limit: usize) -> Vec<PublicTrade> {
        self.symbols.get(symbol.0).map_or_else(Vec::new, |tape| {
            let skip = tape.trades.len().saturating_sub(limit);
            tape.trades.iter().skip(skip).cloned().collect()
        })
    }

    /// The first `limit` kept trades with an id of at least `from_id`, oldest first.
    pub fn trades_from(&self, symbol: SymbolId, from_id: u64, limit: usize) -> Vec<PublicTrade> {
        self.symbols.get(symbol.0).map_or_else(Vec::new, |tape| {
            let start = tape.trades.partition_point(|t| t.id < from_id);
            tape.trades
                .iter()
                .skip(start)
                .take(limit)
                .cloned()
                .collect()
        })
    }

    /// Aggregate trades: from an id or a start time the first `limit`, else the latest `limit`.
    pub fn agg_trades(&self, symbol: SymbolId, f: AggFilter) -> Vec<AggTrade> {
        let Some(tape) = self.symbols.get(symbol.0) else {
            return Vec::new();
        };
        let matching: Vec<&AggTrade> = tape
            .aggs
            .iter()
            .filter(|a| {
                f.from_id.is_none_or(|id| a.id >= id)
                    && f.start_time.is_none_or(|t| a.time >= t)
                    && f.end_time.is_none_or(|t| a.time <= t)
            })
            .collect();
        let skip = if f.from_id.is_some() || f.start_time.is_some() {
            0
        } else {
            matching.len().saturating_sub(f.limit)
        };
        matching
            .into_iter()
            .skip(skip)
            .take(f.limit)
            .cloned()
            .collect()
    }

    /// Klines of an interval: from `start` the first `limit`, else the latest `limit`.
    pub fn klines(
        &self,
        symbol: SymbolId,
        interval: Interval,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
    ) -> Vec<Candle> {
        let Some(tape) = self.symbols.get(symbol.0) else {
            return Vec::new();
        };
        let base = if interval.uses_second_bars() {
            &tape.seconds
        } else {
            &tape.minutes
        };
        let bars = aggregate(
            base.since(start.map_or(i64::MIN, |s| interval.open_time(s))),
            interval,
        );
        let in_range: Vec<Candle> = bars
            .into_iter()
            .filter(|c| start.is_none_or(|s| c.open_time >= interval.open_time(s)))
            .filter(|c| end.is_none_or(|e| c.open_time <= e))
            .collect();
        let skip = if start.is_some() {
            0
        } else {
            in_range.len().saturating_sub(limit)
        };
        in_range.into_iter().skip(skip).take(limit).collect()
    }

    /// Statistics of the last 24 h (at minute granularity) up to `now`.
    pub fn window_24h(&self, symbol: SymbolId, now: i64) -> WindowStats {
        let Some(tape) = self.symbols.get(symbol.0) else {
            return WindowStats::default();
        };
        let since = now - DAY_MS;
        let mut bar: Option<Candle> = None;
        for candle in tape.minutes.since(since) {
            match bar.as_mut() {
                Some(bar) => bar.merge(candle),
                None => bar = Some(candle.clone()),
            }
        }
        let prev_close = tape
            .minutes
            .iter()
            .rev()
            .find(|c| c.open_time < since)
            .map(|c| c.close);
        WindowStats {
            bar,
            prev_close,
            last_qty: tape.trades.back().map_or(Decimal::ZERO, |t| t.qty),
        }
    }

    /// Volume-weighted average price of the last `mins` minutes, else the last trade price.
    pub fn average_price(&self, symbol: SymbolId, mins: i64, now: i64) -> Option<Decimal> {
        let tape = self.symbols.get(symbol.0)?;
        let since = (now - mins * 60_000).div_euclid(60_000) * 60_000;
        let (volume, quote) = tape
            .minutes
            .since(since)
            .fold((Decimal::ZERO, Decimal::ZERO), |(v, q), c| {
                (v + c.volume, q + c.quote_volume)
            });
        if volume > Decimal::ZERO {
            return Some(quote / volume);
        }
        tape.trades.back().map(|t| t.price)
    }
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T) {
    list.push_back(item);
    if list.len() > TRADES_KEPT {
        list.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn trade(id: u64, taker: u64, price: Decimal, time: i64) -> PublicTrade {
        PublicTrade {
            symbol: SymbolId(0),
            id,
            price,
            qty: dec!(0.5),
            time,
            buyer_is_maker: false,
            taker_order_id: taker,
        }
    }

    #[test]
    fn aggregates_one_taker_at_one_price() {
        let mut tape = Tape::new(1);
        let trades = [
            trade(1, 7, dec!(100), 1_000),
            trade(2, 7, dec!(100), 1_000),
            trade(3, 7, dec!(101), 1_000),
            trade(4, 8, dec!(101), 2_000),
        ];
        let ids: Vec<u64> = trades
            .iter()
            .filter_map(|t| tape.record(t).map(|a| a.id))
            .collect();
        assert_eq!(ids, vec![1, 1, 2, 3]);
        let aggs = tape.agg_trades(
            SymbolId(0),
            AggFilter {
                limit: 10,
                ..AggFilter::default()
            },
        );
        assert_eq!(aggs.len(), 3);
        assert_eq!(
            (aggs[0].first_id, aggs[0].last_id, aggs[0].qty),
            (1, 2, dec!(1.0))
        );
        let from = AggFilter {
            from_id: Some(2),
            limit: 1,
            ..AggFilter::default()
        };
        assert_eq!(tape.agg_trades(SymbolId(0), from)[0].id, 2);
        let latest = AggFilter {
            limit: 1,
            ..AggFilter::default()
        };
        assert_eq!(tape.agg_trades(SymbolId(0), latest)[0].id, 3);
        assert_eq!(
            tape.trades(SymbolId(0), 2)
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>(),
            vec![3, 4]
        );
    }

    #[test]
    fn window_and_average_price() {
        let mut tape = Tape::new(1);
        tape.record(&trade(1, 1, dec!(100), 0));
        tape.record(&trade(2, 2, dec!(110), DAY_MS));
        tape.record(&trade(3, 3, dec!(130), DAY_MS + 60_000));
        let stats = tape.window_24h(SymbolId(0), DAY_MS + 90_000);
        let bar = stats.bar.unwrap();
        assert_eq!(
            (bar.open, bar.high, bar.close, bar.trades),
            (dec!(110), dec!(130), dec!(130), 2)
        );
        assert_eq!(stats.prev_close, Some(dec!(100)));
        assert_eq!(
            tape.average_price(SymbolId(0), 5, DAY_MS + 90_000),
            Some(dec!(120))
        );
        let klines = tape.klines(SymbolId(0), Interval::parse("1d").unwrap(), None, None, 500);
        assert_eq!(klines.len(), 2);
        let from = tape.klines(
            SymbolId(0),
            Interval::parse("1m").unwrap(),
            Some(DAY_MS),
            None,
            1,
        );
        assert_eq!(from[0].open, dec!(110));
    }
}
