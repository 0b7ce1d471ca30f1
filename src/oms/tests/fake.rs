//! A scripted venue for the order processor's tests: it keeps orders and trades in memory,
//! answers sends as each test scripts (accept, reject, lose the answer, duplicate), can hide
//! orders from queries, and reads its clock from tokio time (so paused-time tests move it).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use exchange_core::{
    Balance, ClockHealth, Exchange, ExchangeError, Fill, Instrument, InstrumentFilters,
    LimiterHealth, MarketEvent, NewOrder, OrderSnapshot, OrderStatus, Placement, UserEvent,
    VenueHealth, VenueId,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the venue answers the next send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// Accept it, resting (`new`).
    Accept,
    /// Accept it and fill it completely with one trade.
    Fill,
    /// Refuse it definitively.
    Reject,
    /// Accept it but lose the answer (timeout: outcome unknown).
    AcceptLost,
    /// Never receive it, and lose the answer (outcome unknown).
    Lost,
    /// Answer `-2010 Duplicate order sent.` (the order already exists).
    Duplicate,
}

/// How the venue answers the next amend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amend {
    /// Apply it when the venue's rules allow, and answer.
    Apply,
    /// Apply it but lose the answer (outcome unknown).
    ApplyLost,
    /// Never receive it, and lose the answer (outcome unknown).
    Lost,
}

#[derive(Default)]
struct State {
    orders: HashMap<String, OrderSnapshot>,
    trades: Vec<Fill>,
    script: VecDeque<Send>,
    amends: VecDeque<Amend>,
    hidden: Vec<String>,
    next_id: u64,
    /// Whether to hold each answer until `release` (to let a report overtake it).
    hold: bool,
    sends: usize,
}

/// The scripted venue.
pub struct FakeVenue {
    name: VenueId,
    state: Mutex<State>,
    released: tokio::sync::Notify,
    base_ms: i64,
    started: tokio::time::Instant,
}

impl FakeVenue {
    pub fn new() -> FakeVenue {
        FakeVenue {
            name: "fake".into(),
            state: Mutex::new(State {
                next_id: 100,
                ..State::default()
            }),
            released: tokio::sync::Notify::new(),
            base_ms: 1_700_000_000_000,
            started: tokio::time::Instant::now(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("fake venue lock"))
    }

    /// Scripts the answers to the next sends.
    pub fn script(&self, sends: &[Send]) {
        self.with(|s| s.script.extend(sends.iter().copied()));
    }

    /// Scripts the answers to the next amends.
    pub fn script_amends(&self, amends: &[Amend]) {
        self.with(|s| s.amends.extend(amends.iter().copied()));
    }

    /// Holds send answers until [`FakeVenue::release`].
    pub fn hold_answers(&self, hold: bool) {
        self.with(|s| s.hold = hold);
    }

    pub fn release(&self) {
        self.with(|s| s.hold = false);
        self.released.notify_waiters();
    }

    /// Queries and lists do not show this client order id (a lagging read).
    pub fn hide(&self, client_order_id: &str) {
        self.with(|s| s.hidden.push(client_order_id.to_string()));
    }

    pub fn unhide_all(&self) {
        self.with(|s| s.hidden.clear());
    }

    pub fn sends(&self) -> usize {
        self.with(|s| s.sends)
    }

    pub fn order(&self, client_order_id: &str) -> Option<OrderSnapshot> {
        self.with(|s| s.orders.get(client_order_id).cloned())
    }

    /// Puts an order on the venue directly (accepted late, or by another client).
    pub fn insert(&self, order: &NewOrder, status: OrderStatus) -> OrderSnapshot {
        self.with(|s| accept(s, order, status))
    }

    /// Fills `quantity` of a resting order with a new trade; returns the trade.
    pub fn trade(&self, client_order_id: &str, quantity: Decimal) -> Option<Fill> {
        self.with(|s| {
            s.next_id += 1;
            let trade_id = s.next_id.to_string();
            let order = s.orders.get_mut(client_order_id)?;
            order.filled_quantity += quantity;
            let price = order.price.unwrap_or(dec!(100));
            order.cumulative_quote += quantity * price;
            order.status = if order.filled_quantity >= order.quantity {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
            let fill = Fill {
                trade_id,
                venue_order_id: order.venue_order_id.clone(),
                client_order_id: order.client_order_id.clone(),
                venue_symbol: order.venue_symbol.clone(),
                side: order.side,
                price,
                quantity,
                fee: Decimal::ZERO,
                fee_asset: None,
                is_maker: true,
                time_ms: 1,
            };
            s.trades.push(fill.clone());
            Some(fill)
        })
    }

    /// Cancels a resting order on the venue side (returns its snapshot).
    pub fn cancel_now(&self, client_order_id: &str) -> Option<OrderSnapshot> {
        self.with(|s| {
            let order = s.orders.get_mut(client_order_id)?;
            if !order.status.is_terminal() {
                order.status = OrderStatus::Canceled;
            }
            Some(order.clone())
        })
    }

    pub fn instrument() -> Instrument {
        Instrument {
            venue: "fake".into(),
            name: "BTC-USDT".into(),
            venue_symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            trading: true,
            filters: InstrumentFilters::default(),
        }
    }

    fn visible(&self, client_order_id: &str) -> Option<OrderSnapshot> {
        self.with(|s| {
            if s.hidden.iter().any(|h| h == client_order_id) {
                return None;
            }
            s.orders.get(client_order_id).cloned()
        })
    }
}

fn accept(s: &mut State, order: &NewOrder, status: OrderStatus) -> OrderSnapshot {
    s.next_id += 1;
    let snapshot = OrderSnapshot {
        venue_symbol: order.venue_symbol.clone(),
        client_order_id: order.client_order_id.clone(),
        venue_order_id: s.next_id.to_string(),
        side: order.side,
        order_type: order.order_type,
        time_in_force: order.time_in_force,
        status,
        quantity: order.quantity,
        price: order.price,
        filled_quantity: Decimal::ZERO,
        cumulative_quote: Decimal::ZERO,
        fills: Vec::new(),
        update_time_ms: 1,
    };
    s.orders
        .insert(order.client_order_id.clone(), snapshot.clone());
    snapshot
}

fn not_found() -> ExchangeError {
    ExchangeError::NotFound {
        code: Some(-2013),
        message: "Order does not exist.".into(),
    }
}

#[async_trait]
impl Exchange for FakeVenue {
    fn venue(&self) -> &VenueId {
        &self.name
    }

    async fn instruments(&self) -> Result<Vec<Instrument>, ExchangeError> {
        Ok(vec![FakeVenue::instrument()])
    }

    async fn submit_order(&self, order: &NewOrder) -> Placement {
        let signed = self.venue_time_ms();
        let step = self.with(|s| {
            s.sends += 1;
            s.script.pop_front().unwrap_or(Send::Accept)
        });
        let result = match step {
            Send::Accept | Send::AcceptLost => {
                let snapshot = self.with(|s| accept(s, order, OrderStatus::New));
                if step == Send::AcceptLost {
                    Err(ExchangeError::unknown("timed out"))
                } else {
                    Ok(snapshot)
                }
            }
            Send::Fill => {
                self.with(|s| accept(s, order, OrderStatus::New));
                let fill = self.trade(&order.client_order_id, order.quantity);
                let mut snapshot = self.order(&order.client_order_id).ok_or_else(not_found);
                if let (Ok(snapshot), Some(fill)) = (snapshot.as_mut(), fill) {
                    snapshot.fills = vec![fill];
                }
                snapshot
            }
            Send::Reject => Err(ExchangeError::Rejected {
                code: Some(-2010),
                message: "Account has insufficient balance for requested action.".into(),
            }),
            Send::Lost => Err(ExchangeError::unknown("connection reset")),
            Send::Duplicate => Err(ExchangeError::Duplicate {
                message: "Duplicate order sent.".into(),
            }),
        };
        while self.with(|s| s.hold) {
            self.released.notified().await;
        }
        Placement {
            result,
            signed_timestamp_ms: Some(signed),
        }
    }

    async fn cancel_order(&self, _symbol: &str, cid: &str) -> Result<OrderSnapshot, ExchangeError> {
        self.visible(cid).ok_or_else(not_found)?;
        self.cancel_now(cid).ok_or_else(not_found)
    }

    async fn amend_order(
        &self,
        _symbol: &str,
        cid: &str,
        new_quantity: Decimal,
    ) -> Result<OrderSnapshot, ExchangeError> {
        let step = self.with(|s| s.amends.pop_front().unwrap_or(Amend::Apply));
        if step == Amend::Lost {
            return Err(ExchangeError::unknown("connection reset"));
        }
        self.visible(cid).ok_or_else(not_found)?;
        let amended = self.with(|s| {
            let order = s
                .orders
                .get_mut(cid)
                .filter(|o| !o.status.is_terminal())
                .ok_or_else(not_found)?;
            if new_quantity >= order.quantity {
                return Err(ExchangeError::Rejected {
                    code: Some(-2038),
                    message: "Order amend (quantity increase) rejected.".into(),
                });
            }
            if new_quantity <= order.filled_quantity {
                return Err(ExchangeError::Rejected {
                    code: Some(-2038),
                    message: "Order amend (quantity below executed) rejected.".into(),
                });
            }
            order.quantity = new_quantity;
            Ok(order.clone())
        })?;
        match step {
            Amend::ApplyLost => Err(ExchangeError::unknown("timed out")),
            _ => Ok(amended),
        }
    }

    async fn query_order(&self, _symbol: &str, cid: &str) -> Result<OrderSnapshot, ExchangeError> {
        self.visible(cid).ok_or_else(not_found)
    }

    async fn open_orders(
        &self,
        _symbol: Option<&str>,
    ) -> Result<Vec<OrderSnapshot>, ExchangeError> {
        let all: Vec<String> = self.with(|s| s.orders.keys().cloned().collect());
        Ok(all
            .iter()
            .filter_map(|cid| self.visible(cid))
            .filter(|o| !o.status.is_terminal())
            .collect())
    }

    async fn orders_since(
        &self,
        _symbol: &str,
        from_order_id: Option<&str>,
        _start_time_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OrderSnapshot>, ExchangeError> {
        let from: u64 = from_order_id.and_then(|f| f.parse().ok()).unwrap_or(0);
        let all: Vec<String> = self.with(|s| s.orders.keys().cloned().collect());
        let mut orders: Vec<OrderSnapshot> = all
            .iter()
            .filter_map(|cid| self.visible(cid))
            .filter(|o| o.venue_order_id.parse::<u64>().unwrap_or(0) >= from)
            .collect();
        orders.sort_by_key(|o| o.venue_order_id.parse::<u64>().unwrap_or(0));
        orders.truncate(limit as usize);
        Ok(orders)
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        Ok(vec![Balance {
            asset: "BTC".into(),
            free: dec!(1),
            locked: Decimal::ZERO,
        }])
    }

    async fn order_fills(
        &self,
        _symbol: &str,
        venue_order_id: &str,
    ) -> Result<Vec<Fill>, ExchangeError> {
        Ok(self.with(|s| {
            s.trades
                .iter()
                .filter(|t| t.venue_order_id == venue_order_id)
                .cloned()
                .collect()
        }))
    }

    async fn fills_since(
        &self,
        _symbol: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Fill>, ExchangeError> {
        let after: u64 = after.and_then(|a| a.parse().ok()).unwrap_or(0);
        Ok(self.with(|s| {
            s.trades
                .iter()
                .filter(|t| t.trade_id.parse::<u64>().unwrap_or(0) > after)
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }

    fn venue_time_ms(&self) -> i64 {
        self.base_ms + self.started.elapsed().as_millis() as i64
    }

    fn health(&self) -> VenueHealth {
        VenueHealth {
            venue: self.name.clone(),
            breakers: Vec::new(),
            limiter: LimiterHealth {
                scopes: Vec::new(),
                throttled_429_total: 0,
                banned_418_total: 0,
                paused_until_ms: None,
                banned_until_ms: None,
                in_flight_orders: 0,
                in_flight_cap: 0,
                connect: exchange_core::ConnectHealth::default(),
            },
            clock: ClockHealth {
                offset_ms: 0,
                uncertainty_ms: 0,
                synced: true,
                resyncs_total: 0,
            },
            streams: Vec::new(),
            books: exchange_core::BookHealth {
                resyncs_total: 0,
                resyncs_completed_total: 0,
                resync_seconds_total: 0.0,
                last_resync_seconds: None,
                dropped_events_total: 0,
            },
            malformed_messages_total: 0,
        }
    }

    fn spawn_user_stream(
        &self,
        _events_tx: mpsc::Sender<UserEvent>,
        _shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(async {})
    }

    fn spawn_market_stream(
        &self,
        _symbols: Vec<String>,
        _events_tx: mpsc::Sender<MarketEvent>,
        _shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(async {})
    }
}
