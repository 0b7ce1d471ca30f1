//! Order placement: validate against the symbol filters, plan the trades against the book
//! (price-time priority, one trade per maker order, at the maker's price), reserve funds, trade,
//! then rest the remainder (GTC, LIMIT_MAKER) or expire it (IOC, FOK, MARKET).
//!
//! Planning first and mutating second keeps FOK, quote-quantity MARKET orders and balance checks
//! exact: nothing changes unless the whole placement is accepted.

use rust_decimal::Decimal;

use super::catalog::SymbolDef;
use super::plan::{Plan, Planned, Step, Taker, mid, plan};
use super::prevent::PreventStep;
use super::rules::{decremented, limit_price, reservation, round, validate};
use super::types::*;
use super::{Engine, Placed};

impl Engine {
    /// Places an order: on success it exists (possibly already FILLED or EXPIRED); on rejection
    /// nothing changed.
    pub fn place(&mut self, req: NewOrder, now: i64) -> Result<Placed, Reject> {
        let catalog = std::sync::Arc::clone(&self.catalog);
        let def = catalog.symbol(req.symbol).ok_or(Reject::UnknownSymbol)?;
        self.admit(def, &req)?;
        // `admit` resolved the symbol id, so indexing `self.symbols` by it cannot fail below.
        let state = &self.symbols[req.symbol.0];
        let taker = Taker {
            account: req.account,
            side: req.side,
            limit: limit_price(req.kind),
            amount: req.amount,
            stp: req.stp.unwrap_or(def.default_stp),
        };
        let mut plan = plan(&state.book, &taker, &def.filters);
        // A quote-amount MARKET that empties the book ends EXPIRED, like any MARKET.
        let liquidity_out = matches!(req.amount, Amount::Quote(_)) && !plan.complete;
        let planned_qty = plan.traded_qty();
        match (req.kind, req.amount) {
            (_, Amount::Quote(_)) if plan.steps.is_empty() => return Err(Reject::NoLiquidity),
            (
                OrderKind::Limit {
                    tif: TimeInForce::Fok,
                    ..
                },
                Amount::Base(qty),
            ) if planned_qty < qty => plan = Plan::default(),
            _ => {}
        }
        let (asset, amount) = reservation(def, &req, &plan);
        self.accounts.lock(req.account, asset, amount, now)?;
        let client_order_id = match req.client_order_id.clone() {
            Some(client) => client,
            None => self.next_client_id(),
        };
        let mut order = self.new_order(&req, taker.stp, client_order_id, &plan, amount, now);
        self.report(&order, ExecType::New, None, None, now);
        let mut fills = Vec::with_capacity(plan.steps.len());
        for step in plan.steps {
            match step {
                Step::Trade(p) => fills.push(self.trade(def, &mut order, p, now)),
                Step::Prevent {
                    maker,
                    qty,
                    expire_maker,
                    decrement_taker,
                } => {
                    let step = PreventStep {
                        maker,
                        qty,
                        expire_maker,
                        decrement_taker,
                    };
                    self.prevent(def, &mut order, step, now);
                }
            }
        }
        let end = if plan.taker_expires {
            End::ExpiredInMatch
        } else if liquidity_out {
            End::LiquidityOut
        } else {
            End::Normal
        };
        self.finish(def, &mut order, end, now);
        self.emit_balances(now);
        Ok(Placed { order, fills })
    }

    /// Validates an order as `place` would, without placing it (`POST /api/v3/order/test`).
    pub fn check(&self, req: &NewOrder) -> Result<(), Reject> {
        let def = self
            .catalog
            .symbol(req.symbol)
            .ok_or(Reject::UnknownSymbol)?;
        self.admit(def, req)
    }

    /// The checks that refuse an order before it touches the book: filters, duplicate client
    /// id among open orders, MAX_NUM_ORDERS, and a LIMIT_MAKER that would take.
    fn admit(&self, def: &SymbolDef, req: &NewOrder) -> Result<(), Reject> {
        let state = self
            .symbols
            .get(req.symbol.0)
            .ok_or(Reject::UnknownSymbol)?;
        let reference = state.last_price.or_else(|| mid(&state.book));
        validate(&def.filters, req, reference)?;
        if let Some(client) = &req.client_order_id
            && state.orders.open_by_client(req.account, client).is_some()
        {
            return Err(Reject::DuplicateOrder);
        }
        let max_orders = def.filters.max_num_orders;
        if max_orders > 0 && state.orders.open_count(req.account) >= max_orders {
            return Err(Reject::Filter("MAX_NUM_ORDERS"));
        }
        match req.kind {
            OrderKind::LimitMaker { price } if state.book.crosses(req.side, price) => {
                Err(Reject::WouldMatch)
            }
            _ => Ok(()),
        }
    }

    fn new_order(
        &mut self,
        req: &NewOrder,
        stp: StpMode,
        client_order_id: String,
        plan: &Plan,
        locked: Decimal,
        now: i64,
    ) -> Order {
        let state = &mut self.symbols[req.symbol.0];
        let id = state.next_order_id;
        state.next_order_id += 1;
        let (order_type, price, time_in_force) = match req.kind {
            OrderKind::Limit { price, tif } => (OrderType::Limit, price, tif),
            OrderKind::LimitMaker { price } => (OrderType::LimitMaker, price, TimeInForce::Gtc),
            OrderKind::Market => (OrderType::Market, Decimal::ZERO, TimeInForce::Gtc),
        };
        let (orig_qty, orig_quote_qty) = match req.amount {
            Amount::Base(qty) => (qty, Decimal::ZERO),
            Amount::Quote(quote) => (plan.traded_qty() + decremented(plan), quote),
        };
        Order {
            id,
            symbol: req.symbol,
            account: req.account,
            client_order_id,
            side: req.side,
            order_type,
            time_in_force,
            price,
            orig_qty,
            orig_quote_qty,
            executed_qty: Decimal::ZERO,
            cumm_quote_qty: Decimal::ZERO,
            status: OrderStatus::New,
            time: now,
            update_time: now,
            locked,
            stp,
            prevented_qty: Decimal::ZERO,
            prevented_match_id: None,
        }
    }

    /// Executes one planned trade between the taker and a resting maker order.
    fn trade(&mut self, def: &SymbolDef, taker: &mut Order, p: Planned, now: i64) -> Fill {
        let state = &mut self.symbols[taker.symbol.0];
        let trade_id = state.next_trade_id;
        state.next_trade_id += 1;
        state.last_price = Some(p.price);
        state.book.reduce(p.maker, p.qty);
        let quote_qty = p.price * p.qty;
        let mut maker = state.orders.open(p.maker).cloned();
        let taker_fill = self.settle(def, taker, p, false, now);
        let taker_last = LastFill {
            trade_id,
            price: p.price,
            qty: p.qty,
            commission: taker_fill.0,
            commission_asset: taker_fill.1,
            is_maker: false,
        };
        self.events.push(EngineEvent::Trade(PublicTrade {
            symbol: taker.symbol,
            id: trade_id,
            price: p.price,
            qty: p.qty,
            time: now,
            buyer_is_maker: taker.side == Side::Sell,
            taker_order_id: taker.id,
        }));
        self.report(taker, ExecType::Trade, Some(taker_last.clone()), None, now);
        self.record_trade(taker, &taker_last, quote_qty, now);
        if let Some(maker) = maker.as_mut() {
            let fill = self.settle(def, maker, p, true, now);
            let last = LastFill {
                trade_id,
                price: p.price,
                qty: p.qty,
                commission: fill.0,
                commission_asset: fill.1,
                is_maker: true,
            };
            self.report(maker, ExecType::Trade, Some(last.clone()), None, now);
            self.record_trade(maker, &last, quote_qty, now);
            let state = &mut self.symbols[taker.symbol.0];
            let keep = self.accounts.reports(maker.account);
            if let Some(stored) = state.orders.open_mut(maker.id) {
                *stored = maker.clone();
            }
            if !maker.status.is_open() {
                state.orders.close(maker.id, keep);
            }
        }
        Fill {
            trade_id,
            price: p.price,
            qty: p.qty,
            commission: taker_fill.0,
            commission_asset: taker_fill.1,
        }
    }

    /// Applies one trade to an order and its account; returns the commission and its asset.
    fn settle(
        &mut self,
        def: &SymbolDef,
        order: &mut Order,
        p: Planned,
        is_maker: bool,
        now: i64,
    ) -> (Decimal, AssetId) {
        let quote_qty = p.price * p.qty;
        let rate = if is_maker {
            self.fees.maker
        } else {
            self.fees.taker
        };
        let account = order.account;
        let (used, commission, asset) = match order.side {
            Side::Buy => {
                let used = if order.order_type == OrderType::Market {
                    quote_qty
                } else {
                    order.price * p.qty
                };
                self.accounts.spend_locked(account, def.quote, used, now);
                self.accounts
                    .credit(account, def.quote, used - quote_qty, now);
                let commission = round(p.qty * rate, def.base_precision);
                self.accounts
                    .credit(account, def.base, p.qty - commission, now);
                (used, commission, def.base)
            }
            Side::Sell => {
                self.accounts.spend_locked(account, def.base, p.qty, now);
                let commission = round(quote_qty * rate, def.quote_precision);
                self.accounts
                    .credit(account, def.quote, quote_qty - commission, now);
                (p.qty, commission, def.quote)
            }
        };
        order.locked -= used;
        order.executed_qty += p.qty;
        order.cumm_quote_qty += quote_qty;
        order.update_time = now;
        order.status = if order.executed_qty >= order.orig_qty {
            OrderStatus::Filled
        } else if order.remaining() <= Decimal::ZERO {
            // Self-trade prevention took the rest earlier.
            OrderStatus::ExpiredInMatch
        } else {
            OrderStatus::PartiallyFilled
        };
        (commission, asset)
    }

    fn record_trade(&mut self, order: &Order, last: &LastFill, quote_qty: Decimal, now: i64) {
        if !self.accounts.reports(order.account) {
            return;
        }
        let trade = AccountTrade {
            id: last.trade_id,
            order_id: order.id,
            price: last.price,
            qty: last.qty,
            quote_qty,
            commission: last.commission,
            commission_asset: last.commission_asset,
            time: now,
            is_buyer: order.side == Side::Buy,
            is_maker: last.is_maker,
        };
        self.symbols[order.symbol.0]
            .orders
            .record_trade(order.account, trade);
    }

    /// Rests the remainder of a GTC or LIMIT_MAKER order; otherwise releases what is still
    /// reserved and expires the order if anything is left (or the book ran out, or self-trade
    /// prevention stopped it).
    fn finish(&mut self, def: &SymbolDef, order: &mut Order, end: End, now: i64) {
        let rests = matches!(
            (order.order_type, order.time_in_force),
            (OrderType::Limit, TimeInForce::Gtc) | (OrderType::LimitMaker, _)
        );
        let keep = self.accounts.reports(order.account);
        let state = &mut self.symbols[order.symbol.0];
        if order.status.is_open() && rests && end != End::ExpiredInMatch {
            state.book.insert(
                order.id,
                order.side,
                order.price,
                order.remaining(),
                order.account,
            );
            state.orders.insert_open(order.clone());
            return;
        }
        let asset = if order.side == Side::Buy {
            def.quote
        } else {
            def.base
        };
        let locked = std::mem::take(&mut order.locked);
        self.accounts.unlock(order.account, asset, locked, now);
        if end == End::ExpiredInMatch && order.status != OrderStatus::Filled {
            order.prevented_qty += order.remaining().max(Decimal::ZERO);
            order.status = OrderStatus::ExpiredInMatch;
            order.update_time = now;
            self.report(order, ExecType::TradePrevention, None, None, now);
        } else if order.status.is_open() || end == End::LiquidityOut {
            order.status = OrderStatus::Expired;
            order.update_time = now;
            self.report(order, ExecType::Expired, None, None, now);
        }
        if keep {
            self.symbols[order.symbol.0].orders.remember(order.clone());
        }
    }
}

/// How a placement ends once its steps ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Normal,
    /// A quote-amount MARKET emptied the book.
    LiquidityOut,
    /// Self-trade prevention expired the taker.
    ExpiredInMatch,
}
