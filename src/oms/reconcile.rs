//! Reconciliation: making local order state equal the venue's truth.
//!
//! A full run (on start, after every user-stream reconnect, after an unreadable report)
//! pauses the venue's new submissions and, with the results applied through the same state
//! machine as any report:
//! 1. loads the account's balances;
//! 2. queries every live order (status, and the trades of those that executed more);
//! 3. reads the venue's orders since the persisted `orders` watermark (allOrders, paged), so
//!    an order of ours that opened and closed while omsd was down or confused is found: known
//!    ones are corrected, inferred ones revised, unknown ones adopted;
//! 4. reads our trades since the persisted `trades` watermark (paged, not capped), matching
//!    them to orders; those no order has are kept for adoption;
//! 5. adopts orders open on the venue under our prefix that the store does not know.
//!
//! A watermark moves only after everything read below it is durable. The pause is per run:
//! overlapping runs each hold it until they end. While the user stream is down a poller
//! queries the live orders every `poll_interval`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use exchange_core::{ExchangeError, Fill, OrderSnapshot};
use tokio::sync::{mpsc, oneshot};

use super::actor::{Command, Oms};
use super::apply::observation;
use super::commit::Effect;
use super::ids::CLIENT_ID_PREFIX;
use super::resolve::with_deadline;
use super::{ReconcileReport, apply::is_waiting};
use crate::store::{OrderRecord, Store, Watermark};
use crate::telemetry;
use crate::venues::Venue;

/// Page size of the venue's order and trade lists.
const PAGE: u32 = 1000;
/// With no watermark yet, how far back the venue's orders are read (its window limit).
const FIRST_LOOKBACK_MS: i64 = 23 * 3_600_000;
const ORDERS: &str = "orders";
const TRADES: &str = "trades";

/// What a reconciliation task needs.
struct Ctx {
    venue: Arc<Venue>,
    store: Arc<dyn Store>,
    cmd_tx: mpsc::Sender<Command>,
    deadline: Duration,
    /// Acknowledgements of commands sent, fired once their changes are durable.
    acks: Vec<oneshot::Receiver<()>>,
}

impl Ctx {
    fn done(&mut self) -> Option<oneshot::Sender<()>> {
        let (tx, rx) = oneshot::channel();
        self.acks.push(rx);
        Some(tx)
    }

    async fn send(&self, cmd: Command) -> bool {
        self.cmd_tx.send(cmd).await.is_ok()
    }

    /// Waits until everything sent so far is durable.
    async fn settle(&mut self) {
        for ack in self.acks.drain(..) {
            let _ = ack.await;
        }
    }

    fn name(&self) -> &str {
        self.venue.name()
    }

    /// The venue symbols this venue trades.
    fn symbols(&self) -> Vec<String> {
        self.venue
            .instruments()
            .values()
            .map(|i| i.venue_symbol.clone())
            .collect()
    }

    /// The venue symbols whose order and trade history is read: those we have stored orders
    /// on (every order of ours is stored before it is sent, so a symbol without one has no
    /// history of ours; orders another client opened under our prefix are adopted by
    /// [`adopt_open`] first, which stores them). Reading every configured symbol would cost the venue's weight per
    /// symbol at every reconciliation. All of them if the store cannot say.
    async fn history_symbols(&self) -> Vec<String> {
        let configured = self.symbols();
        match self.store.traded_symbols(self.name()).await {
            Ok(traded) => configured
                .into_iter()
                .filter(|s| traded.contains(s))
                .collect(),
            Err(e) => {
                tracing::warn!(venue = self.name(), error = %e, "cannot list traded symbols: reading every symbol's history");
                configured
            }
        }
    }
}

/// From this many symbols on, one all-symbol open-orders call is cheaper than one per symbol
/// (Binance: 80 weight against 6 each).
const ALL_SYMBOLS_FROM: usize = 14;

/// One venue's reconciliation runs: at most one at a time; requests while one runs either
/// join it (a caller waiting for a reconciled state) or ask for another run after it (an event
/// such as a reconnect, whose cause the running one may have read past).
#[derive(Default)]
pub(super) struct Runs {
    running: bool,
    rerun: bool,
    replies: Vec<oneshot::Sender<ReconcileReport>>,
}

impl Oms {
    /// Reconciles a venue: `reply` (a caller) joins a run under way; without it (an event), a
    /// run under way is followed by another.
    pub(super) fn start_reconcile(
        &mut self,
        venue: &str,
        reply: Option<oneshot::Sender<ReconcileReport>>,
    ) {
        let Some(v) = self.venues.get(venue).cloned() else {
            if let Some(reply) = reply {
                let _ = reply.send(ReconcileReport::default());
            }
            return;
        };
        let runs = self.runs.entry(venue.to_string()).or_default();
        let event = reply.is_none();
        runs.replies.extend(reply);
        if runs.running {
            runs.rerun |= event;
            return;
        }
        runs.running = true;
        v.begin_reconcile();
        self.spawn_run(&v);
    }

    fn spawn_run(&mut self, venue: &Arc<Venue>) {
        let mut ctx = Ctx {
            venue: venue.clone(),
            store: self.store.clone(),
            cmd_tx: self.cmd_tx.clone(),
            deadline: self.request_timeout,
            acks: Vec::new(),
        };
        let records = self.work.records_of(venue.name());
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            let mut report = ReconcileReport::default();
            let run = async {
                load_balances(&ctx, &mut report).await;
                query_orders(&mut ctx, records, &mut report).await;
                // Adopted orders are stored before the history scans, which read the symbols
                // with stored orders: an adopted order's symbol has its history read too.
                adopt_open(&mut ctx, &mut report).await;
                ctx.settle().await;
                scan_orders(&mut ctx, &mut report).await;
                scan_trades(&mut ctx, &mut report).await;
                ctx.settle().await;
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = run => {}
            }
            let venue = ctx.name().to_string();
            let _ = ctx.send(Command::Reconciled { venue, report }).await;
        });
    }

    pub(super) fn on_reconciled(&mut self, venue: &str, report: ReconcileReport) {
        let Some(v) = self.venues.get(venue).cloned() else {
            return;
        };
        let outcome = if report.failed == 0 {
            "ok"
        } else {
            "incomplete"
        };
        telemetry::reconciliation(venue, report.checked, report.changed, outcome);
        let runs = self.runs.entry(venue.to_string()).or_default();
        let replies: Vec<_> = runs.replies.drain(..).collect();
        if std::mem::take(&mut runs.rerun) {
            // Keep the pause: the next run begins before this one ends.
            v.begin_reconcile();
            self.spawn_run(&v);
        } else {
            runs.running = false;
        }
        v.end_reconcile();
        // No order keeps waiting for an event that will not come: ask about every one.
        let waiting: Vec<i64> = self
            .work
            .iter()
            .filter(|l| l.order.venue == venue && is_waiting(l.order.status))
            .filter(|l| l.resolver.is_none() && l.send_bound_venue_ms.is_some())
            .map(|l| l.order.id)
            .collect();
        for id in waiting {
            super::resolve::spawn_resolve(self, id);
        }
        if !replies.is_empty() {
            self.commit.after(Some(Effect::Reply(Box::new(move || {
                for reply in replies {
                    let _ = reply.send(report);
                }
            }))));
        }
    }
}

/// Polls a venue's live orders while its user stream is down.
pub(super) fn spawn_poller(oms: &Oms, venue: &Arc<Venue>, interval: Duration) {
    let mut ctx = Ctx {
        venue: venue.clone(),
        store: oms.store.clone(),
        cmd_tx: oms.cmd_tx.clone(),
        deadline: oms.request_timeout,
        acks: Vec::new(),
    };
    let shutdown = oms.shutdown.clone();
    oms.tasks.spawn(async move {
        tracing::info!(
            venue = ctx.name(),
            ?interval,
            "user stream down: polling open orders"
        );
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if ctx.venue.user_stream_up() {
                tracing::info!(venue = ctx.name(), "user stream back: polling stops");
                return;
            }
            let (reply, rx) = oneshot::channel();
            let venue = ctx.name().to_string();
            if !ctx.send(Command::Records { venue, reply }).await {
                return;
            }
            let Ok(records) = rx.await else { return };
            let mut report = ReconcileReport::default();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = query_orders(&mut ctx, records, &mut report) => {}
            }
            ctx.acks.clear();
            telemetry::order_poll(ctx.name(), report.checked, report.changed);
        }
    });
}

async fn load_balances(ctx: &Ctx, report: &mut ReconcileReport) {
    match with_deadline(ctx.deadline, ctx.venue.exchange.balances()).await {
        Ok(balances) => {
            let venue = ctx.name().to_string();
            ctx.send(Command::Balances { venue, balances }).await;
        }
        Err(e) => {
            tracing::warn!(venue = ctx.name(), error = %e, "cannot load balances");
            report.failed += 1;
        }
    }
}

/// Sends what the venue says about each live order: the open ones from one open-orders list
/// per symbol (a few weight units, not one query each), the others (closed since, not yet
/// arrived, or only inferred) from a query each.
async fn query_orders(ctx: &mut Ctx, orders: Vec<OrderRecord>, report: &mut ReconcileReport) {
    let exchange = ctx.venue.exchange.clone();
    let mut symbols: Vec<&str> = orders.iter().map(|o| o.venue_symbol.as_str()).collect();
    symbols.sort_unstable();
    symbols.dedup();
    let mut open: HashMap<String, OrderSnapshot> = HashMap::new();
    for symbol in symbols {
        match with_deadline(ctx.deadline, exchange.open_orders(Some(symbol))).await {
            Ok(list) => open.extend(list.into_iter().map(|o| (o.client_order_id.clone(), o))),
            Err(e) => {
                // Without the list every order is queried on its own.
                tracing::warn!(venue = ctx.name(), symbol, error = %e, "cannot list open orders");
            }
        }
    }
    for order in &orders {
        report.checked += 1;
        let answer = match open.remove(&order.client_order_id) {
            Some(snapshot) => Ok(snapshot),
            None => {
                let query = exchange.query_order(&order.venue_symbol, &order.client_order_id);
                with_deadline(ctx.deadline, query).await
            }
        };
        let cmd = match answer {
            Ok(snapshot) => {
                if snapshot.status != order.status
                    || snapshot.filled_quantity != order.filled_quantity
                {
                    report.changed += 1;
                }
                let fills = trades_if_more(ctx, order, &snapshot)
                    .await
                    .unwrap_or_else(|()| {
                        report.failed += 1;
                        Vec::new()
                    });
                let done = ctx.done();
                Command::Observed {
                    order_id: order.id,
                    obs: observation(&snapshot, true),
                    fills,
                    kind: "reconciled",
                    done,
                }
            }
            Err(ExchangeError::NotFound { .. }) => Command::NotFound {
                order_id: order.id,
                venue_ms: exchange.venue_time_ms(),
            },
            Err(e) => {
                tracing::warn!(venue = ctx.name(), order_id = order.id, error = %e, "order not reconciled");
                report.failed += 1;
                continue;
            }
        };
        if !ctx.send(cmd).await {
            return;
        }
    }
}

/// The venue's trades of an order that executed more than we know.
async fn trades_if_more(
    ctx: &Ctx,
    known: &OrderRecord,
    snapshot: &OrderSnapshot,
) -> Result<Vec<Fill>, ()> {
    if snapshot.filled_quantity <= known.filled_quantity {
        return Ok(Vec::new());
    }
    let call = ctx
        .venue
        .exchange
        .order_fills(&snapshot.venue_symbol, &snapshot.venue_order_id);
    with_deadline(ctx.deadline, call).await.map_err(|e| {
        tracing::warn!(venue = ctx.name(), error = %e, "cannot fetch an order's trades");
    })
}

/// The venue's persisted watermarks; `None` (counted as a failure) when they cannot be read.
async fn load_watermarks(ctx: &Ctx, report: &mut ReconcileReport) -> Option<Vec<Watermark>> {
    match ctx.store.watermarks(ctx.name()).await {
        Ok(marks) => Some(marks),
        Err(e) => {
            tracing::error!(venue = ctx.name(), error = %e, "cannot read watermarks");
            report.failed += 1;
            None
        }
    }
}

fn watermark(marks: &[Watermark], symbol: &str, kind: &str) -> Option<String> {
    marks
        .iter()
        .find(|w| w.venue_symbol == symbol && w.kind == kind)
        .map(|w| w.value.clone())
}

/// Moves a watermark once everything read below it is durable.
async fn advance(ctx: &mut Ctx, symbol: &str, kind: &str, value: String) {
    ctx.settle().await;
    let mark = Watermark {
        venue: ctx.name().to_string(),
        venue_symbol: symbol.to_string(),
        kind: kind.to_string(),
        value,
    };
    let done = ctx.done();
    ctx.send(Command::Watermarks {
        marks: vec![mark],
        done,
    })
    .await;
    ctx.settle().await;
}

/// Reads the venue's orders of ours since the `orders` watermark, per symbol.
async fn scan_orders(ctx: &mut Ctx, report: &mut ReconcileReport) {
    let Some(marks) = load_watermarks(ctx, report).await else {
        return;
    };
    let symbols = ctx.history_symbols().await;
    for symbol in symbols {
        let mut from = watermark(&marks, &symbol, ORDERS);
        let start = from
            .is_none()
            .then(|| ctx.venue.exchange.venue_time_ms() - FIRST_LOOKBACK_MS);
        let mut highest: Option<u64> = None;
        loop {
            let call = ctx.venue.exchange.orders_since(
                &symbol,
                from.as_deref(),
                start.filter(|_| from.is_none()),
                PAGE,
            );
            let page = match with_deadline(ctx.deadline, call).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(venue = ctx.name(), symbol, error = %e, "cannot read the venue's orders");
                    report.failed += 1;
                    return;
                }
            };
            let full = page.len() as u32 >= PAGE;
            for snapshot in page {
                if let Ok(id) = snapshot.venue_order_id.parse::<u64>() {
                    highest = Some(highest.map_or(id, |h| h.max(id)));
                }
                if snapshot.client_order_id.starts_with(CLIENT_ID_PREFIX) {
                    apply_venue_order(ctx, snapshot, report).await;
                }
            }
            match highest {
                Some(h) if full => from = Some((h + 1).to_string()),
                _ => break,
            }
        }
        if let Some(h) = highest {
            advance(ctx, &symbol, ORDERS, (h + 1).to_string()).await;
        }
    }
}

/// One order of ours from the venue's order list: corrected if known, adopted if not.
async fn apply_venue_order(ctx: &mut Ctx, snapshot: OrderSnapshot, report: &mut ReconcileReport) {
    let (venue, account) = (ctx.name().to_string(), ctx.venue.config.account.clone());
    let known = ctx
        .store
        .find_order_by_client_id(&venue, &account, &snapshot.client_order_id)
        .await;
    match known {
        Ok(Some(order)) => {
            let same = order.status == snapshot.status
                && order.filled_quantity == snapshot.filled_quantity
                && !order.status_inferred;
            if same {
                return;
            }
            report.changed += 1;
            let fills = trades_if_more(ctx, &order, &snapshot)
                .await
                .unwrap_or_default();
            let done = ctx.done();
            ctx.send(Command::Observed {
                order_id: order.id,
                obs: observation(&snapshot, true),
                fills,
                kind: "reconciled_history",
                done,
            })
            .await;
        }
        Ok(None) => {
            report.changed += 1;
            adopt(ctx, snapshot, report).await;
        }
        Err(e) => {
            tracing::error!(venue, error = %e, "cannot look up a venue order");
            report.failed += 1;
        }
    }
}

async fn adopt(ctx: &mut Ctx, snapshot: OrderSnapshot, report: &mut ReconcileReport) {
    let fills = if snapshot.filled_quantity.is_zero() {
        Vec::new()
    } else {
        let call = ctx
            .venue
            .exchange
            .order_fills(&snapshot.venue_symbol, &snapshot.venue_order_id);
        match with_deadline(ctx.deadline, call).await {
            Ok(fills) => fills,
            Err(e) => {
                tracing::warn!(venue = ctx.name(), error = %e, "cannot fetch an adopted order's trades");
                report.failed += 1;
                return;
            }
        }
    };
    let done = ctx.done();
    let venue = ctx.name().to_string();
    ctx.send(Command::Adopt {
        venue,
        snapshot,
        fills,
        done,
    })
    .await;
}

/// Reads our trades since the `trades` watermark, per symbol, and sends them to their orders.
async fn scan_trades(ctx: &mut Ctx, report: &mut ReconcileReport) {
    let Some(marks) = load_watermarks(ctx, report).await else {
        return;
    };
    let symbols = ctx.history_symbols().await;
    for symbol in symbols {
        let mut after = watermark(&marks, &symbol, TRADES);
        if after.is_none() {
            after = match ctx.store.last_fill(ctx.name(), &symbol).await {
                Ok(last) => last.map(|f| f.trade_id),
                Err(_) => None,
            };
        }
        loop {
            let call = ctx
                .venue
                .exchange
                .fills_since(&symbol, after.as_deref(), PAGE);
            let fills = match with_deadline(ctx.deadline, call).await {
                Ok(fills) => fills,
                Err(e) => {
                    tracing::warn!(venue = ctx.name(), symbol, error = %e, "fills not backfilled");
                    report.failed += 1;
                    break;
                }
            };
            let full = fills.len() as u32 >= PAGE;
            let Some(last) = fills.last().map(|f| f.trade_id.clone()) else {
                break;
            };
            if !route_fills(ctx, &symbol, fills, report).await {
                return;
            }
            advance(ctx, &symbol, TRADES, last.clone()).await;
            after = Some(last);
            if !full {
                break;
            }
        }
    }
}

/// Sends each fill to its stored order; fills no stored order has are kept for adoption.
async fn route_fills(
    ctx: &mut Ctx,
    symbol: &str,
    fills: Vec<Fill>,
    report: &mut ReconcileReport,
) -> bool {
    let venue = ctx.name().to_string();
    let mut by_order: HashMap<i64, Vec<Fill>> = HashMap::new();
    let mut unmatched = Vec::new();
    for fill in fills {
        match ctx
            .store
            .find_order_by_venue_order_id(&venue, symbol, &fill.venue_order_id)
            .await
        {
            Ok(Some(order)) => by_order.entry(order.id).or_default().push(fill),
            Ok(None) => unmatched.push(fill),
            Err(e) => {
                tracing::error!(venue, error = %e, "cannot match a fill");
                report.failed += 1;
                return false;
            }
        }
    }
    for (order_id, fills) in by_order {
        let done = ctx.done();
        if !ctx
            .send(Command::Backfill {
                order_id,
                fills,
                done,
            })
            .await
        {
            return false;
        }
    }
    if !unmatched.is_empty() {
        let done = ctx.done();
        return ctx
            .send(Command::Unmatched {
                venue,
                fills: unmatched,
                done,
            })
            .await;
    }
    true
}

/// Adopts orders open on the venue under our prefix that the store does not know (an order
/// sent by another omsd on the same account, or a store restored from a backup).
async fn adopt_open(ctx: &mut Ctx, report: &mut ReconcileReport) {
    let symbols = ctx.symbols();
    let (venue, account) = (ctx.name().to_string(), ctx.venue.config.account.clone());
    // Per configured symbol, or all at once where that is cheaper.
    let calls: Vec<Option<String>> = if symbols.len() >= ALL_SYMBOLS_FROM {
        vec![None]
    } else {
        symbols.iter().cloned().map(Some).collect()
    };
    for symbol in calls {
        let call = ctx.venue.exchange.open_orders(symbol.as_deref());
        let open = match with_deadline(ctx.deadline, call).await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(venue, error = %e, "cannot list the venue's open orders");
                report.failed += 1;
                return;
            }
        };
        for snapshot in open {
            if !snapshot.client_order_id.starts_with(CLIENT_ID_PREFIX)
                || !symbols.contains(&snapshot.venue_symbol)
            {
                continue;
            }
            match ctx
                .store
                .find_order_by_client_id(&venue, &account, &snapshot.client_order_id)
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => {
                    report.changed += 1;
                    adopt(ctx, snapshot, report).await;
                }
                Err(e) => {
                    tracing::error!(venue, error = %e, "cannot look up a venue order");
                    report.failed += 1;
                }
            }
        }
    }
}
