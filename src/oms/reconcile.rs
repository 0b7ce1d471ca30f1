//! Reconciliation: making local order state equal the venue's truth.
//!
//! A full run (on start and after every user-stream reconnect) pauses the venue's new
//! submissions, queries every non-terminal local order (status, and the fills of orders that
//! executed more than we know), adopts orders the venue has open under our client-id prefix
//! that we do not know, and resumes. While the user stream is down a poller queries the open
//! orders every `poll_interval`, so fills are never later than that.

use std::sync::Arc;
use std::time::Duration;

use exchange_core::OrderStatus;
use tokio::sync::{mpsc, oneshot};

use super::actor::Oms;
use super::ids::CLIENT_ID_PREFIX;
use super::resolve::{Lookup, lookup, observed, with_deadline};
use super::{Command, ReconcileReport};
use crate::store::Store;
use crate::telemetry;
use crate::venues::Venue;

/// What a reconciliation task needs: the venue, the store, the way back to the actor, and the
/// deadline of one venue call.
struct Ctx {
    venue: Arc<Venue>,
    store: Arc<dyn Store>,
    cmd_tx: mpsc::Sender<Command>,
    deadline: Duration,
}

impl Ctx {
    fn new(oms: &Oms, venue: &Arc<Venue>) -> Ctx {
        Ctx {
            venue: venue.clone(),
            store: oms.store.clone(),
            cmd_tx: oms.cmd_tx.clone(),
            deadline: oms.request_timeout,
        }
    }
}

/// Runs a full reconciliation of a venue and reports it with `Command::Reconciled`.
pub(super) fn spawn_reconcile(
    oms: &Oms,
    venue: &Arc<Venue>,
    reply: Option<oneshot::Sender<ReconcileReport>>,
) {
    let (ctx, shutdown) = (Ctx::new(oms, venue), oms.shutdown.clone());
    oms.tasks.spawn(async move {
        let mut report = ReconcileReport::default();
        let run = async {
            reconcile_orders(&ctx, &mut report).await;
            backfill_fills(&ctx, &mut report).await;
            adopt_unknown(&ctx, &mut report).await;
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = run => {}
        }
        let venue = ctx.venue.name().to_string();
        let reconciled = Command::Reconciled {
            venue,
            report,
            reply,
        };
        let _ = ctx.cmd_tx.send(reconciled).await;
    });
}

/// Polls a venue's open orders while its user stream is down.
pub(super) fn spawn_poller(oms: &Oms, venue: &Arc<Venue>, interval: Duration) {
    let (ctx, shutdown) = (Ctx::new(oms, venue), oms.shutdown.clone());
    oms.tasks.spawn(async move {
        let venue = &ctx.venue;
        tracing::info!(
            venue = venue.name(),
            ?interval,
            "user stream down: polling open orders"
        );
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if venue.user_stream_up() {
                tracing::info!(venue = venue.name(), "user stream back: polling stops");
                return;
            }
            let mut report = ReconcileReport::default();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = reconcile_orders(&ctx, &mut report) => {}
            }
            telemetry::order_poll(venue.name(), report.checked, report.changed);
        }
    });
}

/// Queries every non-terminal local order of the venue and sends what the venue says.
async fn reconcile_orders(ctx: &Ctx, report: &mut ReconcileReport) {
    let (venue, store, cmd_tx, deadline) = (
        ctx.venue.as_ref(),
        ctx.store.as_ref(),
        &ctx.cmd_tx,
        ctx.deadline,
    );
    let orders = match store.open_orders(venue.name()).await {
        Ok(orders) => orders,
        Err(e) => {
            tracing::error!(venue = venue.name(), error = %e, "cannot read open orders to reconcile");
            report.failed += 1;
            return;
        }
    };
    for order in orders {
        report.checked += 1;
        let cmd = match lookup(venue.exchange.as_ref(), venue, &order, deadline).await {
            Ok(Lookup::Found(snapshot, fills)) => {
                if snapshot.status != order.status
                    || snapshot.filled_quantity != order.filled_quantity
                {
                    report.changed += 1;
                }
                observed(order.id, &snapshot, fills, "reconciled")
            }
            Ok(Lookup::NeverAccepted) => {
                report.changed += 1;
                Command::NotOnVenue { order_id: order.id }
            }
            Ok(Lookup::NotYet) => continue,
            Err(e) => {
                tracing::warn!(venue = venue.name(), order_id = order.id, error = %e, "order not reconciled");
                report.failed += 1;
                continue;
            }
        };
        if order.status == OrderStatus::Unknown {
            telemetry::unknown_resolved(venue.name(), order.id, "reconciled");
        }
        if cmd_tx.send(cmd).await.is_err() {
            return;
        }
    }
}

/// Most fills one backfill asks the venue for, per symbol.
const BACKFILL_LIMIT: u32 = 1000;

/// Fetches the venue's fills newer than the newest stored one, per symbol, and sends those of
/// our orders to the actor (which stores each fill once).
async fn backfill_fills(ctx: &Ctx, report: &mut ReconcileReport) {
    let (venue, store, cmd_tx, deadline) = (
        ctx.venue.as_ref(),
        ctx.store.as_ref(),
        &ctx.cmd_tx,
        ctx.deadline,
    );
    for instrument in venue.instruments.values() {
        let symbol = &instrument.venue_symbol;
        let after = match store.last_fill(venue.name(), symbol).await {
            Ok(last) => last.map(|f| f.trade_id),
            Err(e) => {
                tracing::error!(venue = venue.name(), error = %e, "cannot read the last fill");
                report.failed += 1;
                continue;
            }
        };
        let call = venue
            .exchange
            .fills_since(symbol, after.as_deref(), BACKFILL_LIMIT);
        let fills = match with_deadline(deadline, call).await {
            Ok(fills) => fills,
            Err(e) => {
                tracing::warn!(venue = venue.name(), symbol, error = %e, "fills not backfilled");
                report.failed += 1;
                continue;
            }
        };
        let mut by_order: Vec<(i64, Vec<exchange_core::Fill>)> = Vec::new();
        for fill in fills {
            let order = store
                .find_order_by_venue_order_id(venue.name(), symbol, &fill.venue_order_id)
                .await;
            match order {
                Ok(Some(order)) => match by_order.iter_mut().find(|(id, _)| *id == order.id) {
                    Some((_, fills)) => fills.push(fill),
                    None => by_order.push((order.id, vec![fill])),
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(venue = venue.name(), error = %e, "cannot match a fill");
                    report.failed += 1;
                }
            }
        }
        for (order_id, fills) in by_order {
            if cmd_tx
                .send(Command::Backfill { order_id, fills })
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Adopts orders open on the venue (on the configured symbols) under our client-id prefix that
/// the store does not know
/// (an order sent by another omsd on the same account, or a store restored from a backup).
async fn adopt_unknown(ctx: &Ctx, report: &mut ReconcileReport) {
    let (venue, store, cmd_tx, deadline) = (
        ctx.venue.as_ref(),
        ctx.store.as_ref(),
        &ctx.cmd_tx,
        ctx.deadline,
    );
    // Per configured symbol: on Binance the all-symbol call costs 80 weight, one symbol 6.
    let mut open = Vec::new();
    for instrument in venue.instruments.values() {
        let call = venue.exchange.open_orders(Some(&instrument.venue_symbol));
        match with_deadline(deadline, call).await {
            Ok(orders) => open.extend(orders),
            Err(e) => {
                tracing::warn!(venue = venue.name(), error = %e, "cannot list the venue's open orders");
                report.failed += 1;
                return;
            }
        }
    }
    for snapshot in open {
        if !snapshot.client_order_id.starts_with(CLIENT_ID_PREFIX) {
            continue;
        }
        let known = store
            .find_order_by_client_id(
                venue.name(),
                &venue.config.account,
                &snapshot.client_order_id,
            )
            .await;
        match known {
            Ok(Some(_)) => {}
            Ok(None) => {
                report.changed += 1;
                let fills = if snapshot.filled_quantity.is_zero() {
                    Vec::new()
                } else {
                    let call = venue
                        .exchange
                        .order_fills(&snapshot.venue_symbol, &snapshot.venue_order_id);
                    match with_deadline(deadline, call).await {
                        Ok(fills) => fills,
                        Err(e) => {
                            tracing::warn!(venue = venue.name(), error = %e, "cannot fetch an adopted order's fills");
                            report.failed += 1;
                            continue;
                        }
                    }
                };
                let cmd = Command::Adopt {
                    venue: venue.name().to_string(),
                    snapshot,
                    fills,
                };
                if cmd_tx.send(cmd).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(venue = venue.name(), error = %e, "cannot look up a venue order");
                report.failed += 1;
            }
        }
    }
}
