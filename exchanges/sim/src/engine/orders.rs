//! Order and trade records of one symbol: open orders with their client-id index, and a bounded
//! history of closed orders and account trades for queries (`GET order`, `myTrades`).
//!
//! Only accounts with history (users, not agents) have their closed orders and trades kept, so
//! the agents' churn costs no memory; the oldest entries go first once `limit` is reached.

use std::collections::{HashMap, VecDeque};

use super::types::{AccountId, AccountTrade, Order, OrderId, TradeId};

#[derive(Clone, Debug, Default)]
pub struct OrderStore {
    open: HashMap<OrderId, Order>,
    open_by_client: HashMap<(AccountId, String), OrderId>,
    open_per_account: HashMap<AccountId, u32>,
    closed: HashMap<OrderId, Order>,
    closed_fifo: VecDeque<OrderId>,
    closed_by_client: HashMap<(AccountId, String), OrderId>,
    trades: HashMap<AccountId, VecDeque<AccountTrade>>,
    /// How many times each open order has been amended.
    amends: HashMap<OrderId, u32>,
    limit: usize,
}

/// Which account trades `myTrades` returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct TradeFilter {
    pub order_id: Option<OrderId>,
    pub from_id: Option<TradeId>,
    /// Inclusive time bounds (ms).
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub limit: usize,
}

/// Which orders `allOrders` returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct OrderFilter {
    /// Orders with this id or later.
    pub from_id: Option<OrderId>,
    /// Inclusive creation-time bounds (ms).
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub limit: usize,
}

impl OrderStore {
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            ..Self::default()
        }
    }

    pub fn insert_open(&mut self, order: Order) {
        let key = (order.account, order.client_order_id.clone());
        self.open_by_client.insert(key, order.id);
        *self.open_per_account.entry(order.account).or_default() += 1;
        self.open.insert(order.id, order);
    }

    pub fn open(&self, id: OrderId) -> Option<&Order> {
        self.open.get(&id)
    }

    pub fn open_mut(&mut self, id: OrderId) -> Option<&mut Order> {
        self.open.get_mut(&id)
    }

    pub fn open_by_client(&self, account: AccountId, client_id: &str) -> Option<OrderId> {
        self.open_by_client
            .get(&(account, client_id.to_owned()))
            .copied()
    }

    pub fn open_count(&self, account: AccountId) -> u32 {
        self.open_per_account.get(&account).copied().unwrap_or(0)
    }

    /// Open orders of an account, oldest first.
    pub fn open_orders(&self, account: AccountId) -> Vec<Order> {
        let mut list: Vec<Order> = self
            .open
            .values()
            .filter(|o| o.account == account)
            .cloned()
            .collect();
        list.sort_by_key(|o| o.id);
        list
    }

    /// Moves an order out of the open set; keeps it in history when `keep` is set.
    pub fn close(&mut self, id: OrderId, keep: bool) -> Option<Order> {
        let order = self.open.remove(&id)?;
        self.amends.remove(&id);
        let key = (order.account, order.client_order_id.clone());
        self.open_by_client.remove(&key);
        if let Some(count) = self.open_per_account.get_mut(&order.account) {
            *count = count.saturating_sub(1);
        }
        if keep {
            self.remember(order.clone());
        }
        Some(order)
    }

    /// Times an open order has been amended.
    pub fn amend_count(&self, id: OrderId) -> u32 {
        self.amends.get(&id).copied().unwrap_or(0)
    }

    /// Counts one amend of an open order and moves it to a new client order id.
    pub fn record_amend(&mut self, id: OrderId, client_order_id: String) {
        *self.amends.entry(id).or_default() += 1;
        let Some(order) = self.open.get_mut(&id) else {
            return;
        };
        self.open_by_client
            .remove(&(order.account, order.client_order_id.clone()));
        self.open_by_client
            .insert((order.account, client_order_id.clone()), id);
        order.client_order_id = client_order_id;
    }

    /// Keeps a closed order that never rested (e.g. a filled taker) in history.
    pub fn remember(&mut self, order: Order) {
        self.closed_by_client
            .insert((order.account, order.client_order_id.clone()), order.id);
        self.closed_fifo.push_back(order.id);
        self.closed.insert(order.id, order);
        while self.closed_fifo.len() > self.limit {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        let Some(old) = self.closed_fifo.pop_front() else {
            return;
        };
        if let Some(order) = self.closed.remove(&old) {
            let key = (order.account, order.client_order_id);
            if self.closed_by_client.get(&key) == Some(&old) {
                self.closed_by_client.remove(&key);
            }
        }
    }

    /// Any known order of the account by id, open or closed.
    pub fn find(&self, account: AccountId, id: OrderId) -> Option<&Order> {
        self.open
            .get(&id)
            .or_else(|| self.closed.get(&id))
            .filter(|o| o.account == account)
    }

    /// The account's open order with this client id, else its latest closed one.
    pub fn find_by_client(&self, account: AccountId, client_id: &str) -> Option<&Order> {
        let key = (account, client_id.to_owned());
        let id = self
            .open_by_client
            .get(&key)
            .or_else(|| self.closed_by_client.get(&key))?;
        self.find(account, *id)
    }

    /// Open and remembered orders of an account in id order: with `from_id` or `start_time` the
    /// first `limit` from there, else the latest `limit`.
    pub fn all_orders(&self, account: AccountId, filter: OrderFilter) -> Vec<Order> {
        let mut list: Vec<&Order> = self
            .open
            .values()
            .chain(self.closed.values())
            .filter(|o| {
                o.account == account
                    && filter.from_id.is_none_or(|id| o.id >= id)
                    && filter.start_time.is_none_or(|t| o.time >= t)
                    && filter.end_time.is_none_or(|t| o.time <= t)
            })
            .collect();
        list.sort_by_key(|o| o.id);
        let skip = if filter.from_id.is_some() || filter.start_time.is_some() {
            0
        } else {
            list.len().saturating_sub(filter.limit)
        };
        list.into_iter()
            .skip(skip)
            .take(filter.limit)
            .cloned()
            .collect()
    }

    pub fn record_trade(&mut self, account: AccountId, trade: AccountTrade) {
        let list = self.trades.entry(account).or_default();
        list.push_back(trade);
        while list.len() > self.limit {
            list.pop_front();
        }
    }

    /// Trades of an account in id order. With `from_id`, the first `limit` from there; else
    /// the latest `limit`.
    pub fn trades(&self, account: AccountId, filter: TradeFilter) -> Vec<AccountTrade> {
        let Some(list) = self.trades.get(&account) else {
            return Vec::new();
        };
        let matching = list.iter().filter(|t| {
            filter.order_id.is_none_or(|id| t.order_id == id)
                && filter.from_id.is_none_or(|id| t.id >= id)
                && filter.start_time.is_none_or(|start| t.time >= start)
                && filter.end_time.is_none_or(|end| t.time <= end)
        });
        let mut out: Vec<AccountTrade> = if filter.from_id.is_some() || filter.start_time.is_some()
        {
            matching.take(filter.limit).cloned().collect()
        } else {
            let all: Vec<&AccountTrade> = matching.collect();
            let skip = all.len().saturating_sub(filter.limit);
            all.into_iter().skip(skip).cloned().collect()
        };
        out.sort_by_key(|t| t.id);
        out
    }
}
