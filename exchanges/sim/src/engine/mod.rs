//! The matching engine: a pure, synchronous data structure (no I/O, no clock, no locks) that
//! owns every book, order and balance. The venue actor drives it; unit tests drive it directly.
//!
//! - `catalog`: symbols, assets and the filters enforced on every order.
//! - `book`: price-time-priority order book with a per-symbol update id.
//! - `account`: free/locked balances.
//! - `orders`: open orders and bounded history.
//! - `plan`, `rules`, `matching`: placement (filters, plan, reserve, trade, rest or expire).
//! - `prevent`: self-trade prevention (EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH, DECREMENT).
//!
//! Every operation appends what it caused to an event list (`take_events`): public trades,
//! execution reports and balance updates for accounts that report (users, not agents).

mod account;
mod amend;
mod book;
mod catalog;
mod matching;
mod orders;
mod plan;
mod prevent;
#[cfg(test)]
mod proptests;
mod rules;
#[cfg(test)]
mod stp_tests;
mod types;

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

pub use account::Accounts;
pub use amend::Amended;
pub use book::{Level, OrderBook, Resting};
pub use catalog::{Catalog, Filters, SymbolDef};
pub use orders::{OrderFilter, OrderStore, TradeFilter};
pub use types::*;

/// Commission rates, charged in the asset an account receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    pub maker: Decimal,
    pub taker: Decimal,
}

/// Result of a placement: the order after matching and the taker's fills.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub order: Order,
    pub fills: Vec<Fill>,
}

/// Result of a cancel: the canceled order and the cancel request's client id.
#[derive(Clone, Debug, PartialEq)]
pub struct Canceled {
    pub order: Order,
    pub cancel_client_id: String,
}

/// Book, orders and counters of one symbol.
#[derive(Clone, Debug)]
struct SymbolState {
    book: OrderBook,
    orders: OrderStore,
    next_order_id: OrderId,
    next_trade_id: TradeId,
    next_prevented_match_id: u64,
    last_price: Option<Decimal>,
}

pub struct Engine {
    catalog: Arc<Catalog>,
    symbols: Vec<SymbolState>,
    accounts: Accounts,
    fees: Fees,
    events: Vec<EngineEvent>,
    id_rng: ChaCha8Rng,
}

const CLIENT_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Engine {
    /// An engine with empty books for every symbol of the catalog and no accounts.
    pub fn new(catalog: Arc<Catalog>, fees: Fees, seed: u64, history_limit: usize) -> Self {
        let symbols = catalog
            .symbols()
            .map(|_| SymbolState {
                book: OrderBook::default(),
                orders: OrderStore::new(history_limit),
                next_order_id: 1,
                next_trade_id: 1,
                next_prevented_match_id: 1,
                last_price: None,
            })
            .collect();
        let mut id_rng = ChaCha8Rng::seed_from_u64(seed);
        id_rng.set_stream(0x1d);
        Self {
            accounts: Accounts::new(catalog.asset_count()),
            catalog,
            symbols,
            fees,
            events: Vec::new(),
            id_rng,
        }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Opens an account; `reports` turns on user events and history (users, not agents).
    pub fn open_account(&mut self, reports: bool) -> AccountId {
        self.accounts.open(reports)
    }

    /// Credits an account; emits a balance update like any other balance change.
    pub fn deposit(&mut self, account: AccountId, asset: AssetId, amount: Decimal, now: i64) {
        self.accounts.credit(account, asset, amount, now);
        self.emit_balances(now);
    }

    pub fn balance(&self, account: AccountId, asset: AssetId) -> Balance {
        self.accounts.balance(account, asset)
    }

    /// Every balance of an account and the time of its last change.
    pub fn balances(&self, account: AccountId) -> (Vec<(AssetId, Balance)>, i64) {
        self.accounts.balances(account)
    }

    pub fn book(&self, symbol: SymbolId) -> Option<&OrderBook> {
        self.symbols.get(symbol.0).map(|s| &s.book)
    }

    /// Levels changed since the last call (for the depth feed).
    pub fn take_book_changes(&mut self, symbol: SymbolId) -> Vec<(Side, Decimal)> {
        self.symbols
            .get_mut(symbol.0)
            .map(|s| s.book.take_changes())
            .unwrap_or_default()
    }

    pub fn last_price(&self, symbol: SymbolId) -> Option<Decimal> {
        self.symbols.get(symbol.0).and_then(|s| s.last_price)
    }

    /// An open order by id, whoever owns it.
    pub fn open_order(&self, symbol: SymbolId, id: OrderId) -> Option<&Order> {
        self.symbols.get(symbol.0).and_then(|s| s.orders.open(id))
    }

    /// Events produced since the last call, in order.
    pub fn take_events(&mut self) -> Vec<EngineEvent> {
        std::mem::take(&mut self.events)
    }

    /// An order of the account, open or from history (`GET /api/v3/order`).
    pub fn query(
        &self,
        account: AccountId,
        symbol: SymbolId,
        key: &OrderKey,
    ) -> Result<Order, Reject> {
        let state = self.symbols.get(symbol.0).ok_or(Reject::UnknownSymbol)?;
        let order = match (key.order_id, &key.client_order_id) {
            (Some(id), _) => state.orders.find(account, id),
            (None, Some(client)) => state.orders.find_by_client(account, client),
            (None, None) => None,
        }
        .ok_or(Reject::OrderNotFound)?;
        check_client_id(order, key)?;
        Ok(order.clone())
    }

    /// Open orders of an account, on one symbol or all.
    pub fn open_orders(&self, account: AccountId, symbol: Option<SymbolId>) -> Vec<Order> {
        self.symbols
            .iter()
            .enumerate()
            .filter(|(i, _)| symbol.is_none_or(|s| s.0 == *i))
            .flat_map(|(_, s)| s.orders.open_orders(account))
            .collect()
    }

    /// Orders of an account on one symbol, open and closed (`allOrders`).
    pub fn all_orders(
        &self,
        account: AccountId,
        symbol: SymbolId,
        filter: OrderFilter,
    ) -> Vec<Order> {
        self.symbols
            .get(symbol.0)
            .map(|s| s.orders.all_orders(account, filter))
            .unwrap_or_default()
    }

    /// Trades of an account on one symbol (`myTrades`).
    pub fn my_trades(
        &self,
        account: AccountId,
        symbol: SymbolId,
        filter: TradeFilter,
    ) -> Vec<AccountTrade> {
        self.symbols
            .get(symbol.0)
            .map(|s| s.orders.trades(account, filter))
            .unwrap_or_default()
    }

    /// Cancels an open order of the account and releases its reservation.
    pub fn cancel(
        &mut self,
        account: AccountId,
        symbol: SymbolId,
        key: &OrderKey,
        cancel_client_id: Option<String>,
        now: i64,
    ) -> Result<Canceled, Reject> {
        let id = self
            .find_open(account, symbol, key, Reject::UnknownOrder)?
            .id;
        let cancel_client_id = cancel_client_id.unwrap_or_else(|| self.next_client_id());
        let order = self.close_order(symbol, id, OrderStatus::Canceled, now)?;
        self.report(
            &order,
            ExecType::Canceled,
            None,
            Some(cancel_client_id.clone()),
            now,
        );
        self.emit_balances(now);
        Ok(Canceled {
            order,
            cancel_client_id,
        })
    }

    /// Cancels every open order of the account on a symbol (`DELETE /api/v3/openOrders`).
    pub fn cancel_all(
        &mut self,
        account: AccountId,
        symbol: SymbolId,
        now: i64,
    ) -> Result<Vec<Canceled>, Reject> {
        let ids: Vec<OrderId> = self
            .open_orders(account, Some(symbol))
            .iter()
            .map(|o| o.id)
            .collect();
        if ids.is_empty() {
            return Err(Reject::UnknownOrder);
        }
        let key = |id| OrderKey {
            order_id: Some(id),
            client_order_id: None,
        };
        ids.into_iter()
            .map(|id| self.cancel(account, symbol, &key(id), None, now))
            .collect()
    }

    /// The account's open order that `key` names, or `missing` if there is none; `-2039` if
    /// the order id and client order id disagree.
    fn find_open(
        &self,
        account: AccountId,
        symbol: SymbolId,
        key: &OrderKey,
        missing: Reject,
    ) -> Result<&Order, Reject> {
        let state = self.symbols.get(symbol.0).ok_or(Reject::UnknownSymbol)?;
        let id = match (key.order_id, &key.client_order_id) {
            (Some(id), _) => Some(id),
            (None, Some(client)) => state.orders.open_by_client(account, client),
            (None, None) => None,
        };
        let order = id
            .and_then(|id| state.orders.open(id))
            .filter(|o| o.account == account)
            .ok_or(missing)?;
        check_client_id(order, key)?;
        Ok(order)
    }

    /// Takes an open order off the book, releases its reservation and closes it.
    fn close_order(
        &mut self,
        symbol: SymbolId,
        id: OrderId,
        status: OrderStatus,
        now: i64,
    ) -> Result<Order, Reject> {
        let def = self.catalog.symbol(symbol).ok_or(Reject::UnknownSymbol)?;
        let (base, quote) = (def.base, def.quote);
        let state = self
            .symbols
            .get_mut(symbol.0)
            .ok_or(Reject::UnknownSymbol)?;
        let order = state.orders.open_mut(id).ok_or(Reject::UnknownOrder)?;
        let asset = if order.side == Side::Buy { quote } else { base };
        let (account, locked) = (order.account, order.locked);
        order.locked = Decimal::ZERO;
        order.status = status;
        order.update_time = now;
        state.book.remove(id);
        let keep = self.accounts.reports(account);
        let order = state.orders.close(id, keep).ok_or(Reject::UnknownOrder)?;
        self.accounts.unlock(account, asset, locked, now);
        Ok(order)
    }

    /// A fresh 22-character client order id (deterministic for a given seed).
    fn next_client_id(&mut self) -> String {
        (0..22)
            .map(|_| {
                let i = self.id_rng.random_range(0..CLIENT_ID_ALPHABET.len());
                char::from(CLIENT_ID_ALPHABET[i])
            })
            .collect()
    }

    /// Appends an execution report if the order's account reports.
    fn report(
        &mut self,
        order: &Order,
        exec_type: ExecType,
        last: Option<LastFill>,
        cancel: Option<String>,
        now: i64,
    ) {
        if self.accounts.reports(order.account) {
            self.events
                .push(EngineEvent::Execution(Box::new(ExecutionReport {
                    order: order.clone(),
                    exec_type,
                    last,
                    cancel_client_id: cancel,
                    prevention: None,
                    time: now,
                })));
        }
    }

    /// Appends a ready-made execution report if the order's account reports.
    fn push_report(&mut self, report: ExecutionReport) {
        if self.accounts.reports(report.order.account) {
            self.events.push(EngineEvent::Execution(Box::new(report)));
        }
    }

    /// Appends one balance update per account touched since the last call.
    fn emit_balances(&mut self, now: i64) {
        let touched = self.accounts.take_touched();
        let mut accounts: Vec<AccountId> = Vec::new();
        for (account, _) in &touched {
            if !accounts.contains(account) {
                accounts.push(*account);
            }
        }
        for account in accounts {
            let balances = touched
                .iter()
                .filter(|(a, _)| *a == account)
                .map(|(_, asset)| (*asset, self.accounts.balance(account, *asset)))
                .collect();
            self.events.push(EngineEvent::Balances(BalanceUpdate {
                account,
                time: now,
                balances,
            }));
        }
    }
}

fn check_client_id(order: &Order, key: &OrderKey) -> Result<(), Reject> {
    match (&key.order_id, &key.client_order_id) {
        (Some(_), Some(client)) if *client != order.client_order_id => {
            Err(Reject::ClientIdMismatch)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
