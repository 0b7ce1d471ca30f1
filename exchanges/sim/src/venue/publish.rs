//! What the venue publishes after each step: trades and aggregate trades (recorded on the tape
//! too), execution reports and balance updates, book tickers when a symbol's top of book
//! changed, and on the depth timer diff events plus partial-book snapshots.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::{Venue, to_json};
use crate::bus::StreamKind;
use crate::engine::{Catalog, EngineEvent, ExecType, Side, SymbolId};
use crate::stats::Counter;
use crate::tape::AggTrade;
use crate::wire;

/// Partial-book depths served as `<symbol>@depth<N>`.
const PARTIAL_LEVELS: [u8; 3] = [5, 10, 20];

/// Top of book as last published on `<symbol>@bookTicker`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Top {
    pub bid: (Decimal, Decimal),
    pub ask: (Decimal, Decimal),
}

impl Venue {
    pub(super) fn publish_depth(&mut self) {
        let now = self.clock.now_ms();
        let mut published = self.feed.publish(&mut self.engine);
        self.faults.shift_depth(&mut published);
        self.faults.tick(&self.bus);
        let catalog = Arc::clone(self.engine.catalog());
        let diffs = published.fast.iter().map(|d| (StreamKind::DepthFast, d));
        for (kind, diff) in diffs.chain(published.slow.iter().map(|d| (StreamKind::DepthSlow, d))) {
            let Some(def) = catalog.symbol(diff.symbol) else {
                continue;
            };
            if let Some(json) = to_json(&wire::events::depth_update(def, diff, now)) {
                self.bus.publish_market(diff.symbol, kind, json);
            }
        }
        if self.bus.market_tx.receiver_count() == 0 {
            return;
        }
        for (symbol, def) in catalog.symbols() {
            for levels in PARTIAL_LEVELS {
                let snapshot = self.feed.snapshot(symbol, usize::from(levels));
                let Some(snapshot) = self.faults.shift_snapshot(symbol, snapshot) else {
                    continue;
                };
                let Some(json) = to_json(&wire::info::depth(def, &snapshot)) else {
                    continue;
                };
                if published.slow_tick {
                    let kind = StreamKind::Partial {
                        levels,
                        fast: false,
                    };
                    self.bus.publish_market(symbol, kind, json.clone());
                }
                let kind = StreamKind::Partial { levels, fast: true };
                self.bus.publish_market(symbol, kind, json);
            }
        }
    }

    /// Serializes the engine's events and publishes them: trades and aggregate trades to the
    /// market streams, execution reports and balance updates to the accounts' user streams;
    /// then book tickers that changed.
    pub(super) fn flush_events(&mut self) {
        let catalog = Arc::clone(self.engine.catalog());
        let mut pending: Option<AggTrade> = None;
        for event in self.engine.take_events() {
            match event {
                EngineEvent::Trade(trade) => {
                    self.stats.count(Counter::Trades, 1);
                    let Some(def) = catalog.symbol(trade.symbol) else {
                        continue;
                    };
                    if let Some(json) = to_json(&wire::events::trade(def, &trade)) {
                        self.bus
                            .publish_market(trade.symbol, StreamKind::Trade, json);
                    }
                    let agg = self.tape.record(&trade).cloned();
                    // One aggTrade per taker execution at one price: a pending aggregate goes
                    // out once a trade no longer extends it (or the step ends).
                    if let Some(agg) = agg {
                        let extends = pending
                            .as_ref()
                            .is_some_and(|p| p.symbol == agg.symbol && p.id == agg.id);
                        if !extends && let Some(done) = pending.take() {
                            self.publish_agg(&catalog, &done);
                        }
                        pending = Some(agg);
                    }
                }
                EngineEvent::Execution(report) => {
                    self.execution_id += 1;
                    let first_fill = report.exec_type == ExecType::Trade
                        && report
                            .last
                            .as_ref()
                            .is_some_and(|l| l.qty == report.order.executed_qty);
                    if first_fill {
                        let order = &report.order;
                        self.limits
                            .unrecord_order(order.account, order.time, self.clock.now_ms());
                    }
                    let Some(def) = catalog.symbol(report.order.symbol) else {
                        continue;
                    };
                    let payload =
                        wire::events::execution_report(&catalog, def, &report, self.execution_id);
                    if let Some(json) = to_json(&payload) {
                        let account = report.order.account;
                        self.faults.publish_user(&self.bus, account, json);
                    }
                }
                EngineEvent::Balances(update) => {
                    if let Some(json) = to_json(&wire::events::account_position(&catalog, &update))
                    {
                        self.faults.publish_user(&self.bus, update.account, json);
                    }
                }
            }
        }
        if let Some(done) = pending {
            self.publish_agg(&catalog, &done);
        }
        self.publish_book_tickers();
    }

    /// Publishes one finished aggregate trade on `<symbol>@aggTrade`.
    fn publish_agg(&self, catalog: &Catalog, agg: &AggTrade) {
        let Some(def) = catalog.symbol(agg.symbol) else {
            return;
        };
        if let Some(json) = to_json(&wire::events::agg_trade(def, agg)) {
            self.bus
                .publish_market(agg.symbol, StreamKind::AggTrade, json);
        }
    }

    /// Publishes `<symbol>@bookTicker` for every symbol whose best bid or ask changed.
    fn publish_book_tickers(&mut self) {
        let catalog = Arc::clone(self.engine.catalog());
        for (symbol, def) in catalog.symbols() {
            let Some(top) = top_of_book(&self.engine, symbol) else {
                continue;
            };
            let Some(last) = self.tops.get_mut(symbol.0) else {
                continue;
            };
            if *last == Some(top) {
                continue;
            }
            *last = Some(top);
            let update_id = self.engine.book(symbol).map_or(0, |b| b.update_id());
            if let Some(json) = to_json(&wire::events::book_ticker(def, update_id, &top)) {
                self.bus
                    .publish_market(symbol, StreamKind::BookTicker, json);
            }
        }
    }
}

/// Best bid and ask with their quantities; `None` while a side is empty.
pub(crate) fn top_of_book(engine: &crate::engine::Engine, symbol: SymbolId) -> Option<Top> {
    let book = engine.book(symbol)?;
    let bid = book.best(Side::Buy)?;
    let ask = book.best(Side::Sell)?;
    Some(Top {
        bid: (bid, book.level_qty(Side::Buy, bid)),
        ask: (ask, book.level_qty(Side::Sell, ask)),
    })
}
