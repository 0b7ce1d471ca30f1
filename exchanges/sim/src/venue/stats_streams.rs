//! The market statistics streams, published on a one-second timer from the tape and books:
//! `@kline_<interval>` (1s klines every second, the other intervals every two seconds, and
//! the finished kline once more with `x: true` when its interval rolls over), `@ticker`,
//! `@miniTicker` and `@avgPrice` every second. Nothing is computed while nobody listens.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;

use super::{Venue, to_json, top_of_book};
use crate::bus::StreamKind;
use crate::engine::{Engine, SymbolDef, SymbolId};
use crate::tape::{Interval, Tape};
use crate::wire;

/// How often the statistics streams are published.
pub(super) const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Window of `avgPrice` (REST and stream) in minutes.
pub(crate) const AVG_PRICE_MINS: i64 = 5;
const DAY_MS: i64 = 86_400_000;

/// The average price of the last `mins` minutes; the mid price before the first trade.
pub(crate) fn average_price(
    engine: &Engine,
    tape: &Tape,
    symbol: SymbolId,
    mins: i64,
    now: i64,
) -> Option<Decimal> {
    tape.average_price(symbol, mins, now)
        .or_else(|| top_of_book(engine, symbol).map(|t| (t.bid.0 + t.ask.0) / Decimal::TWO))
}

impl Venue {
    pub(super) fn publish_stats(&mut self) {
        self.stats_ticks = self.stats_ticks.wrapping_add(1);
        if self.bus.market_tx.receiver_count() == 0 {
            return;
        }
        let now = self.clock.now_ms();
        let catalog = Arc::clone(self.engine.catalog());
        for (symbol, def) in catalog.symbols() {
            let last = self.tape.trades(symbol, 1).pop();
            let Some(last) = last else {
                continue;
            };
            self.publish_klines(symbol, def, last.price, now);
            let stats = self.tape.window_24h(symbol, now);
            let input = |full| wire::stats::TickerInput {
                def,
                stats: &stats,
                top: top_of_book(&self.engine, symbol),
                open_time: now - DAY_MS,
                close_time: now,
                full,
            };
            let full = wire::stats::ticker_24hr(&input(true));
            let mini = wire::stats::ticker_24hr(&input(false));
            let avg = average_price(&self.engine, &self.tape, symbol, AVG_PRICE_MINS, now);
            let avg = wire::stream_stats::avg_price(
                def,
                AVG_PRICE_MINS,
                avg.unwrap_or(last.price),
                last.time,
                now,
            );
            let events = [
                (
                    StreamKind::Ticker,
                    wire::stream_stats::ticker(&full, false, now),
                ),
                (
                    StreamKind::MiniTicker,
                    wire::stream_stats::ticker(&mini, true, now),
                ),
                (StreamKind::AvgPrice, avg),
            ];
            for (kind, event) in events {
                if let Some(json) = to_json(&event) {
                    self.bus.publish_market(symbol, kind, json);
                }
            }
        }
    }

    /// The current kline of every interval due this tick, preceded by the closed one when its
    /// interval has just rolled over.
    fn publish_klines(&mut self, symbol: SymbolId, def: &SymbolDef, last_close: Decimal, now: i64) {
        for name in Interval::NAMES {
            let Some(interval) = Interval::parse(name) else {
                continue;
            };
            let every_tick = interval.uses_second_bars();
            if !every_tick && self.stats_ticks % 2 != 0 {
                continue;
            }
            let open = interval.open_time(now);
            let previous = self.kline_open.insert((symbol, interval), open);
            let mut events = Vec::new();
            if let Some(previous) = previous.filter(|p| *p != open) {
                let candle = self.candle(symbol, interval, previous);
                let close = candle.as_ref().map_or(last_close, |c| c.close);
                events.push(wire::stream_stats::kline(
                    def,
                    interval,
                    previous,
                    candle.as_ref(),
                    close,
                    true,
                    now,
                ));
            }
            let candle = self.candle(symbol, interval, open);
            events.push(wire::stream_stats::kline(
                def,
                interval,
                open,
                candle.as_ref(),
                last_close,
                false,
                now,
            ));
            for event in events {
                if let Some(json) = to_json(&event) {
                    self.bus
                        .publish_market(symbol, StreamKind::Kline(interval), json);
                }
            }
        }
    }

    fn candle(
        &self,
        symbol: SymbolId,
        interval: Interval,
        open: i64,
    ) -> Option<crate::tape::Candle> {
        self.tape
            .klines(symbol, interval, Some(open), Some(open), 1)
            .pop()
            .filter(|c| c.open_time == open)
    }
}
