//! Venue calls made for one order, each in its own tracked task that reports back to the
//! actor: sending it, cancelling it, asking the venue about it until it answers (never
//! guessing, DESIGN invariant 3), fetching its trades; and reading an order from the store for
//! commands that arrived while it was not in memory.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use std::sync::Arc;

use exchange_core::{Exchange, ExchangeError, ExecutionReport, NewOrder, OrderSnapshot, Placement};

use super::actor::{Command, Oms};
use super::apply::observation;
use super::ids::CLIENT_ID_PREFIX;
use crate::telemetry;
use crate::venues::Venue;

pub(super) async fn with_deadline<T>(
    deadline: Duration,
    call: impl Future<Output = Result<T, ExchangeError>>,
) -> Result<T, ExchangeError> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or_else(|_| {
            Err(ExchangeError::unknown(format!(
                "no answer within {deadline:?}"
            )))
        })
}

pub(super) fn spawn_place(oms: &Oms, order_id: i64) {
    let Some(live) = oms.work.get(order_id) else {
        return;
    };
    let Some(venue) = oms.venues.get(&live.order.venue).cloned() else {
        return;
    };
    let o = &live.order;
    let new_order = NewOrder {
        client_order_id: o.client_order_id.clone(),
        venue_symbol: o.venue_symbol.clone(),
        side: o.side,
        order_type: o.order_type,
        time_in_force: o.time_in_force,
        quantity: o.quantity,
        price: o.price,
    };
    let (cmd_tx, deadline) = (oms.cmd_tx.clone(), oms.request_timeout);
    oms.tasks.spawn(async move {
        let started = std::time::Instant::now();
        let exchange = venue.exchange.clone();
        let placement =
            match tokio::time::timeout(deadline, exchange.submit_order(&new_order)).await {
                Ok(placement) => placement,
                Err(_) => Placement {
                    result: Err(ExchangeError::unknown(format!(
                        "no answer within {deadline:?}"
                    ))),
                    signed_timestamp_ms: None,
                },
            };
        let outcome = match &placement.result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        telemetry::order_sent(venue.name(), started.elapsed(), outcome);
        // Whatever was sent was signed before now.
        let bound_venue_ms = exchange.venue_time_ms();
        let _ = cmd_tx
            .send(Command::Placed {
                order_id,
                placement,
                bound_venue_ms,
            })
            .await;
    });
}

pub(super) fn spawn_cancel(oms: &Oms, order_id: i64) {
    spawn_order_call(
        oms,
        order_id,
        |exchange, symbol, client_order_id| async move {
            exchange.cancel_order(&symbol, &client_order_id).await
        },
        |order_id, result| Command::CancelAnswered { order_id, result },
    );
}

pub(super) fn spawn_amend(oms: &Oms, order_id: i64, quantity: rust_decimal::Decimal) {
    spawn_order_call(
        oms,
        order_id,
        move |exchange, symbol, client_order_id| async move {
            exchange
                .amend_order(&symbol, &client_order_id, quantity)
                .await
        },
        |order_id, result| Command::AmendAnswered { order_id, result },
    );
}

/// Runs one venue call about a live order (given its venue symbol and client order id) under
/// the request deadline, and reports the answer to the actor as `answer` builds it.
fn spawn_order_call<F, Fut>(
    oms: &Oms,
    order_id: i64,
    call: F,
    answer: fn(i64, Result<OrderSnapshot, ExchangeError>) -> Command,
) where
    F: FnOnce(Arc<dyn Exchange>, String, String) -> Fut + Send + 'static,
    Fut: Future<Output = Result<OrderSnapshot, ExchangeError>> + Send,
{
    let Some(live) = oms.work.get(order_id) else {
        return;
    };
    let Some(venue) = oms.venues.get(&live.order.venue).cloned() else {
        return;
    };
    let (cmd_tx, deadline) = (oms.cmd_tx.clone(), oms.request_timeout);
    let (symbol, client_order_id) = (
        live.order.venue_symbol.clone(),
        live.order.client_order_id.clone(),
    );
    oms.tasks.spawn(async move {
        let call = call(venue.exchange.clone(), symbol, client_order_id);
        let result = with_deadline(deadline, call).await;
        let _ = cmd_tx.send(answer(order_id, result)).await;
    });
}

/// Asks the venue about an order until it is found (or the actor stops the task: the order
/// was settled otherwise). Each "not found" is reported with the venue time it was given at;
/// the actor decides whether that proves the order was never accepted.
pub(super) fn spawn_resolve(oms: &mut Oms, order_id: i64) {
    let Some(live) = oms.work.get_mut(order_id) else {
        return;
    };
    if live.resolver.is_some() {
        return;
    }
    let Some(venue) = oms.venues.get(&live.order.venue).cloned() else {
        return;
    };
    let stop = oms.shutdown.child_token();
    live.resolver = Some(stop.clone());
    let order = live.order.clone();
    let (cmd_tx, deadline) = (oms.cmd_tx.clone(), oms.request_timeout);
    oms.tasks.spawn(async move {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            // An order waiting for the venue's word blocks nobody but is watched closely: a
            // query costs little weight and settles it within a second of the venue knowing.
            .with_max_delay(Duration::from_secs(1))
            .with_jitter()
            .without_max_times()
            .build();
        let exchange = venue.exchange.as_ref();
        loop {
            let query = with_deadline(
                deadline,
                exchange.query_order(&order.venue_symbol, &order.client_order_id),
            );
            let answer = tokio::select! {
                () = stop.cancelled() => break,
                answer = query => answer,
            };
            match answer {
                Ok(snapshot) => {
                    let fills = if snapshot.filled_quantity > order.filled_quantity {
                        let call =
                            exchange.order_fills(&order.venue_symbol, &snapshot.venue_order_id);
                        with_deadline(deadline, call).await.unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    telemetry::unknown_resolved(venue.name(), order.id, "found");
                    let cmd = Command::Observed {
                        order_id,
                        obs: observation(&snapshot, true),
                        fills,
                        kind: "resolved",
                        done: None,
                    };
                    let _ = cmd_tx.send(cmd).await;
                    break;
                }
                Err(ExchangeError::NotFound { .. }) => {
                    let venue_ms = exchange.venue_time_ms();
                    let _ = cmd_tx.send(Command::NotFound { order_id, venue_ms }).await;
                }
                Err(e) => {
                    tracing::debug!(order_id, error = %e, "order query failed; retrying");
                }
            }
            let delay = delays.next().unwrap_or(Duration::from_secs(1));
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        let _ = cmd_tx.send(Command::ResolveEnded { order_id }).await;
    });
}

/// Fetches every trade of an order whose fills do not add up to its filled quantity.
pub(super) fn spawn_fetch_fills(oms: &mut Oms, order_id: i64) {
    let Some(live) = oms.work.get_mut(order_id) else {
        return;
    };
    let (Some(venue), Some(venue_order_id)) = (
        oms.venues.get(&live.order.venue).cloned(),
        live.order.venue_order_id.clone(),
    ) else {
        return;
    };
    live.fetching_fills = true;
    let symbol = live.order.venue_symbol.clone();
    let (cmd_tx, deadline) = (oms.cmd_tx.clone(), oms.request_timeout);
    oms.tasks.spawn(async move {
        let call = venue.exchange.order_fills(&symbol, &venue_order_id);
        match with_deadline(deadline, call).await {
            Ok(fills) => {
                let cmd = Command::Backfill {
                    order_id,
                    fills,
                    done: None,
                };
                let _ = cmd_tx.send(cmd).await;
            }
            Err(e) => tracing::warn!(order_id, error = %e, "cannot fetch an order's trades"),
        }
        let _ = cmd_tx.send(Command::FillsFetchEnded { order_id }).await;
    });
}

/// Reads an order and its fills from the store (after `delay`) for parked commands.
pub(super) fn spawn_load(oms: &Oms, order_id: i64, delay: Duration) {
    let (store, cmd_tx) = (oms.store.clone(), oms.cmd_tx.clone());
    oms.tasks.spawn(async move {
        tokio::time::sleep(delay).await;
        let loaded = match store.get_order(order_id).await {
            Ok(Some(order)) => store
                .fills_for_order(order_id)
                .await
                .map(|fills| Some((order, fills))),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        let _ = cmd_tx.send(Command::Loaded { order_id, loaded }).await;
    });
}

/// An execution report for an order not in memory: read it from the store and apply the
/// report; an order of ours the store does not know is adopted from the venue.
pub(super) fn spawn_report_lookup(
    oms: &Oms,
    venue: &std::sync::Arc<Venue>,
    report: ExecutionReport,
) {
    let (store, cmd_tx, deadline) = (oms.store.clone(), oms.cmd_tx.clone(), oms.request_timeout);
    let venue = venue.clone();
    oms.tasks.spawn(async move {
        let name = venue.name().to_string();
        let account = venue.config.account.clone();
        let found = store
            .find_order_by_client_id(&name, &account, &report.client_order_id)
            .await;
        match found {
            Ok(Some(order)) => {
                let order_id = order.id;
                let loaded = store
                    .fills_for_order(order_id)
                    .await
                    .map(|fills| Some((order, fills)));
                let _ = cmd_tx.send(Command::Loaded { order_id, loaded }).await;
                let event = exchange_core::UserEvent::Execution(report);
                let _ = cmd_tx.send(Command::User { venue: name, event }).await;
            }
            Ok(None) if report.client_order_id.starts_with(CLIENT_ID_PREFIX) => {
                adopt_from_venue(venue.exchange.as_ref(), &name, &report, deadline, &cmd_tx).await;
            }
            Ok(None) => telemetry::execution_report(&name, "foreign_order"),
            Err(e) => {
                tracing::warn!(venue = %name, error = %e, "cannot look up an order for a report; reconciling");
                let _ = cmd_tx.send(Command::Reconcile { venue: name, reply: None }).await;
            }
        }
    });
}

async fn adopt_from_venue(
    exchange: &dyn Exchange,
    venue: &str,
    report: &ExecutionReport,
    deadline: Duration,
    cmd_tx: &tokio::sync::mpsc::Sender<Command>,
) {
    let query = exchange.query_order(&report.venue_symbol, &report.client_order_id);
    let Ok(snapshot) = with_deadline(deadline, query).await else {
        let _ = cmd_tx
            .send(Command::Reconcile {
                venue: venue.to_string(),
                reply: None,
            })
            .await;
        return;
    };
    let fills = if snapshot.filled_quantity.is_zero() {
        Vec::new()
    } else {
        let call = exchange.order_fills(&snapshot.venue_symbol, &snapshot.venue_order_id);
        with_deadline(deadline, call).await.unwrap_or_default()
    };
    let cmd = Command::Adopt {
        venue: venue.to_string(),
        snapshot,
        fills,
        done: None,
    };
    let _ = cmd_tx.send(cmd).await;
}
